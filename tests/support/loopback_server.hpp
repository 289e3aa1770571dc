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
};

struct Response {
  int status = 200;
  std::string body = "{}";
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;  ///< extra headers, e.g. {"Retry-After", "1"}
};

/// Faults applied to the next requests, consumed one per request (FIFO). Thread-safe to push while running.
enum class Fault {
  none,
  reset_before_response,   ///< read the request, then close the socket without answering
  reset_mid_response,      ///< send status line + part of the body, then close
  delay,                   ///< sleep `delay` before answering (to pass a client deadline)
  status_503_retry_after,  ///< answer 503 with Retry-After: retry_after_seconds and a JSON error
  status_500,              ///< answer 500 INTERNAL_ERROR JSON
  malformed_json,          ///< answer 200 with a truncated JSON body
  html_404,                ///< answer an HTML 404 page as Flask does
  close_after_response,    ///< answer normally, then close the keep-alive connection (idle close)
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
  std::string cert_pem;  ///< PEM text (not path) of the server certificate
  std::string key_pem;   ///< PEM text of its private key
  bool keep_alive = true;
};

/// The loopback server. Thread-safe: handler calls are serialised; faults and records may be read from tests.
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
  /// Stop accepting and close everything (simulates the server going down); start() brings it back on the
  /// same port.
  void stop();
  void start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Makes a self-signed certificate for CN=127.0.0.1 / subjectAltName IP:127.0.0.1 (and DNS:localhost) with
/// OpenSSL, valid 1 day. Returns {cert_pem, key_pem}.
std::pair<std::string, std::string> make_self_signed_cert();

}  // namespace mlflow::test
