#pragma once
// What the benchmarks share: the smoke switch, scratch directories, the allocation counter, the cheap MLflow
// handler for the loopback server, and the deterministic points every benchmark logs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/loopback_server.hpp"

namespace mlflow::bench {

/// Counts and sizes of one benchmark pass. The full pass is what scripts/bench.sh runs; the smoke pass only
/// proves that everything builds and runs (`--smoke` or MLFLOW_CPP_BENCH_SMOKE=1). A value type.
struct Config {
  bool smoke = false;
  int repetitions = 5;                     ///< of the short benchmarks (medians are reported)
  int caller_repetitions = 9;              ///< of caller cost, whose wall time moves most with the machine's load
  int heavy_repetitions = 3;               ///< of ingest and upload
  std::int64_t caller_chunk = 16384;       ///< log_metric calls per timed chunk (then a flush, not timed)
  std::int64_t caller_chunks = 24;         ///< chunks per repetition and thread
  std::int64_t ingest_points = 500000;     ///< local ingest, per repetition
  std::int64_t upload_points = 200000;     ///< upload, per repetition
  std::int64_t sync_points = 1000000;      ///< sync: one pass
  std::int64_t memory_points = 10000000;   ///< memory: the child logs this many
  std::int64_t run_overhead_runs = 200;    ///< start_run + end_run pairs per repetition

  static Config full();
  static Config smoke_pass();
};

/// The pass being run (set by main before the benchmarks are registered).
const Config& config();
void set_config(const Config& config);

/// Heap allocations made by the calling thread so far (counted by the global operator new of this binary).
std::uint64_t thread_allocations() noexcept;

/// A fresh directory under the system temp dir, removed with its contents. Not thread-safe.
class ScratchDir {
 public:
  /// Under `base`, or the system temp dir when it is empty.
  explicit ScratchDir(const std::string& label, const std::filesystem::path& base = {});
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// A scratch directory that lives until the process exits and is removed after the fluent API's cached clients
/// (which keep files in it open) are gone. Not thread-safe.
ScratchDir& scratch_until_exit(const std::string& label, const std::filesystem::path& base = {});
/// Creates the registry of scratch_until_exit; main calls it before anything touches the fluent API, so that the
/// registry is destroyed after the fluent API's statics.
void init_scratch_until_exit();

/// The loopback server with a handler that costs the server as little as possible, so that the client is what
/// is measured: log-batch is acknowledged without reading its body; runs/create, runs/update, runs/get and
/// experiments/get-by-name answer minimal but complete MLflow JSON; everything else answers `{}`. Recorded
/// requests are dropped as they come, so that a long benchmark does not grow the server's memory.
/// Thread-safe as LoopbackServer.
class AckServer {
 public:
  AckServer();
  ~AckServer();
  AckServer(const AckServer&) = delete;
  AckServer& operator=(const AckServer&) = delete;
  test::LoopbackServer& loopback() { return *server_; }
  std::string url() const { return server_->base_url(); }
  /// log-batch requests acknowledged so far.
  std::uint64_t log_batches() const noexcept { return log_batches_.load(); }

 private:
  test::Response handle(const test::RecordedRequest& request);

  std::atomic<std::uint64_t> log_batches_{0};
  std::atomic<std::uint64_t> runs_created_{0};
  std::atomic<test::LoopbackServer*> self_{nullptr};
  std::unique_ptr<test::LoopbackServer> server_;
};

/// The points the benchmarks log: four short keys in turn, values and timestamps derived from the index.
struct Point {
  const std::string* key;
  double value;
  std::int64_t timestamp;
  std::int64_t step;
};
const std::vector<std::string>& metric_keys();
Point point(std::int64_t i);

/// A port on 127.0.0.1 where nothing listens (connections are refused).
std::uint16_t dead_port();

/// Seconds between two steady_clock points.
inline double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Registration, one function per benchmark file (called by main with the config in force).
void register_caller_cost();
void register_ingest();
void register_upload();
void register_memory();
void register_run_overhead();

/// The memory child (`mlflow-cpp-bench --memory-child <points> <dir> <port>`): logs with the server down and
/// prints its own VmHWM. Returns the exit code.
int memory_child_main(int argc, char** argv);

}  // namespace mlflow::bench
