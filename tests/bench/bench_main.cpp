// mlflow-cpp-bench: the benchmark suite. Runs every benchmark (Google Benchmark flags work, e.g.
// --benchmark_filter=upload), then prints each figure with its target; --report-md=FILE also writes that table
// as Markdown (scripts/bench.sh puts it into docs/BENCHMARKS.md).
//
//   mlflow-cpp-bench [--smoke] [--report-md=FILE] [benchmark flags]
//   MLFLOW_CPP_BENCH_SMOKE=1 mlflow-cpp-bench     (same as --smoke: tiny counts, figures not judged)
//   mlflow-cpp-bench --memory-child N DIR PORT    (internal: the process the memory benchmark measures)
//
// Exit status: 0 when every benchmark ran, 1 when one failed. Targets missed do not change it (speed is
// reported, not asserted).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace mlflow::bench {
namespace {

/// The console output, plus every repetition kept for the summary.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Iteration) captured.push_back(r);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::vector<Run> captured;
};

/// The median of a counter over every repetition of a benchmark (by name and thread count).
class Results {
 public:
  explicit Results(const std::vector<benchmark::BenchmarkReporter::Run>& runs) : runs_(runs) {}

  std::optional<double> median(const std::string& name, const std::string& counter, int threads = 1) const {
    std::vector<double> values;
    for (const auto& r : runs_) {
      if (r.error_occurred || r.run_name.function_name != name || r.threads != threads) continue;
      const auto it = r.counters.find(counter);
      if (it != r.counters.end()) values.push_back(it->second.value);
    }
    if (values.empty()) return std::nullopt;
    std::sort(values.begin(), values.end());
    const std::size_t m = values.size() / 2;
    return values.size() % 2 == 1 ? values[m] : (values[m - 1] + values[m]) / 2;
  }
  /// "min-max" of a counter, to show the spread.
  std::string range(const std::string& name, const std::string& counter, int threads, int digits) const {
    double lo = INFINITY, hi = -INFINITY;
    int count = 0;
    for (const auto& r : runs_) {
      if (r.error_occurred || r.run_name.function_name != name || r.threads != threads) continue;
      const auto it = r.counters.find(counter);
      if (it == r.counters.end()) continue;
      lo = std::min(lo, it->second.value);
      hi = std::max(hi, it->second.value);
      ++count;
    }
    if (count < 2) return "";
    char buf[96];
    std::snprintf(buf, sizeof buf, " (%d runs: %.*f-%.*f)", count, digits, lo, digits, hi);
    return buf;
  }

 private:
  const std::vector<benchmark::BenchmarkReporter::Run>& runs_;
};

std::string fmt(std::optional<double> v, int digits, const char* unit = "") {
  if (!v) return "not measured";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", digits, *v, unit);
  return buf;
}

std::string thousands(std::optional<double> v, const char* unit) {
  if (!v) return "not measured";
  std::string digits = std::to_string(static_cast<long long>(std::llround(*v)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out + unit;
}

struct Row {
  std::string figure, measured, target, verdict;
};

std::string verdict(bool smoke, std::optional<bool> met) {
  if (smoke) return "smoke pass, not judged";
  if (!met) return "not measured";
  return *met ? "met" : "MISSED";
}

std::vector<Row> summarise(const Results& res, bool smoke) {
  std::vector<Row> rows;
  for (const char* api : {"client", "fluent"}) {
    for (int threads : {1, 2}) {
      const std::string name = std::string("caller_cost/") + api;
      const auto ns = res.median(name, "ns_per_call", threads);
      const auto cpu = res.median(name, "cpu_ns_per_call", threads);
      const auto allocs = res.median(name, "allocs_per_call", threads);
      std::optional<bool> met;
      if (ns && allocs) met = *ns <= 100.0 && *allocs < 0.001;
      const std::string label = std::string(api) == "client" ? "`MlflowClient::log_metric`" : "`mlflow::log_metric`";
      rows.push_back({"caller cost: " + label + ", " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : "") +
                          " (asynchronous logger, SQLite sink)",
                      fmt(ns, 1, " ns/call") + res.range(name, "ns_per_call", threads, 1) + ", CPU " +
                          fmt(cpu, 1, " ns/call") + ", " + fmt(allocs, 4, " allocations/call"),
                      "≤ 100 ns, no allocation", verdict(smoke, met)});
    }
  }

  const auto ingest = res.median("local_ingest/client", "points_per_s");
  const auto raw_ingest = res.median("local_ingest/raw_sqlite", "points_per_s");
  rows.push_back({"local ingest: `log_metric` → flush, MLflow SQLite file (metrics + latest_metrics)",
                  thousands(ingest, " points/s") + res.range("local_ingest/client", "points_per_s", 1, 0), "", ""});
  rows.push_back({"local ingest: raw SQLite baseline (one prepared INSERT, 1000 rows/transaction, WAL)",
                  thousands(raw_ingest, " rows/s") + res.range("local_ingest/raw_sqlite", "points_per_s", 1, 0), "",
                  ""});
  {
    std::optional<double> ratio;
    if (ingest && raw_ingest) ratio = *ingest / *raw_ingest * 100.0;
    rows.push_back({"local ingest: client / raw", fmt(ratio, 1, " %"), "≥ 70 %",
                    verdict(smoke, ratio ? std::optional<bool>(*ratio >= 70.0) : std::nullopt)});
  }

  const auto up = res.median("upload/uploader", "points_per_s");
  const auto raw_up = res.median("upload/raw_sender", "points_per_s");
  const auto http_up = res.median("upload/http_client_sender", "points_per_s");
  rows.push_back({"upload: spool → uploader → loopback server (acknowledging handler)",
                  thousands(up, " points/s") + res.range("upload/uploader", "points_per_s", 1, 0), "", ""});
  rows.push_back({"upload: raw sender (pre-encoded 1000-metric log-batch bodies, one keep-alive socket)",
                  thousands(raw_up, " points/s") + res.range("upload/raw_sender", "points_per_s", 1, 0), "", ""});
  {
    std::optional<double> ratio;
    if (up && raw_up) ratio = *up / *raw_up * 100.0;
    rows.push_back({"upload: uploader / raw sender", fmt(ratio, 1, " %"), "≥ 90 %",
                    verdict(smoke, ratio ? std::optional<bool>(*ratio >= 90.0) : std::nullopt)});
  }
  {
    const auto fake_up = res.median("upload_fake_server/uploader", "points_per_s");
    const auto fake_raw = res.median("upload_fake_server/raw_sender", "points_per_s");
    std::optional<double> ratio;
    if (fake_up && fake_raw) ratio = *fake_up / *fake_raw * 100.0;
    rows.push_back({"upload (context): uploader / raw sender against FakeMlflowServer (parses and stores every point)",
                    fmt(ratio, 1, " %") + " (" + thousands(fake_up, "") + " / " + thousands(fake_raw, " points/s") + ")",
                    "", ""});
  }
  rows.push_back({"upload (diagnostic): the same pre-encoded bodies through `transport::HttpClient`",
                  thousands(http_up, " points/s") + res.range("upload/http_client_sender", "points_per_s", 1, 0), "",
                  ""});

  const auto sync_s = res.median("sync/spool_to_server", "seconds");
  const auto sync_rate = res.median("sync/spool_to_server", "points_per_s");
  rows.push_back({"sync: deliver " + thousands(static_cast<double>(config().sync_points), "") +
                      " spooled points (`run_sync`, as `mlflow-cpp sync`)",
                  fmt(sync_s, 2, " s") + " (" + thousands(sync_rate, " points/s") + ")", "", ""});

  const auto rss = res.median("memory/server_down", "peak_rss_mib");
  const auto hwm = res.median("memory/server_down", "vmhwm_at_end_run_mib");
  const auto mem_rate = res.median("memory/server_down", "points_per_s");
  rows.push_back({"memory: peak RSS of a process logging " + thousands(static_cast<double>(config().memory_points), "") +
                      " points with the server down",
                  fmt(rss, 1, " MiB") + " (VmHWM of the child at exit; " + fmt(hwm, 1, " MiB") +
                      " when its run had ended; logged at " +
                      thousands(mem_rate, " points/s") + " into the spool)",
                  "≤ 64 MiB", verdict(smoke, rss ? std::optional<bool>(*rss <= 64.0) : std::nullopt)});

  const auto run_ms = res.median("run_overhead/start_end_sqlite", "ms_per_run");
  rows.push_back({"run overhead: `start_run` + `end_run` on a SQLite file",
                  fmt(run_ms, 3, " ms") + res.range("run_overhead/start_end_sqlite", "ms_per_run", 1, 3), "≤ 2 ms",
                  verdict(smoke, run_ms ? std::optional<bool>(*run_ms <= 2.0) : std::nullopt)});
  const auto tmpfs_ms = res.median("run_overhead/start_end_sqlite_tmpfs", "ms_per_run");
  rows.push_back({"run overhead (diagnostic): the same on tmpfs (/dev/shm), where fsync costs nothing",
                  fmt(tmpfs_ms, 3, " ms") + res.range("run_overhead/start_end_sqlite_tmpfs", "ms_per_run", 1, 3), "",
                  ""});
  const auto wal_ms = res.median("run_overhead/start_end_sqlite_wal", "ms_per_run");
  rows.push_back({"run overhead (diagnostic): the same on disk, file switched to WAL before use",
                  fmt(wal_ms, 3, " ms") + res.range("run_overhead/start_end_sqlite_wal", "ms_per_run", 1, 3), "", ""});
  return rows;
}

std::string markdown(const std::vector<Row>& rows) {
  std::ostringstream out;
  out << "| figure | measured (median) | target | verdict |\n|---|---|---|---|\n";
  for (const auto& r : rows) out << "| " << r.figure << " | " << r.measured << " | " << r.target << " | " << r.verdict << " |\n";
  return out.str();
}

}  // namespace
}  // namespace mlflow::bench

int main(int argc, char** argv) {
  using namespace mlflow::bench;
  if (argc >= 2 && std::strcmp(argv[1], "--memory-child") == 0) return memory_child_main(argc, argv);

  bool smoke = false;
  if (const char* env = std::getenv("MLFLOW_CPP_BENCH_SMOKE"); env != nullptr && std::strcmp(env, "1") == 0) {
    smoke = true;
  }
  std::string report_md;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      smoke = true;
    } else if (std::strncmp(argv[i], "--report-md=", 12) == 0) {
      report_md = argv[i] + 12;
    } else {
      args.push_back(argv[i]);
    }
  }
  init_scratch_until_exit();
  set_config(smoke ? Config::smoke_pass() : Config::full());
  register_caller_cost();
  register_run_overhead();
  register_ingest();
  register_upload();
  register_memory();

  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  CapturingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  int failed = 0;
  for (const auto& r : reporter.captured) {
    if (r.error_occurred) {
      std::fprintf(stderr, "FAILED: %s: %s\n", r.benchmark_name().c_str(), r.error_message.c_str());
      ++failed;
    }
  }
  const std::string table = markdown(summarise(Results(reporter.captured), smoke));
  std::printf("\n%s", table.c_str());
  if (!report_md.empty()) {
    std::ofstream out(report_md);
    out << table;
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", report_md.c_str());
      return 1;
    }
  }
  return failed == 0 ? 0 : 1;
}
