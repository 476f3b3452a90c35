# Install layout and the Debian package (`cpack -G DEB` in a build tree).
#
#   bin/agenthost                               the one binary (both roles)
#   lib/agenthost/plugins/agenthost_<name>.so   plugins
#   include/agenthost/, lib/cmake/AgentHostSDK/ the plugin SDK (sdk/CMakeLists.txt)
#   share/agenthost/configs/                    example configs (dev, staging, production)
#   share/agenthost/deploy/                     nginx, redis, pki and rotation scripts,
#                                               install-service.sh
#   lib/systemd/system/agenthost-*.service      units for the package (ExecStart: /usr/bin/agenthost)
#
# Installed configs find the plugins through `plugin_paths: [ ${exe_dir}/../lib/agenthost/plugins ]`.
include(GNUInstallDirs)

install(TARGETS agenthost RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# Plugin modules: installed by agenthost_add_plugin() into AGENTHOST_PLUGIN_INSTALL_DIR.

install(DIRECTORY configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/agenthost/configs
  COMPONENT runtime FILES_MATCHING PATTERN "*.yaml")
install(DIRECTORY deploy/ DESTINATION ${CMAKE_INSTALL_DATADIR}/agenthost/deploy
  COMPONENT runtime USE_SOURCE_PERMISSIONS
)
# The units in deploy/systemd run /opt/agenthost/current/bin/agenthost (the layout of
# install-service.sh, which installs them itself from share/agenthost/deploy). The
# copies in lib/systemd/system, used by the Debian package, run the packaged binary.
# The package installs under /usr (CPACK_PACKAGING_INSTALL_PREFIX below).
set(AGENTHOST_PACKAGED_BIN /usr/${CMAKE_INSTALL_BINDIR}/agenthost)
file(GLOB agenthost_units CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/deploy/systemd/*.service)
foreach(unit IN LISTS agenthost_units)
  get_filename_component(unit_name ${unit} NAME)
  file(READ ${unit} unit_text)
  string(REPLACE "/opt/agenthost/current/bin/agenthost" "${AGENTHOST_PACKAGED_BIN}"
    unit_text "${unit_text}")
  file(WRITE ${CMAKE_BINARY_DIR}/packaged-units/${unit_name} "${unit_text}")
  install(FILES ${CMAKE_BINARY_DIR}/packaged-units/${unit_name}
    DESTINATION lib/systemd/system COMPONENT runtime)
endforeach()
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime
  FILES_MATCHING PATTERN "*.md")

set(CPACK_PACKAGE_NAME agenthost)
set(CPACK_PACKAGE_VENDOR "ViWorkS")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "agenthost: control plane of the ViWorkS agent system (backend and gateway roles)")
set(CPACK_PACKAGE_CONTACT "agenthost maintainers <agenthost@viworks.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Runtime library dependencies computed from the binaries by dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nginx-light, libnginx-mod-stream")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-15, redis-server")
set(CPACK_GENERATOR DEB)
include(CPack)
