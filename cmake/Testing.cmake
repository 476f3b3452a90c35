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
    ENVIRONMENT "AGENTHOST_SOURCE_DIR=${CMAKE_SOURCE_DIR};AGENTHOST_BINARY_DIR=${CMAKE_BINARY_DIR};AGENTHOST_BIN=${CMAKE_BINARY_DIR}/bin/agenthost;AGENTHOST_PLUGIN_DIR=${CMAKE_BINARY_DIR}/plugins;AGENTHOST_TEST_SERVICES_DIR=${AGENTHOST_TEST_SERVICES_DIR};${arg_ENVIRONMENT}")
  # Tests labelled postgres/redis share one server each, started once per ctest run
  # by a fixture (see agenthost_test_services below).
  set(fixtures "")
  foreach(svc postgres redis)
    if("${svc}" IN_LIST arg_LABELS)
      list(APPEND fixtures service_${svc})
    endif()
  endforeach()
  if(fixtures)
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED "${fixtures}")
  endif()
endfunction()

# The shared PostgreSQL 15 and Redis 7 of a ctest run: a setup test starts each on a
# free loopback port (scripts/test-services.sh, data under /tmp) and writes its URL to
# ${AGENTHOST_TEST_SERVICES_DIR}/<service>/url; a cleanup test removes it after the
# last test that needs it. ctest adds both whenever a selected test requires them.
set(AGENTHOST_TEST_SERVICES_DIR ${CMAKE_BINARY_DIR}/test-services)
function(agenthost_test_services)
  if(NOT AGENTHOST_BUILD_TESTS OR AGENTHOST_UNIT_ONLY)
    return()
  endif()
  set(script ${CMAKE_SOURCE_DIR}/scripts/test-services.sh)
  foreach(svc postgres redis)
    set(dir ${AGENTHOST_TEST_SERVICES_DIR}/${svc})
    add_test(NAME service_${svc}_start
      COMMAND bash -c "bash '${script}' destroy ${svc} '${dir}' && bash '${script}' start ${svc} '${dir}'")
    add_test(NAME service_${svc}_stop COMMAND bash ${script} destroy ${svc} ${dir})
    set_tests_properties(service_${svc}_start PROPERTIES FIXTURES_SETUP service_${svc}
      LABELS "${svc}" TIMEOUT 120)
    set_tests_properties(service_${svc}_stop PROPERTIES FIXTURES_CLEANUP service_${svc}
      LABELS "${svc}" TIMEOUT 120)
  endforeach()
endfunction()
