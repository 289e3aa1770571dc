#!/usr/bin/env bash
# The main job: installs what is missing, builds, runs the four video experiments into
# MLFLOW_TRACKING_URI (default sqlite:///mlflow.db) and shows the runs read back from the store.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
bash scripts/build.sh
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}"
for program in sigmoid tanh relu backprop compare_activations; do
  echo "== ${program} =="
  build/bin/"${program}"
done
echo
echo "== runs in ${MLFLOW_TRACKING_URI} =="
build/bin/show_runs
