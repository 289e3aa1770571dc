#pragma once
// A real HTTP/1.1 (and optionally TLS) server on 127.0.0.1 with an ephemeral port, for tests. It runs its own
// thread(s), answers through a handler, and injects faults on demand. It is the double for the MLflow server.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mlflow::test {

/// One request as the server received it (header names lower-cased).
struct RecordedRequest {
  std::string method;
  std::string target;  ///< path + query as sent, e.g. "/api/2.0/mlflow/runs/get?run_id=abc"
  std::string path;    ///< target without the query, percent-decoded
  std::map<std::string, std::string> query;  ///< decoded; repeated keys keep the last value
  std::multimap<std::string, std::string> query_all;
  std::map<std::string, std::string> headers;
  std::string body;
  std::size_t connection_id = 0;  ///< 1-based number of the TCP connection it arrived on (keep-alive reuse checks)
  int http_version = 11;          ///< 10 or 11
};

struct Response {
  int status = 200;
  std::string body = "{}";
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;  ///< extra headers, e.g. {"Retry-After", "1"}
};

/// Faults applied to the next requests, consumed one per request (FIFO). Thread-safe to push while running.
/// Whether the handler runs (and so whether server state changes) is part of each fault's contract.
enum class Fault {
  none,
  reset_before_response,   ///< read the request, then reset the socket (RST) without answering; handler NOT called
  reset_mid_response,      ///< handler called; send headers + half of the body (Content-Length of the whole), then
                           ///< close (FIN): the client sees a truncated message and the server state did change
  delay,                   ///< wait `delay` (asynchronously; other connections are served), then call the handler
                           ///< and answer, even if the client gave up meanwhile
  status_503_retry_after,  ///< answer 503 with Retry-After: retry_after_seconds and a JSON error; handler NOT called
  status_500,              ///< answer 500 INTERNAL_ERROR JSON; handler NOT called
  malformed_json,          ///< handler called; answer 200 application/json with its body cut in half (at least "{")
  html_404,                ///< answer Flask's HTML 404 page; handler NOT called
  proxy_413,               ///< answer nginx's HTML 413 page (a reverse proxy's body size limit); handler NOT called
  close_after_response,    ///< handler called; answer normally (no `Connection: close`), then close (FIN) the
                           ///< connection, as a server does with an idle keep-alive connection
};

struct FaultSpec {
  Fault fault = Fault::none;
  std::chrono::milliseconds delay{0};
  int retry_after_seconds = 1;
};

/// Options: TLS with a PEM cert/key (self-signed, made by the test), and keep-alive vs `Connection: close`
/// on every answer (MLflow 2.x via gunicorn closes; 3.x via uvicorn keeps alive).
struct ServerOptions {
  bool tls = false;
  std::string cert_pem;  ///< PEM text (not path) of the server certificate; empty with tls: one is made
  std::string key_pem;   ///< PEM text of its private key
  bool keep_alive = true;
  /// Close a kept-alive connection that stays idle this long between requests (0: never), as uvicorn does.
  std::chrono::milliseconds idle_timeout{0};
  std::size_t max_body_bytes = 64u << 20;  ///< larger request bodies are answered 413 and the connection closed
};

/// The loopback server. Thread-safe: handler calls are serialised (one I/O thread); faults and records may be
/// pushed and read from tests while it runs.
class LoopbackServer {
 public:
  using Handler = std::function<Response(const RecordedRequest&)>;
  explicit LoopbackServer(Handler handler, ServerOptions options = {});
  ~LoopbackServer();  ///< stops and joins
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::uint16_t port() const;
  /// "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>"
  std::string base_url() const;
  void push_fault(FaultSpec fault);
  void push_fault(Fault fault) { push_fault(FaultSpec{fault}); }
  std::vector<RecordedRequest> requests() const;  ///< every request received, in order
  void clear_requests();
  std::size_t connections_accepted() const;
  std::size_t pending_faults() const;
  void clear_faults();
  /// The options in force (with the generated certificate when tls was asked without one).
  const ServerOptions& options() const;
  bool running() const;
  /// Stop accepting and close everything (simulates the server going down: connects are then refused);
  /// start() brings it back on the same port (SO_REUSEADDR). Both are idempotent and bounded.
  void stop();
  void start();

  struct Impl;  ///< implementation detail (public only so that the .cpp's session types can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

/// Makes a self-signed certificate for CN=127.0.0.1 / subjectAltName IP:127.0.0.1 (and DNS:localhost) with
/// OpenSSL, valid 1 day. Returns {cert_pem, key_pem}.
std::pair<std::string, std::string> make_self_signed_cert();

}  // namespace mlflow::test
