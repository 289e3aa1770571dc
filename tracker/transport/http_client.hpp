#pragma once
// A blocking HTTP(S) client for one MLflow tracking server: keep-alive, deadlines, retries, auth, TLS.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tracker/transport/options.hpp"

namespace mlflow::transport {

/// The parts of a tracking URI the transport needs. Userinfo ("user:pass@") is taken out of every field
/// that may be printed. A value type.
struct BaseUri {
  bool tls = false;
  std::string host;         ///< without brackets for IPv6 literals
  std::uint16_t port = 0;   ///< 80/443 when the URI has none
  std::string path_prefix;  ///< "" or "/prefix" (no trailing slash), kept percent-encoded as given
  std::string userinfo_user;
  std::string userinfo_password;

  /// "host:port" (IPv6 in brackets), for messages.
  std::string host_port() const;
  /// "http(s)://host:port/prefix" without credentials, for messages.
  std::string display() const;
};

/// Parses "http(s)://[user:pass@]host[:port][/prefix]"; throws MlflowError(INVALID_PARAMETER_VALUE) otherwise.
BaseUri parse_base_uri(const std::string& uri);

/// Percent-encodes a query-string component (RFC 3986 unreserved characters pass through).
std::string percent_encode(std::string_view text);

/// One request, relative to the base URI.
struct Request {
  std::string method = "GET";  ///< "GET", "POST", ...
  std::string target;          ///< "/api/2.0/mlflow/runs/get?run_id=..." (the base path prefix is prepended)
  std::string body;
  std::string content_type;    ///< sent only when non-empty
};

/// The final answer of the server (after retries).
struct Response {
  int status = 0;
  std::string reason;
  std::string content_type;
  std::string body;
  std::string retry_after;  ///< the Retry-After header, if any
  std::string location;     ///< the Location header, if any (redirects are not followed)
  int attempts = 1;         ///< how many attempts the call took
  std::chrono::milliseconds elapsed{0};
  /// Set when a retryable status was returned because retries or the time budget ran out.
  std::string gave_up_reason;
};

/// An HTTP(S) client bound to one base URI, holding one keep-alive connection. Blocking calls with deadlines
/// (async operations on a private io_context). Thread-safe: requests from several threads are serialised on the
/// connection; back-off sleeps do not hold the lock.
class HttpClient {
 public:
  /// Throws MlflowError(INVALID_PARAMETER_VALUE) for a bad URI or options, and for unreadable TLS files.
  HttpClient(const std::string& base_uri, Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends with retries and returns the server's answer, whatever its status. A status MLflow retries (408, 429,
  /// 500, 502, 503, 504) is returned only when retries or the time budget are exhausted. Transport failures
  /// (refused, reset, timeout, TLS) that outlast the retries throw MlflowError with a message naming host:port and
  /// what to check: TEMPORARILY_UNAVAILABLE (no connection), DEADLINE_EXCEEDED (timeout), IO_ERROR (TLS or a
  /// non-HTTP answer). Credentials never appear in messages.
  Response send(const Request& request);

  /// send() with the request body streamed from the file `body_path` (request.body is ignored): the file is read
  /// in small pieces, never whole, and from its start again on every attempt. The per-exchange deadline rolls
  /// (request_timeout without progress), so large files are not cut by their size. Throws MlflowError(IO_ERROR)
  /// naming the file when it cannot be read.
  Response send_file(const Request& request, const std::string& body_path);
  /// send() with the body of a 2xx answer streamed into the file `dst_path` (created or truncated on each attempt;
  /// Response::body stays empty); other answers come back with their body as from send(). Same rolling deadline.
  /// A file that cannot be written: MlflowError(IO_ERROR).
  Response download(const Request& request, const std::string& dst_path);

  const BaseUri& base_uri() const noexcept;
  const Options& options() const noexcept;
  /// Connections opened so far (diagnostics and tests).
  std::size_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlflow::transport
