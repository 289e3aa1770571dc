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

# -O1 keeps the instrumented tests fast, -g1 keeps file:line in the reports, and nothing is built that the
# sanitizer stages do not run (no package test, no benchmarks, no install rules).
configure() {  # <build dir> <sanitizer>
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
    -DMLFLOW_CPP_SANITIZE="$2" -DMLFLOW_CPP_INSTALL=OFF -DMLFLOW_CPP_BUILD_TESTS=ON \
    -DMLFLOW_CPP_BUILD_EXPERIMENTS=ON >/dev/null
}

# Child processes the tests start inherit these. halt_on_error/exitcode make a report fatal even where a
# sanitizer would otherwise carry on; the suppression files hold only documented third-party false positives.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:suppressions=$ROOT/tests/sanitizers/asan.supp"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:suppressions=$ROOT/tests/sanitizers/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:exitcode=88:second_deadlock_stack=1:die_after_fork=0:suppressions=$ROOT/tests/sanitizers/tsan.supp"

# The test files whose point is concurrency: several threads or processes on one logger, spool, run or file.
TSAN_TESTS=(async_logger_test spool_test spooled_store_test offline_process_test sqlite_store_test fluent_test
            client_test http_client_test loopback_server_test)

for stage in "${stages[@]}"; do
  case "$stage" in
    address)
      echo "== ASan+UBSan: whole test suite (build-asan/)"
      configure build-asan address
      cmake --build build-asan -j "$JOBS"
      ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 600
      ;;
    thread)
      echo "== TSan: concurrency tests (build-tsan/)"
      configure build-tsan thread
      targets=()
      for t in "${TSAN_TESTS[@]}"; do
        [ -f "tests/unit/$t.cpp" ] || [ -f "tests/integration/$t.cpp" ] && targets+=("$t")
      done
      # The programs the offline tests start run under TSan too.
      cmake --build build-tsan -j "$JOBS" --target "${targets[@]}" offline_logger_child mlflow-cpp
      label_regex="^($(IFS='|'; echo "${targets[*]}"))\$"
      ctest --test-dir build-tsan --output-on-failure -j "$JOBS" --timeout 600 -L "$label_regex"
      ;;
    *) echo "unknown stage '$stage' (address|thread)" >&2; exit 2 ;;
  esac
done
