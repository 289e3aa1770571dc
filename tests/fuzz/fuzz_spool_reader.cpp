// The spool on a damaged file: the fuzzed bytes become the spool file, which is then opened, read the way
// `mlflow-cpp status`/`sync` and the uploader read it, and written to. Every outcome must be a value or an
// MlflowError (SQLite's corrupt/not-a-database answers among them), never a crash, hang or other exception.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_common.hpp"
#include "storage/spool/spool.hpp"

using namespace mlflow;
using mlflow::fuzz::clean;

namespace {

std::string scratch_path() {
  static const std::string path = [] {
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    dir /= "mlflow-cpp-fuzz-spool-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    // Removed at exit; libFuzzer ends with exit(), so this runs on a normal end and after -max_total_time.
    static const std::string remove_me = dir.string();
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(remove_me, ignored);
    });
    return (dir / "spool.db").string();
  }();
  return path;
}

void remove_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = scratch_path();
  remove_files(path);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  clean("Spool on a damaged file", [&] {
    spool::Spool spool(path);
    for (const auto& run : spool.list_runs()) {
      clean("read_items", [&] { spool.read_items(run.run_key, run.acked_seq, 100); });
      clean("pending_items", [&] { spool.pending_items(run.run_key); });
      clean("append_wire_metrics", [&] {
        std::string body;
        spool.append_wire_metrics(run.run_key, run.acked_seq, 1000, body);
      });
      clean("find_run", [&] { spool.find_run(run.local_run_id, run.target_uri); });
      clean("experiment_id_for", [&] { spool.experiment_id_for(run.target_uri, run.experiment_name); });
      clean("get_sync_state", [&] { spool.get_sync_state("src", run.local_run_id, run.target_uri); });
      clean("acknowledge", [&] {
        spool.mark_inflight(run.run_key, run.acked_seq + 1);
        spool.acknowledge(run.run_key, run.acked_seq + 1);
      });
    }
    clean("pending_runs", [&] { spool.pending_runs(); });
    clean("pending_items_total", [&] { spool.pending_items_total(); });
    clean("add_run and append", [&] {
      spool::RunRecord run;
      run.local_run_id = "00000000000000000000000000000001";
      run.target_uri = "http://127.0.0.1:5000";
      run.start_time = 1;
      run.created_time = 1;
      const std::int64_t key = spool.add_run(run);
      spool.append({spool::ItemView{key, spool::ItemKind::metric, "loss", {}, 0.5, 1, 2}});
      spool.read_items(key, 0, 10);
    });
  });
  remove_files(path);
  return 0;
}
