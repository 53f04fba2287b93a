# libFuzzer targets in the test suite. When clang-14 (or the XACCT_FUZZ_CC
# given) can link -fsanitize=fuzzer,address,undefined, fuzz/ is built as a
# sub-project with it (the main build may use gcc) and CTest runs every
# target over its committed corpus, then for XACCT_FUZZ_SECONDS on new
# inputs: fuzz.<target>. A crash input copied into fuzz/corpus/<target>/
# stays a regression test.
set(XACCT_FUZZ "AUTO" CACHE STRING
    "fuzz targets in the suite: AUTO (when clang with libFuzzer is found), ON, OFF")
set(XACCT_FUZZ_SECONDS 10 CACHE STRING "seconds each fuzz target runs in the suite after its corpus")
set(XACCT_FUZZ_CC "" CACHE FILEPATH "clang for the fuzz build (default: clang-14, then clang)")

include(${CMAKE_SOURCE_DIR}/fuzz/targets.cmake)

set(_fuzz_ok FALSE)
if(NOT XACCT_FUZZ STREQUAL "OFF" AND NOT XACCT_DEV_SOURCES)
  if(NOT XACCT_FUZZ_CC)
    find_program(_fuzz_cc NAMES clang-14 clang)
    if(_fuzz_cc)
      set(XACCT_FUZZ_CC ${_fuzz_cc} CACHE FILEPATH "" FORCE)
    endif()
  endif()
  if(XACCT_FUZZ_CC)
    # libFuzzer comes with compiler-rt (Debian: libclang-rt-14-dev).
    set(_probe ${CMAKE_BINARY_DIR}/CMakeFiles/fuzz_probe.c)
    file(WRITE ${_probe}
         "#include <stddef.h>\n#include <stdint.h>\n"
         "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
    execute_process(COMMAND ${XACCT_FUZZ_CC} -fsanitize=fuzzer,address,undefined ${_probe}
                            -o ${CMAKE_BINARY_DIR}/CMakeFiles/fuzz_probe
                    RESULT_VARIABLE _probe_rc OUTPUT_QUIET ERROR_QUIET)
    if(_probe_rc EQUAL 0)
      set(_fuzz_ok TRUE)
    endif()
  endif()
  if(NOT _fuzz_ok AND XACCT_FUZZ STREQUAL "ON")
    message(FATAL_ERROR "XACCT_FUZZ=ON but no clang with libFuzzer (install clang-14 libclang-rt-14-dev)")
  endif()
endif()

if(_fuzz_ok)
  message(STATUS "fuzz targets: built with ${XACCT_FUZZ_CC}, ${XACCT_FUZZ_SECONDS} s each in the suite")
  include(ExternalProject)
  ExternalProject_Add(xacct_fuzz
    SOURCE_DIR ${CMAKE_SOURCE_DIR}/fuzz
    BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
    CMAKE_ARGS -DCMAKE_C_COMPILER=${XACCT_FUZZ_CC} -DCMAKE_BUILD_TYPE=Debug
    INSTALL_COMMAND ""
    BUILD_ALWAYS ON)
  foreach(t ${XACCT_FUZZ_TARGETS})
    add_test(NAME fuzz.${t}
             COMMAND ${CMAKE_SOURCE_DIR}/fuzz/run.sh ${CMAKE_BINARY_DIR}/fuzz/fuzz_${t}
                     ${CMAKE_SOURCE_DIR}/fuzz/corpus/${t} ${XACCT_FUZZ_SECONDS}
                     ${CMAKE_BINARY_DIR}/fuzz-artifacts/${t})
    math(EXPR _timeout "${XACCT_FUZZ_SECONDS} + 300")
    set_tests_properties(fuzz.${t} PROPERTIES TIMEOUT ${_timeout} LABELS fuzz)
  endforeach()
else()
  message(STATUS "fuzz targets: off (no clang with libFuzzer; scripts/setup installs one)")
endif()
