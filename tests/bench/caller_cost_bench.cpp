// Caller cost: what one log_metric costs the training thread while the asynchronous logger's worker commits
// into a SQLite file at the same time. Each timed chunk is shorter than the queue, and the queue is flushed
// (not timed) between chunks, so the queue is never full: a full queue would measure the sink, not the call.

#include <benchmark/benchmark.h>
#include <time.h>

#include <memory>

#include "bench_support.hpp"
#include "mlflow/client.hpp"
#include "mlflow/fluent.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "tracker/logging/logging_store.hpp"

namespace mlflow::bench {
namespace {

std::int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct ClientFixture {
  ScratchDir dir{"caller"};
  std::unique_ptr<MlflowClient> client;
  std::string run_id;
};
ClientFixture* g_client = nullptr;

void setup_client(const benchmark::State&) {
  g_client = new ClientFixture;
  const std::string uri = "sqlite:///" + g_client->dir.file("caller.db");
  auto sqlite = std::make_shared<sqlite::SqliteStore>(uri);
  logging::LoggerOptions options = logging::LoggerOptions::from_env();
  options.asynchronous = true;
  options.queue_capacity = 65536;
  options.full_queue_policy = logging::FullQueuePolicy::block;
  auto store = std::make_shared<logging::LoggingStore>(sqlite, std::make_shared<logging::StoreSink>(sqlite), options);
  g_client->client = std::make_unique<MlflowClient>(store, uri);
  g_client->run_id = g_client->client->create_run("0").info.run_id;
}

void teardown_client(const benchmark::State&) {
  delete g_client;
  g_client = nullptr;
}

/// Per thread: time, CPU time and allocations of the timed chunks only.
struct CallerTally {
  double wall_ns = 0;
  double cpu_ns = 0;
  std::uint64_t allocations = 0;
  std::int64_t calls = 0;

  template <typename Log, typename Flush>
  void run(benchmark::State& state, Log&& log, Flush&& flush) {
    const std::int64_t chunk = config().caller_chunk;
    std::int64_t step = 0;
    for (auto _ : state) {
      const std::uint64_t a0 = thread_allocations();
      const std::int64_t c0 = thread_cpu_ns();
      const auto t0 = std::chrono::steady_clock::now();
      for (std::int64_t i = 0; i < chunk; ++i) log(0.5 + static_cast<double>(i), step++);
      const auto t1 = std::chrono::steady_clock::now();
      const std::int64_t c1 = thread_cpu_ns();
      const std::uint64_t a1 = thread_allocations();
      state.SetIterationTime(seconds(t0, t1));
      wall_ns += seconds(t0, t1) * 1e9;
      cpu_ns += static_cast<double>(c1 - c0);
      allocations += a1 - a0;
      calls += chunk;
      if (!flush()) {
        state.SkipWithError("flush timed out");
        break;
      }
    }
    if (calls == 0) return;
    using C = benchmark::Counter;
    state.counters["ns_per_call"] = C(wall_ns / static_cast<double>(calls), C::kAvgThreads);
    state.counters["cpu_ns_per_call"] = C(cpu_ns / static_cast<double>(calls), C::kAvgThreads);
    state.counters["allocs_per_call"] = C(static_cast<double>(allocations) / static_cast<double>(calls), C::kAvgThreads);
    state.SetItemsProcessed(calls);
  }
};

/// MlflowClient::log_metric(run_id, "loss", value, timestamp unset, step): validation, the clock, the queue.
void BM_CallerCost_Client(benchmark::State& state) {
  MlflowClient& client = *g_client->client;
  const std::string& run_id = g_client->run_id;
  const std::string key = state.thread_index() == 0 ? "loss" : "accuracy";
  CallerTally tally;
  tally.run(
      state, [&](double value, std::int64_t step) { client.log_metric(run_id, key, value, std::nullopt, step); },
      [&] { return client.flush(std::chrono::seconds(120)); });
}

// ---- the fluent API: mlflow::log_metric("loss", value, step) into the thread's active run ----

void setup_fluent(const benchmark::State&) {
  // Kept until exit: the fluent API caches its client (and the open file) for the life of the process.
  static ScratchDir& dir = scratch_until_exit("fluent");
  mlflow::set_tracking_uri("sqlite:///" + dir.file("fluent.db"));
}

void BM_CallerCost_Fluent(benchmark::State& state) {
  // One run per thread, as the fluent API keeps an active-run stack per thread; ended when the scope closes.
  mlflow::ActiveRun run = mlflow::start_run();
  const char* key = state.thread_index() == 0 ? "loss" : "accuracy";
  CallerTally tally;
  tally.run(
      state, [&](double value, std::int64_t step) { mlflow::log_metric(key, value, step); },
      [] { return mlflow::flush(std::chrono::seconds(120)); });
}

}  // namespace

void register_caller_cost() {
  const Config& c = config();
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark("caller_cost/client", BM_CallerCost_Client)
        ->Setup(setup_client)
        ->Teardown(teardown_client)
        ->Threads(threads)
        ->Iterations(c.caller_chunks)
        ->Repetitions(c.caller_repetitions)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark("caller_cost/fluent", BM_CallerCost_Fluent)
        ->Setup(setup_fluent)
        ->Threads(threads)
        ->Iterations(c.caller_chunks)
        ->Repetitions(c.caller_repetitions)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace mlflow::bench
