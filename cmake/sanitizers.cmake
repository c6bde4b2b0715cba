# Sanitizer and fuzzing builds (scripts/sanitize.sh, scripts/fuzz.sh).
#
#   -DINGESTLAB_SANITIZE=address,undefined   ASan + UBSan; every UBSan finding aborts the process
#   -DINGESTLAB_SANITIZE=thread              TSan
#   -DINGESTLAB_FUZZ=ON                      the libFuzzer targets of tests/fuzz/ (clang only):
#                                            all code gets coverage instrumentation
#                                            (-fsanitize=fuzzer-no-link), the fuzz executables
#                                            link libFuzzer (-fsanitize=fuzzer)
#
# One clang build with both address,undefined and INGESTLAB_FUZZ=ON serves the ASan tests and
# the fuzz targets, so CI compiles once for both. Sanitized code is built with -O1 and line
# tables only: fast enough to run the tests, quick to compile, and stack traces keep file:line.
set(INGESTLAB_SANITIZE "" CACHE STRING
    "Sanitizers to build with: address,undefined | thread | empty for none")
set_property(CACHE INGESTLAB_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")
option(INGESTLAB_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(INGESTLAB_SANITIZE OR INGESTLAB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "INGESTLAB_SANITIZE / INGESTLAB_FUZZ need clang "
                        "(configure with -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)")
  endif()
  # After the build type's own flags on the command line, so these win.
  add_compile_options(-O1 -gline-tables-only -fno-omit-frame-pointer)
  # -Wshadow=local is gcc's; clang would warn about the unknown option on every file.
  list(REMOVE_ITEM INGESTLAB_WARNINGS -Wshadow=local)
endif()

if(INGESTLAB_SANITIZE STREQUAL "address,undefined")
  set(ingestlab_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined)
elseif(INGESTLAB_SANITIZE STREQUAL "thread")
  set(ingestlab_sanitize_flags -fsanitize=thread)
elseif(INGESTLAB_SANITIZE)
  message(FATAL_ERROR "INGESTLAB_SANITIZE must be address,undefined, thread or empty; "
                      "got '${INGESTLAB_SANITIZE}'")
endif()
if(ingestlab_sanitize_flags)
  add_compile_options(${ingestlab_sanitize_flags})
  add_link_options(${ingestlab_sanitize_flags})
endif()
if(INGESTLAB_SANITIZE STREQUAL "thread")
  # C11 threads routed through pthreads in every executable: librdkafka's threads and locks are
  # C11 ones, which TSan does not see otherwise (tests/sanitizers/tsan_c11_threads.c says why).
  # A shared library, so tests/sanitizers/tsan.supp can name it: the C11 calls are librdkafka's.
  add_library(ingestlab_tsan_c11_threads SHARED
              ${PROJECT_SOURCE_DIR}/tests/sanitizers/tsan_c11_threads.c)
  link_libraries(ingestlab_tsan_c11_threads)
endif()

if(INGESTLAB_FUZZ)
  if(NOT INGESTLAB_SANITIZE STREQUAL "address,undefined")
    message(FATAL_ERROR "INGESTLAB_FUZZ needs -DINGESTLAB_SANITIZE=address,undefined "
                        "(the fuzz targets report what the sanitizers find)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
