// Run overhead: mlflow::start_run() + mlflow::end_run() on a sqlite:/// file, as a training script pays it once per
// run (system tags, run name, the runs/tags rows, then the status and end time).
//
// The figure is on a file on disk (the system temp dir), as a user has it. Two diagnostic variants split the
// cost: the same file on tmpfs (/dev/shm: fsync is free, what remains is CPU), and a file switched to WAL
// before use (one fsync per commit instead of the rollback journal's several).

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <stdexcept>

#include "bench_support.hpp"
#include "mlflow/fluent.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace mlflow::bench {
namespace {

enum Variant : int { disk = 0, tmpfs = 1, wal = 2 };

std::string prepare(Variant v) {
  // Kept until exit: the fluent API caches its client (and the open file) for the life of the process.
  ScratchDir& dir = v == tmpfs ? scratch_until_exit("runs-tmpfs", "/dev/shm")
                               : scratch_until_exit(v == wal ? "runs-wal" : "runs");
  const std::string path = dir.file("runs.db");
  if (v == wal) {
    // Created by the store (MLflow's schema), then switched to WAL (kept in the file) before the fluent API opens it.
    { sqlite::SqliteStore store("sqlite:///" + path); }
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot switch " + path + " to WAL");
    }
    sqlite3_close(db);
  }
  return path;
}

template <Variant V>
void setup_runs(const benchmark::State&) {
  static const std::string path = prepare(V);
  mlflow::set_tracking_uri("sqlite:///" + path);
  // The first run also opens the file and creates the schema: not what a run costs afterwards.
  mlflow::start_run();
  mlflow::end_run();
}

void BM_RunOverhead(benchmark::State& state) {
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    mlflow::start_run();
    mlflow::end_run();
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(seconds(t0, t1));
    total += seconds(t0, t1);
  }
  if (state.iterations() > 0) state.counters["ms_per_run"] = total * 1e3 / static_cast<double>(state.iterations());
}

}  // namespace

void register_run_overhead() {
  const Config& c = config();
  const std::pair<const char*, void (*)(const benchmark::State&)> variants[] = {
      {"run_overhead/start_end_sqlite", setup_runs<disk>},
      {"run_overhead/start_end_sqlite_tmpfs", setup_runs<tmpfs>},
      {"run_overhead/start_end_sqlite_wal", setup_runs<wal>},
  };
  for (const auto& [name, setup] : variants) {
    benchmark::RegisterBenchmark(name, BM_RunOverhead)
        ->Setup(setup)
        ->Iterations(c.run_overhead_runs)
        ->Repetitions(c.repetitions)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace mlflow::bench
