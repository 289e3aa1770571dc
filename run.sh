#!/usr/bin/env bash
# The main job: installs what is missing, builds, runs the four video experiments and compare_activations
# into MLFLOW_TRACKING_URI (default sqlite:///mlflow.db), and shows the runs read back from the store.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
programs=(sigmoid tanh relu backprop compare_activations)
bash scripts/build.sh "${programs[@]}" show_runs mlflow-cpp
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}"
for program in "${programs[@]}"; do
  echo "== ${program} =="
  build/bin/"${program}"
done
echo
echo "== the video runs, read back from ${MLFLOW_TRACKING_URI} =="
build/bin/show_runs
echo
echo "== compare_activations runs =="
build/bin/mlflow-cpp runs list --experiment "Comparação de Ativações" --max 4
