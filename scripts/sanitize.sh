#!/usr/bin/env bash
# Sanitizer stages of ./test.sh:
#   1. the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/);
#   2. the concurrency tests (logger, spool, uploader, threads on one run, processes on one file) under
#      ThreadSanitizer (build-tsan/).
# Any sanitizer report fails the run: the programs abort on the first report, so the test that ran them fails.
# Usage: scripts/sanitize.sh [address|thread]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(address thread)

# -O0: instrumented Boost.Beast/Asio code compiles several times faster than at -O1 (one file: GCC -O1 173 s,
# GCC -O0 77 s, clang -O0 36 s), and the instrumented tests still run in about a minute. -g1 keeps file:line in
# the reports. ASan+UBSan use clang (the whole build: ~4.5 CPU minutes against ~12 with GCC -O1). TSan uses GCC:
# its shared TSan runtime lets async_logger_test replace operator new, which clang's static runtime refuses
# (duplicate symbols) and clang's shared one crashes on. Nothing is built that the stages do not run (no
# package test, no benchmarks). A build dir configured with another compiler is started afresh.
configure() {  # <build dir> <sanitizer> <compiler>
  if [ -f "$1/CMakeCache.txt" ] && ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=.*/$3\$" "$1/CMakeCache.txt"; then
    rm -rf "$1"
  fi
  cmake -S . -B "$1" -DCMAKE_CXX_COMPILER="$3" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" \
    -DMLFLOW_CPP_SANITIZE="$2" -DMLFLOW_CPP_INSTALL=OFF -DMLFLOW_CPP_BUILD_TESTS=ON \
    -DMLFLOW_CPP_BUILD_EXPERIMENTS=ON >/dev/null
}

# Child processes the tests start inherit these. halt_on_error/exitcode make a report fatal even where a
# sanitizer would otherwise carry on; the suppression files hold only documented third-party false positives.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:suppressions=$ROOT/tests/sanitizers/asan.supp"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:suppressions=$ROOT/tests/sanitizers/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:exitcode=88:second_deadlock_stack=1:die_after_fork=0:suppressions=$ROOT/tests/sanitizers/tsan.supp"

# The test files whose point is concurrency: the logger (async_logger, logging_store), the spool and its uploader
# (spool, spooled_store, spooled_artifacts, delivery's request builder, bad_input's garbage server), several threads on one run or connection
# (sqlite_store, fluent, client, rest_store, http_client, loopback_server) and several processes on one file
# (offline_process, spool, sqlite_store).
TSAN_TESTS=(async_logger_test logging_store_test spool_test spooled_store_test spooled_artifacts_test delivery_test
            offline_process_test sqlite_store_test fluent_test client_test rest_store_test http_client_test
            loopback_server_test bad_input_test)
# Single-threaded, about sizes rather than threads, and slow under TSan; ASan+UBSan runs them.
TSAN_EXCLUDE='^BadInput\.(a_million_points|a_large_batch|a_ten_megabyte)'

for stage in "${stages[@]}"; do
  case "$stage" in
    address)
      echo "== ASan+UBSan: whole test suite (build-asan/)"
      configure build-asan address clang++
      cmake --build build-asan -j "$JOBS"
      ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 600
      ;;
    thread)
      echo "== TSan: concurrency tests (build-tsan/)"
      configure build-tsan thread g++
      targets=()
      for t in "${TSAN_TESTS[@]}"; do
        [ -f "tests/unit/$t.cpp" ] || [ -f "tests/integration/$t.cpp" ] && targets+=("$t")
      done
      # The programs the offline tests start run under TSan too.
      cmake --build build-tsan -j "$JOBS" --target "${targets[@]}" offline_logger_child mlflow-cpp
      label_regex="^($(IFS='|'; echo "${targets[*]}"))\$"
      ctest --test-dir build-tsan --output-on-failure -j "$JOBS" --timeout 600 -L "$label_regex" -E "$TSAN_EXCLUDE"
      ;;
    *) echo "unknown stage '$stage' (address|thread)" >&2; exit 2 ;;
  esac
done
