// Memory: the peak RSS of a separate process that logs many points through the fluent API to a tracking server
// that is down (everything goes into the on-disk spool through the bounded queue). The child is this binary in
// `--memory-child` mode; its peak comes from wait4's rusage (ru_maxrss), and it reports its own VmHWM too.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bench_support.hpp"
#include "mlflow/fluent.hpp"
#include "storage/spool/spool.hpp"

extern char** environ;

namespace mlflow::bench {
namespace {

std::int64_t vm_hwm_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The value after "NAME " in the child's output, or -1.
double field(const std::string& text, const std::string& name) {
  const auto at = text.find(name + " ");
  return at == std::string::npos ? -1.0 : std::atof(text.c_str() + at + name.size() + 1);
}

void BM_Memory_ServerDown(benchmark::State& state) {
  const std::int64_t n = config().memory_points;
  for (auto _ : state) {
    ScratchDir dir("memory");
    const std::string out_path = dir.file("child.out");
    const std::string err_path = dir.file("child.err");
    const std::string points = std::to_string(n);
    const std::string port = std::to_string(dead_port());
    const std::string spool_dir = dir.file("spool");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args = {const_cast<char*>("mlflow-cpp-bench"), const_cast<char*>("--memory-child"),
                               const_cast<char*>(points.c_str()), const_cast<char*>(spool_dir.c_str()),
                               const_cast<char*>(port.c_str()), nullptr};
    pid_t pid = -1;
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int status = 0;
    rusage usage{};
    if (::wait4(pid, &status, 0, &usage) != pid) {
      state.SkipWithError("wait4 failed");
      break;
    }
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(seconds(t0, t1));
    const std::string out = read_file(out_path);
    const double spooled = field(out, "SPOOLED");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || spooled < static_cast<double>(n) ||
        field(out, "FINAL_VMHWM_KIB") <= 0) {
      const std::string why = "memory child failed (status " + std::to_string(status) + ", spooled " +
                              std::to_string(static_cast<std::int64_t>(spooled)) + "): " + read_file(err_path);
      state.SkipWithError(why.c_str());
      break;
    }
    // The child's own VmHWM, read after its last destructor. Not wait4's ru_maxrss: posix_spawn runs the child in
    // the parent's address space until exec, and Linux keeps that address space's peak in ru_maxrss.
    state.counters["peak_rss_mib"] = field(out, "FINAL_VMHWM_KIB") / 1024.0;
    state.counters["vmhwm_at_end_run_mib"] = field(out, "VMHWM_KIB") / 1024.0;
    state.counters["spawn_ru_maxrss_mib"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
    state.counters["points_per_s"] = field(out, "POINTS_PER_S");
    state.counters["points"] = static_cast<double>(n);
  }
}

}  // namespace

int memory_child_main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: mlflow-cpp-bench --memory-child <points> <spool dir> <port>\n");
    return 2;
  }
  const std::int64_t n = std::atoll(argv[2]);
  const std::string spool_dir = argv[3];
  // Registered before the fluent API creates its statics, so it runs after their destructors: the true peak.
  std::atexit([] {
    std::printf("FINAL_VMHWM_KIB %lld\n", static_cast<long long>(vm_hwm_kib()));
    std::fflush(stdout);
  });
  ::setenv("MLFLOW_CPP_SPOOL_DIR", spool_dir.c_str(), 1);
  ::setenv("MLFLOW_CPP_SERVER_WAIT_SECONDS", "1", 1);
  ::setenv("MLFLOW_CPP_UPLOAD_WAIT_SECONDS", "0", 1);
  try {
    mlflow::set_tracking_uri(std::string("http://127.0.0.1:") + argv[4]);
    const auto t0 = std::chrono::steady_clock::now();
    {
      mlflow::ActiveRun run = mlflow::start_run();
      for (std::int64_t i = 0; i < n; ++i) {
        const Point p = point(i);
        mlflow::log_metric(*p.key, p.value, p.step);
      }
    }  // end_run: everything queued is in the spool when it returns
    const auto t1 = std::chrono::steady_clock::now();
    const std::int64_t hwm = vm_hwm_kib();
    std::int64_t spooled = 0;
    {
      spool::Spool sp(spool::Spool::default_path());
      spooled = sp.pending_items_total();
    }
    std::printf("VMHWM_KIB %lld\nPOINTS_PER_S %.0f\nSPOOLED %lld\n", static_cast<long long>(hwm),
                static_cast<double>(n) / seconds(t0, t1), static_cast<long long>(spooled));
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memory child: %s\n", e.what());
    return 1;
  }
}

void register_memory() {
  benchmark::RegisterBenchmark("memory/server_down", BM_Memory_ServerDown)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
}

}  // namespace mlflow::bench
