# MLFLOW_CPP_SANITIZE: builds every target of this project with a sanitizer (scripts/sanitize.sh uses it).
#   address -> AddressSanitizer + UndefinedBehaviorSanitizer, any report aborts the program
#   thread  -> ThreadSanitizer
# MLFLOW_CPP_BUILD_FUZZERS: the libFuzzer targets of tests/fuzz (clang only; scripts/fuzz.sh uses it). The
# libraries get coverage instrumentation and ASan+UBSan so the fuzzers see inside them.
set(MLFLOW_CPP_SANITIZE "" CACHE STRING "Sanitizer for every target: '', 'address' (ASan+UBSan) or 'thread' (TSan)")
set_property(CACHE MLFLOW_CPP_SANITIZE PROPERTY STRINGS "" address thread)
option(MLFLOW_CPP_BUILD_FUZZERS "Build the libFuzzer targets in tests/fuzz (needs clang)" OFF)

if(MLFLOW_CPP_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MLFLOW_CPP_BUILD_FUZZERS needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(NOT MLFLOW_CPP_SANITIZE STREQUAL "")
    message(FATAL_ERROR "MLFLOW_CPP_BUILD_FUZZERS brings its own sanitizers; leave MLFLOW_CPP_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(MLFLOW_CPP_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(MLFLOW_CPP_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread)
  add_link_options(-fsanitize=thread)
elseif(NOT MLFLOW_CPP_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MLFLOW_CPP_SANITIZE must be empty, 'address' or 'thread' (got '${MLFLOW_CPP_SANITIZE}')")
endif()
