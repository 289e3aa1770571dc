#!/usr/bin/env bash
# Runs the full benchmark suite on a Release build and writes docs/BENCHMARKS.md (the figures against their
# targets, the machine, the date). Takes several minutes; not part of ./test.sh or CI (which run the smoke pass).
#
#   scripts/bench.sh [benchmark flags, e.g. --benchmark_filter=upload]
#
# Build directory: $MLFLOW_CPP_BENCH_BUILD_DIR if set, else build/ when it is configured as Release, else
# build-release/ (configured here).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${MLFLOW_CPP_BENCH_BUILD_DIR:-}
if [ -z "$build_dir" ]; then
  if grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt; then
    build_dir=build
  else
    build_dir=build-release
  fi
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" --target mlflow-cpp-bench -j "$(nproc)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
"$build_dir/bin/mlflow-cpp-bench" --report-md="$work/table.md" "$@" | tee "$work/console.txt"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cores=$(nproc)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
kernel=$(uname -r)
sqlite_version=$(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo unknown)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- . ':!docs/BENCHMARKS.md' 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)

mkdir -p docs
{
  cat <<EOF
# Benchmarks

Written by \`scripts/bench.sh\` (do not edit by hand). Measured $started on commit $commit$dirty.

Machine: $cores cores, $cpu_model, $mem RAM, Linux $kernel, SQLite $sqlite_version.
Load average (1/5/15 min) before the run: $load_before; after: $load_after. Other work on the machine
shares its cores, so figures in wall time move with it; repeated figures show their spread.

EOF
  cat "$work/table.md"
  cat <<'EOF'

## How each figure is measured

All benchmarks are in `tests/bench/` (`build/bin/mlflow-cpp-bench`, Google Benchmark); medians over the
repetitions are shown, with the range when there were several.

- **Caller cost**: `MlflowClient::log_metric(run_id, "loss", value, timestamp unset, step)` and
  `mlflow::log_metric("loss", value, step)` on the calling thread, with the asynchronous logger in front of a
  SQLite file whose worker commits at the same time. Calls are timed in chunks of 16384 (shorter than the
  65536-record queue); the queue is flushed, untimed, between chunks, so it is never full. ns/call is wall
  time (it includes being preempted on a busy machine); CPU is the thread's CPU time. Allocations are counted
  by a global `operator new` in the benchmark binary, on the calling thread only.
- **Local ingest**: 500,000 `MlflowClient::log_metric` calls (four keys in turn) into a new
  `sqlite:///` file, timed until `flush()` returns (everything committed to `metrics` and `latest_metrics`).
  The raw baseline inserts the same rows into the same `metrics` table (MLflow 2.17.2's DDL, foreign keys
  on) with one prepared INSERT, 1000 rows per transaction, WAL. The two alternate, three runs each.
- **Upload**: a `SpooledStore` logs 200,000 points while the loopback server is stopped (into the spool, where
  consecutive metrics of a run are kept as blocks of up to 1000 points, each point with its JSON already
  written); the server comes back and the store's own uploader thread delivers the backlog: run creation, then
  1000-metric `log-batch` requests, each body built by a second thread while the previous request is on the
  wire (one copy per block), and acknowledged in the spool by that thread too; timed until `wait_uploaded()`
  returns. The raw sender posts the same points, pre-encoded as 1000-metric `log-batch` bodies, over one
  keep-alive socket (plain POSIX sockets, nothing else). The server is `tests/support`'s `LoopbackServer` with a
  handler that acknowledges without parsing the body, so the client is what is measured. The same pair against
  `FakeMlflowServer` (which parses, validates and stores every point; a tenth of the points) is shown for
  context; a real MLflow 2.17.2 server spends about 100 ms of CPU per 1000-metric batch.
- **Sync**: a spool holding one finished run of 1,000,000 points, delivered by `run_sync` (what
  `mlflow-cpp sync` runs) to the acknowledging server.
- **Memory**: a child process (the benchmark binary in `--memory-child` mode) logs 10,000,000 points with
  `mlflow::log_metric` to an `http://` URI where nothing listens; everything goes through the bounded queue
  into the on-disk spool. Its VmHWM is read when it exits (after its last destructor).
- **Run overhead**: `mlflow::start_run()` + `mlflow::end_run()` on a `sqlite:///` file in the temp directory
  (on disk), after a first run has created the file. Two diagnostic variants split the cost: the same on
  tmpfs (`/dev/shm`, where fsync costs nothing) and on a file switched to WAL before use.
EOF
} > docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md"
