# Test registration. Every test runs under CTest:
#   tests/unit/test_<module>.c         pure unit tests, one binary per module
#   tests/integration/test_<name>.c    C tests that need redis-server and fakeaws
#   tests/fakeaws/tests/test_*.py      the emulator's own strictness tests
#   tests/e2e/test_*.py                end to end: real xacctd/xacct processes
# tests/support/with_env starts redis-server and fakeaws on free ports, runs
# the test, and stops them by pid on every exit path.

set(XACCT_TEST_ENV
  "XACCT_TESTDATA=${XACCT_SHARED_DIR}/testdata"
  "XACCT_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "XACCT_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "XACCT_PYTHON=${XACCT_PYTHON}"
  "XACCT_REDIS_SERVER=${XACCT_REDIS_SERVER}"
  "XACCT_REDIS_SENTINEL=${XACCT_REDIS_SENTINEL}"
  "PYTHONDONTWRITEBYTECODE=1")
# With XACCT_DEV_TESTS set, only those test basenames are registered.
function(xacct_dev_filter out_var)
  set(_kept "")
  foreach(f ${${out_var}})
    get_filename_component(_base ${f} NAME_WE)
    if(NOT XACCT_DEV_TESTS OR _base IN_LIST XACCT_DEV_TESTS)
      list(APPEND _kept ${f})
    endif()
  endforeach()
  set(${out_var} ${_kept} PARENT_SCOPE)
endfunction()

set(XACCT_WITH_ENV ${XACCT_PYTHON} ${CMAKE_SOURCE_DIR}/tests/support/with_env.py)

file(GLOB XACCT_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
xacct_dev_filter(XACCT_UNIT_TESTS)
foreach(src ${XACCT_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support)
  target_link_libraries(${name} PRIVATE xacct_core_test PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES ENVIRONMENT "${XACCT_TEST_ENV}" TIMEOUT 300)
endforeach()

file(GLOB XACCT_INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.c)
xacct_dev_filter(XACCT_INTEGRATION_TESTS)
foreach(src ${XACCT_INTEGRATION_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/support)
  target_link_libraries(${name} PRIVATE xacct_core_test PkgConfig::CMOCKA)
  add_test(NAME integration.${name} COMMAND ${XACCT_WITH_ENV} -- $<TARGET_FILE:${name}>)
  set_tests_properties(integration.${name} PROPERTIES ENVIRONMENT "${XACCT_TEST_ENV}" TIMEOUT 600)
endforeach()

file(GLOB XACCT_FAKEAWS_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fakeaws/tests/test_*.py)
xacct_dev_filter(XACCT_FAKEAWS_TESTS)
foreach(src ${XACCT_FAKEAWS_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME fakeaws.${name}
           COMMAND ${XACCT_PYTHON} -m unittest -v tests.${name}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/fakeaws)
  set_tests_properties(fakeaws.${name} PROPERTIES ENVIRONMENT "${XACCT_TEST_ENV}" TIMEOUT 600)
endforeach()

file(GLOB XACCT_E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/e2e/test_*.py)
xacct_dev_filter(XACCT_E2E_TESTS)
foreach(src ${XACCT_E2E_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME e2e.${name}
           COMMAND ${XACCT_PYTHON} -m unittest -v ${name}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/e2e)
  set_tests_properties(e2e.${name} PROPERTIES ENVIRONMENT "${XACCT_TEST_ENV}" TIMEOUT 900)
endforeach()

# Every Python file of the project (emulator, tests, scripts) passes
# pyflakes: no undefined or unused names, no f-strings without fields.
find_program(XACCT_PYFLAKES pyflakes3 REQUIRED)
file(GLOB_RECURSE XACCT_PYTHON_FILES CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/scripts/*.py ${CMAKE_SOURCE_DIR}/tests/*.py)
add_test(NAME lint.pyflakes COMMAND ${XACCT_PYFLAKES} ${XACCT_PYTHON_FILES})

# The Debian package, built by scripts/package and unpacked into a
# throwaway root.
add_test(NAME package.test_deb
         COMMAND ${XACCT_PYTHON} -m unittest -v test_deb
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/package)
set_tests_properties(package.test_deb PROPERTIES ENVIRONMENT "${XACCT_TEST_ENV}" TIMEOUT 1800)

# Alert rules (promtool from Debian's prometheus) and the Grafana dashboard.
add_test(NAME deploy.test_monitoring
         COMMAND ${XACCT_PYTHON} -m unittest -v test_monitoring
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/deploy)
set_tests_properties(deploy.test_monitoring PROPERTIES ENVIRONMENT "${XACCT_TEST_ENV}" TIMEOUT 300)
