#!/usr/bin/env bash
# Fuzz stage of ./test.sh: builds the libFuzzer targets of tests/fuzz with clang (build-fuzz/) and runs each
# for a short fixed time from its seed corpus (tests/fuzz/corpus/<target>/, read only: new inputs go to a
# scratch directory). A crash, a sanitizer report, a leak or a timeout fails the run and leaves the input in
# build-fuzz/findings/; turn it into a regression test (the input in a unit test) and fix the code.
# Usage: scripts/fuzz.sh [target...]      MLFLOW_CPP_FUZZ_SECONDS=<seconds per target> (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${MLFLOW_CPP_FUZZ_SECONDS:-20}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_json_decode fuzz_tracking_uri fuzz_validation fuzz_search_filter
                                     fuzz_spool_reader)

echo "== libFuzzer: ${targets[*]} (${SECONDS_PER_TARGET} s each, build-fuzz/)"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DCMAKE_CXX_COMPILER=clang++ -DMLFLOW_CPP_BUILD_FUZZERS=ON -DMLFLOW_CPP_BUILD_TESTS=OFF \
  -DMLFLOW_CPP_BUILD_EXPERIMENTS=OFF -DMLFLOW_CPP_INSTALL=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:suppressions=$ROOT/tests/sanitizers/asan.supp"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tests/sanitizers/ubsan.supp"
mkdir -p build-fuzz/findings
rm -f build-fuzz/findings/*.log build-fuzz/findings/*.failed
run_one() {  # <target>: one fuzzer on its own core; a failure leaves <target>.failed
  local t=$1 scratch
  scratch=$(mktemp -d)
  # -timeout: one input taking longer is a hang; -rss_limit_mb: one input eating memory is a finding too.
  if ! build-fuzz/bin/"$t" "$scratch" "tests/fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" \
       -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/findings/$t-" >"build-fuzz/findings/$t.log" 2>&1; then
    touch "build-fuzz/findings/$t.failed"
  fi
  rm -rf "$scratch"
}
# As many fuzzers at once as there are cores.
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$(nproc)" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=()
for t in "${targets[@]}"; do
  if [ -f "build-fuzz/findings/$t.failed" ]; then
    failed+=("$t")
    tail -n 60 "build-fuzz/findings/$t.log"
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "build-fuzz/findings/$t.log" |
      tr '\n' ' ' | sed "s/^/$t: /"; echo
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "Fuzzing found problems in: ${failed[*]} (inputs and logs in build-fuzz/findings/)" >&2
  exit 1
fi
