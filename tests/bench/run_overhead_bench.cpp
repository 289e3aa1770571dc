// Run overhead: mlflow::start_run() + mlflow::end_run() on a sqlite:/// file, as a training script pays it once per
// run (system tags, run name, the runs/tags rows, then the status and end time).

#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "mlflow/fluent.hpp"

namespace mlflow::bench {
namespace {

ScratchDir* g_run_dir = nullptr;

void setup_runs(const benchmark::State&) {
  // Kept until exit: the fluent API caches its client (and the open file) for the life of the process.
  if (g_run_dir == nullptr) g_run_dir = new ScratchDir("runs");
  mlflow::set_tracking_uri("sqlite:///" + g_run_dir->file("runs.db"));
  // The first run also creates the file and its schema: not what a run costs afterwards.
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
  benchmark::RegisterBenchmark("run_overhead/start_end_sqlite", BM_RunOverhead)
      ->Setup(setup_runs)
      ->Iterations(c.run_overhead_runs)
      ->Repetitions(c.repetitions)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace mlflow::bench
