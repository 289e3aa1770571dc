#pragma once
// A deliberately plain HTTP(S)/1.1 client for testing the test servers themselves (not the project's transport):
// one connection, reused while the server keeps it alive, every operation bounded by a deadline, no retries.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace mlflow::test {

/// What came back.
struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  bool keep_alive = false;                     ///< the server left the connection open
  int interim_responses = 0;                   ///< 1xx answers read before this one (100 Continue)
};

/// Thrown on any transport failure (refused, reset, timeout, truncated, TLS). `code` is the Beast/Asio/SSL error.
class HttpTransportError : public std::runtime_error {
 public:
  HttpTransportError(const std::string& what, std::string code_message, std::string category)
      : std::runtime_error(what), code_message_(std::move(code_message)), category_(std::move(category)) {}
  const std::string& code_message() const { return code_message_; }
  const std::string& category() const { return category_; }

 private:
  std::string code_message_;
  std::string category_;
};

/// Blocking client for tests. Not thread-safe: one per test thread.
class TestHttpClient {
 public:
  struct Options {
    bool tls = false;
    bool verify_peer = true;          ///< with tls
    std::string ca_pem;               ///< trusted certificate(s); empty: the system store
    std::string verify_host = "127.0.0.1";  ///< IP or DNS name checked against the certificate; also SNI if a name
    std::chrono::milliseconds timeout{5000};  ///< per connect and per request
  };

  TestHttpClient(std::string host, std::uint16_t port);
  TestHttpClient(std::string host, std::uint16_t port, Options options);
  ~TestHttpClient();
  TestHttpClient(const TestHttpClient&) = delete;
  TestHttpClient& operator=(const TestHttpClient&) = delete;

  /// Sends one request on the open connection (or a new one). Adds Host, Content-Length and, when the body is
  /// not empty and no Content-Type is given, `Content-Type: application/json` (pass {"Content-Type", ""} to omit
  /// it). Throws HttpTransportError.
  HttpResult request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {});
  HttpResult get(const std::string& target) { return request("GET", target); }
  HttpResult post(const std::string& target, const std::string& json) { return request("POST", target, json); }

  bool connected() const;
  std::size_t connects() const;  ///< TCP connections opened so far
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlflow::test
