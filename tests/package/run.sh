#!/usr/bin/env bash
# Installs a build tree into a temporary prefix, then builds and runs a consumer against it twice:
# with CMake (find_package(mlflow_cpp CONFIG)) and with pkg-config. Each consumer logs a metric into a
# fresh SQLite file, which is checked with the sqlite3 shell. Also checks that the installed headers and
# the exported link interface keep Boost, SQLite and OpenSSL private.
# Usage: run.sh BUILD_DIR        (MLFLOW_CPP_TEST_ADD_SUBDIRECTORY=1 also builds the consumer with
#                                 add_subdirectory on the source tree: slow, it compiles the library)
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# Runs a command quietly; shows its output only when it fails.
quiet() {
  local log=$tmp/last.log
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; fail "$*"; fi
}

check_db() {  # file.db: the consumer's metric is in MLflow's tables
  local db=$1 row
  row=$(sqlite3 "$db" "SELECT m.key, m.value, m.step FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid
                       JOIN experiments e ON e.experiment_id = r.experiment_id
                       WHERE e.name = 'package-consumer' AND r.status = 'FINISHED'")
  [ "$row" = "answer|42.5|7" ] || fail "$db holds '$row', expected 'answer|42.5|7'"
}

step "install $build into a temporary prefix"
quiet cmake --install "$build" --prefix "$prefix"
[ -x "$prefix/bin/mlflow-cpp" ] || fail "mlflow-cpp not installed in $prefix/bin"
"$prefix/bin/mlflow-cpp" --version | grep -Eq '^mlflow-cpp [0-9]+\.[0-9]+\.[0-9]+$' || fail "mlflow-cpp --version"
[ -f "$prefix/include/mlflow/mlflow.hpp" ] || fail "headers not installed"
if grep -rEn '#include *[<"](boost/|sqlite3\.h|openssl/)' "$prefix/include"; then
  fail "an installed public header includes Boost, SQLite or OpenSSL"
fi
config=$(find "$prefix" -name mlflow_cppConfig.cmake)
[ -n "$config" ] || fail "mlflow_cppConfig.cmake not installed"
[ -n "$(find "$prefix" -name mlflow_cppConfigVersion.cmake)" ] || fail "mlflow_cppConfigVersion.cmake not installed"
# Dependencies of the static libraries may only appear as link-only items, never as usage requirements.
targets=$(dirname "$config")/mlflow_cppTargets.cmake
leaks=$(grep 'INTERFACE_LINK_LIBRARIES' "$targets" | tr ';"' '\n\n' | grep -E '(Boost|SQLite|OpenSSL)::' \
        | sed 's/^\\//' | grep -v '^\$<LINK_ONLY:' || true)
[ -z "$leaks" ] || fail "exported usage requirements leak: $leaks"

step "consumer with find_package(mlflow_cpp CONFIG REQUIRED)"
quiet cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix"
quiet cmake --build "$tmp/cmake-build"
quiet "$tmp/cmake-build/app" "$tmp/cmake.db"
check_db "$tmp/cmake.db"

step "consumer with pkg-config"
pc=$(find "$prefix" -name mlflow-cpp.pc)
[ -n "$pc" ] || fail "mlflow-cpp.pc not installed"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs mlflow-cpp) || fail "pkg-config --cflags --libs mlflow-cpp"
# shellcheck disable=SC2086  # the flags are meant to be split
quiet c++ -std=c++20 "$here/main.cpp" -o "$tmp/pc-app" $flags
quiet "$tmp/pc-app" "$tmp/pkg-config.db"
check_db "$tmp/pkg-config.db"

if [ "${MLFLOW_CPP_TEST_ADD_SUBDIRECTORY:-0}" = 1 ]; then
  step "consumer with add_subdirectory($source_dir)"
  quiet cmake -S "$here" -B "$tmp/subdir-build" -DMLFLOW_CPP_SOURCE_DIR="$source_dir"
  quiet cmake --build "$tmp/subdir-build" --target app -j "$(nproc)"
  quiet "$tmp/subdir-build/app" "$tmp/subdir.db"
  check_db "$tmp/subdir.db"
fi
echo "package consumer: OK"
