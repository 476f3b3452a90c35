# agenthost_add_test(<name> SOURCES <src>... LABELS <label>... [LIBRARIES <lib>...]
#                    [TIMEOUT <s>] [ENVIRONMENT <k=v>...])
# One GoogleTest executable registered as one CTest test with the given labels.
# Labels in use: unit integration postgres redis nginx e2e fault fuzz.
# In the sanitizer tree (AGENTHOST_UNIT_ONLY) only `unit` tests are built.
function(agenthost_add_test name)
  if(NOT AGENTHOST_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(arg "" "TIMEOUT" "SOURCES;LABELS;LIBRARIES;ENVIRONMENT" ${ARGN})
  if(AGENTHOST_UNIT_ONLY AND NOT "unit" IN_LIST arg_LABELS)
    return()
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main ${arg_LIBRARIES})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT}
    ENVIRONMENT "AGENTHOST_SOURCE_DIR=${CMAKE_SOURCE_DIR};AGENTHOST_BINARY_DIR=${CMAKE_BINARY_DIR};AGENTHOST_BIN=${CMAKE_BINARY_DIR}/bin/agenthost;AGENTHOST_PLUGIN_DIR=${CMAKE_BINARY_DIR}/plugins;${arg_ENVIRONMENT}")
endfunction()
