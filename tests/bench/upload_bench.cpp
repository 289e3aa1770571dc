// Upload and sync: points per second the uploader delivers to the loopback server, beside a raw sender that
// posts pre-encoded 1000-metric log-batch bodies over one keep-alive connection to the same server; and the
// time `mlflow-cpp sync` (run_sync) takes to deliver a spool of a million points.
//
// The server is tests/support's LoopbackServer with AckServer's handler: it acknowledges log-batch without
// parsing the body, so what is measured is the client (spool reads, encoding, HTTP, acknowledgements), not a
// server. A real MLflow 2.17.2 server takes about 100 ms of CPU per 1000-metric batch (see
// shared/mlflow-reference/README.md), which would hide every client cost below it.

#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <stdexcept>

#include "bench_support.hpp"
#include "mlflow/client.hpp"
#include "storage/spool/spool.hpp"
#include "support/fake_mlflow_server.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/sync/spooled_store.hpp"
#include "tracker/sync/sync_runner.hpp"
#include "tracker/transport/http_client.hpp"

namespace mlflow::bench {
namespace {

constexpr const char* kLogBatch = "/api/2.0/mlflow/runs/log-batch";
constexpr std::int64_t kBatch = 1000;

/// log-batch bodies for points [0, n) of one run, encoded as the client encodes them (rest::write_json).
std::vector<std::string> encode_bodies(const std::string& run_id, std::int64_t n) {
  std::vector<std::string> bodies;
  for (std::int64_t begin = 0; begin < n; begin += kBatch) {
    boost::json::object body;
    body["run_id"] = run_id;
    boost::json::array metrics;
    for (std::int64_t i = begin; i < std::min(n, begin + kBatch); ++i) {
      const Point p = point(i);
      metrics.push_back(rest::encode_metric(Metric{*p.key, p.value, p.timestamp, p.step}));
    }
    body["metrics"] = std::move(metrics);
    bodies.push_back(rest::write_json(body));
  }
  return bodies;
}

/// HTTP/1.1 over one blocking keep-alive socket, nothing else: the fastest a client could post to this server.
/// Not thread-safe.
class RawSender {
 public:
  explicit RawSender(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect() failed");
    }
  }
  ~RawSender() { ::close(fd_); }
  RawSender(const RawSender&) = delete;
  RawSender& operator=(const RawSender&) = delete;

  /// Sends one complete request (head and body) and reads the answer; returns its status.
  int exchange(const std::string& request) {
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t w = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (w <= 0) throw std::runtime_error("send() failed");
      sent += static_cast<std::size_t>(w);
    }
    std::size_t header_end;
    while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) fill();
    const int status = std::atoi(in_.c_str() + 9);  // "HTTP/1.1 200 ..."
    std::size_t length = 0;
    for (std::size_t line = in_.find("\r\n") + 2; line < header_end;) {
      const std::size_t eol = in_.find("\r\n", line);
      if (eol - line > 15 && ::strncasecmp(in_.c_str() + line, "content-length:", 15) == 0) {
        length = static_cast<std::size_t>(std::atoll(in_.c_str() + line + 15));
      }
      line = eol + 2;
    }
    while (in_.size() < header_end + 4 + length) fill();
    in_.erase(0, header_end + 4 + length);
    return status;
  }

 private:
  void fill() {
    char buf[16384];
    const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) throw std::runtime_error("the server closed the connection");
    in_.append(buf, static_cast<std::size_t>(r));
  }

  int fd_ = -1;
  std::string in_;
};

/// Which server the upload goes to: the acknowledging handler (what the figures are judged on), or
/// FakeMlflowServer (3.3 flavour, keep-alive), which parses every body and stores every point in memory like a
/// server must: the same comparison with a server that does some work per point.
enum class ServerKind { ack, fake };

/// One server of either kind. Not thread-safe.
class Target {
 public:
  explicit Target(ServerKind kind) {
    if (kind == ServerKind::ack) {
      ack_ = std::make_unique<AckServer>();
    } else {
      test::FakeMlflowOptions options;
      options.flavor = test::MlflowFlavor::v3_3;
      options.pretty_json = false;
      fake_ = std::make_unique<test::FakeMlflowServer>(options);
    }
  }
  test::LoopbackServer& loopback() { return ack_ ? ack_->loopback() : fake_->loopback(); }
  std::string url() const { return ack_ ? ack_->url() : fake_->base_url(); }
  /// A run the raw senders may log into.
  std::string new_run_id() {
    if (ack_) return "0123456789abcdef0123456789abcdef";
    test::RecordedRequest req;
    req.method = "POST";
    req.path = req.target = "/api/2.0/mlflow/runs/create";
    req.headers["content-type"] = "application/json";
    req.body = R"({"experiment_id": "0", "start_time": 1700000000000, "run_name": "raw"})";
    const test::Response res = fake_->handle(req);
    return std::string(boost::json::parse(res.body).at("run").at("info").at("run_id").as_string());
  }
  /// Points the server holds for a run (fake), or log-batch requests acknowledged times 1000 (ack).
  std::int64_t delivered(const std::string& run_id) const {
    if (ack_) return static_cast<std::int64_t>(ack_->log_batches()) * 1000;
    return static_cast<std::int64_t>(fake_->metric_count(run_id));
  }
  void forget_requests() { loopback().clear_requests(); }

 private:
  std::unique_ptr<AckServer> ack_;
  std::unique_ptr<test::FakeMlflowServer> fake_;
};

void report_rate(benchmark::State& state, std::int64_t points, double elapsed) {
  state.counters["points_per_s"] = benchmark::Counter(static_cast<double>(points) / elapsed);
  state.SetItemsProcessed(points);
}

/// Points per upload run: FakeMlflowServer's log-batch gets slower as a run grows (it checks every stored point
/// of the run for duplicates), so it gets a tenth of the points.
std::int64_t upload_points(ServerKind kind) {
  return kind == ServerKind::fake ? std::max<std::int64_t>(config().upload_points / 10, 1000) : config().upload_points;
}

/// One raw-sender pass over n points (pre-encoded requests, written and answered one after the other on one
/// connection); returns the seconds the sending took.
double raw_send_once(ServerKind kind, std::int64_t n) {
  Target server(kind);
  const std::string host = "127.0.0.1:" + std::to_string(server.loopback().port());
  const std::string run_id = server.new_run_id();
  std::vector<std::string> requests;
  for (const auto& body : encode_bodies(run_id, n)) {
    requests.push_back(std::string("POST ") + kLogBatch + " HTTP/1.1\r\nHost: " + host +
                       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body);
  }
  RawSender sender(server.loopback().port());
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& request : requests) {
    if (sender.exchange(request) != 200) throw std::runtime_error("the server did not answer 200");
  }
  const auto t1 = std::chrono::steady_clock::now();
  server.forget_requests();
  if (server.delivered(run_id) < n) throw std::runtime_error("the server holds fewer points than sent");
  return seconds(t0, t1);
}

/// The first pass of each kind in a process pays one-time costs (fresh heap pages, symbol binding, thread-local
/// set-up) that later passes do not: one small untimed pass of each runs before the first timed one, so that
/// neither side of a ratio carries them.
void warm_up(ServerKind kind);

void BM_Upload_RawSender(benchmark::State& state, ServerKind kind) {
  const std::int64_t n = upload_points(kind);
  double total = 0;
  for (auto _ : state) {
    try {
      warm_up(kind);
      const double elapsed = raw_send_once(kind, n);
      state.SetIterationTime(elapsed);
      total += elapsed;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (total > 0) report_rate(state, n * static_cast<std::int64_t>(state.iterations()), total);
}

/// The same pre-encoded bodies through the project's HttpClient (Beast): the transport's share of the upload.
void BM_Upload_HttpClient(benchmark::State& state) {
  const std::int64_t n = config().upload_points;
  AckServer server;
  const auto bodies = encode_bodies("0123456789abcdef0123456789abcdef", n);
  double total = 0;
  for (auto _ : state) {
    try {
      warm_up(ServerKind::ack);
      transport::HttpClient client(server.url(), transport::Options{});
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& body : bodies) {
        transport::Request request;
        request.method = "POST";
        request.target = kLogBatch;
        request.body = body;
        request.content_type = "application/json";
        if (client.send(request).status != 200) throw std::runtime_error("the server did not answer 200");
      }
      const auto t1 = std::chrono::steady_clock::now();
      state.SetIterationTime(seconds(t0, t1));
      total += seconds(t0, t1);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (total > 0) report_rate(state, n * static_cast<std::int64_t>(state.iterations()), total);
}

/// One uploader pass over n points; returns the seconds from the server's return to wait_uploaded().
double upload_once(ServerKind kind, std::int64_t n) {
  Target server(kind);
  ScratchDir dir("upload");
  sync::SpooledStoreOptions options;
  options.spool_path = dir.file("spool.db");
  options.server_wait = std::chrono::milliseconds(1000);
  options.upload_wait = std::chrono::milliseconds(1000);
  options.message_handler = [](std::string_view) {};
  server.loopback().stop();
  auto store = std::make_shared<sync::SpooledStore>(server.url(), options);
  const std::string run_id = store->create_run("0", "bench", 1700000000000, {}, "upload").info.run_id;
  std::vector<Metric> batch;
  for (std::int64_t i = 0; i < n; ++i) {
    const Point p = point(i);
    batch.push_back(Metric{*p.key, p.value, p.timestamp, p.step});
    if (static_cast<std::int64_t>(batch.size()) == kBatch || i == n - 1) {
      store->log_batch(run_id, batch, {}, {});
      batch.clear();
    }
  }
  server.loopback().start();
  const auto t0 = std::chrono::steady_clock::now();
  while (!store->wait_uploaded(std::chrono::seconds(120))) {
    // The pass that was under way when the server came back failed: the next one delivers.
    if (seconds(t0, std::chrono::steady_clock::now()) > 600) throw std::runtime_error("upload did not finish");
  }
  const auto t1 = std::chrono::steady_clock::now();
  server.forget_requests();
  std::string server_run_id = run_id;
  if (kind == ServerKind::fake) server_run_id = store->get_run(run_id).info.run_id;
  if (server.delivered(server_run_id) < n) throw std::runtime_error("the server holds fewer points than sent");
  return seconds(t0, t1);
}

void warm_up(ServerKind kind) {
  static bool done[2] = {false, false};
  if (done[static_cast<int>(kind)]) return;
  done[static_cast<int>(kind)] = true;
  const std::int64_t n = std::max<std::int64_t>(upload_points(kind) / 10, 1000);
  upload_once(kind, n);
  raw_send_once(kind, n);
}

/// The uploader: a SpooledStore logs n points while the server is down (into the spool), then the server comes
/// back and the store's own uploader thread delivers the backlog; timed from the server's return until
/// wait_uploaded() reports everything acknowledged.
void BM_Upload_Uploader(benchmark::State& state, ServerKind kind) {
  const std::int64_t n = upload_points(kind);
  double total = 0;
  for (auto _ : state) {
    try {
      warm_up(kind);
      const double elapsed = upload_once(kind, n);
      state.SetIterationTime(elapsed);
      total += elapsed;
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (total > 0) report_rate(state, n * static_cast<std::int64_t>(state.iterations()), total);
}

/// Sync: a spool holding one finished run of n points (not owned by any live process), delivered by run_sync
/// as `mlflow-cpp sync` does: the run is created on the server, then every point is sent and acknowledged.
void BM_Sync(benchmark::State& state) {
  const std::int64_t n = config().sync_points;
  double total = 0;
  for (auto _ : state) {
    AckServer server;
    ScratchDir dir("sync");
    const std::string path = dir.file("spool.db");
    try {
      {
        spool::Spool sp(path);
        spool::RunRecord run;
        run.local_run_id = spool::new_local_id();
        run.target_uri = server.url();
        run.experiment_id = "0";
        run.run_name = "sync";
        run.user_id = "bench";
        run.start_time = 1700000000000;
        sp.add_run(run);
        for (std::int64_t begin = 0; begin < n; begin += kBatch) {
          const std::int64_t count = std::min(kBatch, n - begin);
          sp.append(static_cast<std::size_t>(count), [&](std::size_t k) {
            const Point p = point(begin + static_cast<std::int64_t>(k));
            spool::ItemView v;
            v.run_key = run.run_key;
            v.kind = spool::ItemKind::metric;
            v.key = *p.key;
            v.value = p.value;
            v.timestamp = p.timestamp;
            v.step = p.step;
            return v;
          });
        }
        sp.set_terminal(run.run_key, "FINISHED", 1700000001000);
      }
      sync::SyncOptions options;
      options.spool_path = path;
      options.to = server.url();
      const auto t0 = std::chrono::steady_clock::now();
      const sync::SyncReport report = sync::run_sync(options);
      const auto t1 = std::chrono::steady_clock::now();
      if (report.exit_code() != 0 || report.items_sent != n) {
        throw std::runtime_error("sync delivered " + std::to_string(report.items_sent) + " of " + std::to_string(n) +
                                 " points" + (report.error.empty() ? "" : ": " + report.error));
      }
      state.SetIterationTime(seconds(t0, t1));
      total += seconds(t0, t1);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (total > 0) {
    report_rate(state, n * static_cast<std::int64_t>(state.iterations()), total);
    state.counters["seconds"] = total / static_cast<double>(state.iterations());
  }
}

}  // namespace

void register_upload() {
  const Config& c = config();
  // Alternated, so that all three see the same load from whatever else runs on the machine.
  for (int i = 0; i < c.heavy_repetitions; ++i) {
    benchmark::RegisterBenchmark("upload/uploader", BM_Upload_Uploader, ServerKind::ack)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("upload/raw_sender", BM_Upload_RawSender, ServerKind::ack)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("upload/http_client_sender", BM_Upload_HttpClient)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (int i = 0; i < c.heavy_repetitions; ++i) {
    benchmark::RegisterBenchmark("upload_fake_server/uploader", BM_Upload_Uploader, ServerKind::fake)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("upload_fake_server/raw_sender", BM_Upload_RawSender, ServerKind::fake)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("sync/spool_to_server", BM_Sync)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace mlflow::bench
