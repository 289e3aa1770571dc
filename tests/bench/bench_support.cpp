#include "bench_support.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>

#include "storage/spool/spool.hpp"

// ---------------------------------------------------------------------------------------------------------------
// Allocation counter: every operator new of this binary counts on the calling thread (a plain thread_local
// integer, so counting itself never allocates). The sized/aligned deletes fall back to free.

namespace {
thread_local std::uint64_t t_allocations = 0;

void* counted_alloc(std::size_t size) {
  ++t_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* counted_aligned_alloc(std::size_t size, std::align_val_t align) {
  ++t_allocations;
  const auto a = static_cast<std::size_t>(align);
  const std::size_t rounded = ((size == 0 ? 1 : size) + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return counted_alloc(size); }
void* operator new[](std::size_t size) { return counted_alloc(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) { return counted_aligned_alloc(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return counted_aligned_alloc(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace mlflow::bench {

std::uint64_t thread_allocations() noexcept { return t_allocations; }

// ---------------------------------------------------------------------------------------------------------------

Config Config::full() { return Config{}; }

Config Config::smoke_pass() {
  Config c;
  c.smoke = true;
  c.repetitions = 1;
  c.caller_repetitions = 1;
  c.heavy_repetitions = 1;
  c.caller_chunk = 2048;
  c.caller_chunks = 2;
  c.ingest_points = 5000;
  c.upload_points = 3000;
  c.sync_points = 5000;
  c.memory_points = 20000;
  c.run_overhead_runs = 5;
  return c;
}

namespace {
Config g_config;
}

const Config& config() { return g_config; }
void set_config(const Config& c) { g_config = c; }

// ---------------------------------------------------------------------------------------------------------------

ScratchDir::ScratchDir(const std::string& label, const std::filesystem::path& base) {
  path_ = (base.empty() ? std::filesystem::temp_directory_path() : base) /
          ("mlflow-cpp-bench-" + label + "-" + spool::new_local_id());
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::vector<std::unique_ptr<ScratchDir>>& until_exit() {
  static std::vector<std::unique_ptr<ScratchDir>> dirs;
  return dirs;
}
}  // namespace

void init_scratch_until_exit() { until_exit(); }

ScratchDir& scratch_until_exit(const std::string& label, const std::filesystem::path& base) {
  auto& dirs = until_exit();
  dirs.push_back(std::make_unique<ScratchDir>(label, base));
  return *dirs.back();
}

// ---------------------------------------------------------------------------------------------------------------

namespace {

std::string run_json(const std::string& run_id) {
  return R"({"run_id": ")" + run_id + R"(", "run_uuid": ")" + run_id +
         R"(", "run_name": "bench", "experiment_id": "0", "user_id": "bench", "status": "RUNNING", )"
         R"("start_time": 1700000000000, "artifact_uri": "mlflow-artifacts:/0/)" +
         run_id + R"(/artifacts", "lifecycle_stage": "active"})";
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

AckServer::AckServer() {
  server_ = std::make_unique<test::LoopbackServer>([this](const test::RecordedRequest& r) { return handle(r); });
  self_.store(server_.get());
}

AckServer::~AckServer() {
  self_.store(nullptr);
  server_.reset();
}

test::Response AckServer::handle(const test::RecordedRequest& request) {
  test::Response res;
  if (auto* server = self_.load(); server != nullptr && (log_batches_.load() + runs_created_.load()) % 8 == 0) {
    server->clear_requests();
  }
  const std::string& path = request.path;
  if (ends_with(path, "/runs/log-batch")) {
    ++log_batches_;
    res.body = "{}";
  } else if (ends_with(path, "/runs/create")) {
    char id[33];
    std::snprintf(id, sizeof id, "bench%027llu", static_cast<unsigned long long>(++runs_created_));
    res.body = R"({"run": {"info": )" + run_json(id) + R"(, "data": {}}})";
  } else if (ends_with(path, "/runs/get")) {
    const auto it = request.query.find("run_id");
    res.body = R"({"run": {"info": )" + run_json(it == request.query.end() ? "unknown" : it->second) +
               R"(, "data": {}}})";
  } else if (ends_with(path, "/runs/update")) {
    res.body = R"({"run_info": )" + run_json("updated") + "}";
  } else if (ends_with(path, "/experiments/get-by-name")) {
    const auto it = request.query.find("experiment_name");
    res.body = R"({"experiment": {"experiment_id": "0", "name": ")" +
               (it == request.query.end() ? std::string("Default") : it->second) +
               R"(", "artifact_location": "mlflow-artifacts:/0", "lifecycle_stage": "active"}})";
  } else {
    res.body = "{}";
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------------------

const std::vector<std::string>& metric_keys() {
  static const std::vector<std::string> keys = {"loss", "accuracy", "val_loss", "lr"};
  return keys;
}

Point point(std::int64_t i) {
  const auto& keys = metric_keys();
  const auto n = static_cast<std::int64_t>(keys.size());
  return Point{&keys[static_cast<std::size_t>(i % n)], 1.0 / static_cast<double>(i + 1) + 0.125 * (i % n),
               1700000000000 + i / n, i / n};
}

std::uint16_t dead_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  const std::uint16_t port = ntohs(addr.sin_port);
  ::close(fd);  // bound but never listening, and now closed: connects are refused
  return port;
}

}  // namespace mlflow::bench
