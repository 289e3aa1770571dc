#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600
# Hardening stages (issue 8): the tests under ASan+UBSan and TSan, then the fuzzers. On by default so CI runs
# them; MLFLOW_CPP_SKIP_SANITIZERS=1 skips them for quick local iterations.
if [ "${MLFLOW_CPP_SKIP_SANITIZERS:-0}" != "1" ]; then
  bash scripts/sanitize.sh
  bash scripts/fuzz.sh
fi
