#!/usr/bin/env bash
# Installs the Debian 12 packages the build needs, only those missing (idempotent). Sourced by run.sh and test.sh.
set -euo pipefail
MLFLOW_CPP_PACKAGES=(
  build-essential cmake pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libarmadillo-dev libsqlite3-dev sqlite3 libgtest-dev libssl-dev openssl
  libbenchmark-dev libcli11-dev gnuplot-nox
  clang libclang-rt-14-dev
)
missing=()
for p in "${MLFLOW_CPP_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing missing packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
