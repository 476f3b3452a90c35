# agenthost_add_plugin(<name> SOURCES <src>... [LIBRARIES <lib>...] [OUTPUT_DIRECTORY <dir>])
#
# Builds a loadable plugin module named agenthost_<name>.so against AgentHost::sdk,
# with hidden visibility so that only the ABI tag and the entry alias are exported.
# Works in-tree and from the installed package alike.
function(agenthost_add_plugin name)
  cmake_parse_arguments(arg "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "agenthost_add_plugin(${name}): SOURCES is required")
  endif()
  set(target agenthost_${name})
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE AgentHost::sdk ${arg_LIBRARIES})
  target_compile_features(${target} PRIVATE cxx_std_20)
  set(out ${arg_OUTPUT_DIRECTORY})
  if(NOT out AND DEFINED AGENTHOST_PLUGIN_OUTPUT_DIR)
    set(out ${AGENTHOST_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT out)
    set(out ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME agenthost_${name}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${out})
  # In the agenthost tree, product plugins (default output directory) are installed
  # next to the binary's lib/agenthost/plugins; test plugins choose their own
  # OUTPUT_DIRECTORY and are not installed.
  if(DEFINED AGENTHOST_PLUGIN_INSTALL_DIR AND NOT arg_OUTPUT_DIRECTORY)
    install(TARGETS ${target} LIBRARY DESTINATION ${AGENTHOST_PLUGIN_INSTALL_DIR}
      COMPONENT runtime)
  endif()
endfunction()
