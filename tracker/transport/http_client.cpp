#include "tracker/transport/http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <cmath>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "mlflow/error.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow::transport {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
/// A request body lent by the caller (written from its buffer, not copied).
using BorrowedBody = http::span_body<char const>;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------------------------
// URI helpers

std::string BaseUri::host_port() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string BaseUri::display() const { return std::string(tls ? "https://" : "http://") + host_port() + path_prefix; }

BaseUri parse_base_uri(const std::string& uri) {
  auto invalid = [&](const std::string& why) -> MlflowError {
    // The URI may carry credentials, in a form that may not parse: everything before the last '@' is masked.
    const std::string shown = mask_userinfo(uri);
    return MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                       "Invalid tracking URI '" + shown + "': " + why +
                           ". Expected http://host[:port][/prefix] or https://host[:port][/prefix].");
  };
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) throw invalid(parsed.error().message());
  const boost::urls::url_view& u = *parsed;
  BaseUri out;
  std::string scheme(u.scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme == "https") {
    out.tls = true;
  } else if (scheme != "http") {
    throw invalid("the scheme must be http or https");
  }
  out.host = u.host_address();
  if (out.host.empty()) throw invalid("no host");
  if (u.host_type() == boost::urls::host_type::name) {
    // host_address() is percent-decoded: "%00" or "%2F" would put a NUL or a '/' into the name handed to the
    // resolver and to TLS verification. DNS names hold letters, digits, '-', '.' (and '_' in practice).
    for (const char c : out.host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' && c != '~') {
        throw invalid("the host name holds a character no host name can hold (byte 0x" +
                      std::string(1, "0123456789ABCDEF"[static_cast<unsigned char>(c) >> 4]) +
                      std::string(1, "0123456789ABCDEF"[static_cast<unsigned char>(c) & 0x0F]) + ")");
      }
    }
  }
  if (u.has_port()) {
    if (u.port().empty() || u.port_number() == 0) throw invalid("bad port");
    out.port = u.port_number();
  } else {
    out.port = out.tls ? 443 : 80;
  }
  if (u.has_userinfo()) {
    out.userinfo_user = u.user();
    out.userinfo_password = u.password();
  }
  std::string path(u.encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.empty() && path.front() != '/') path.insert(path.begin(), '/');
  out.path_prefix = path;
  return out;
}

std::string percent_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0x0F];
    }
  }
  return out;
}

namespace {

std::string base64(std::string_view in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  const double s = static_cast<double>(ms.count()) / 1000.0;
  auto res = std::to_chars(buf, buf + sizeof buf, s, std::chars_format::fixed, s >= 1.0 ? 1 : 3);
  std::string out(buf, res.ptr);
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out + " s";
}

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value) {
  if (value.empty()) return std::nullopt;
  double seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && ptr == value.data() + value.size()) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(seconds, 1e9) * 1000.0));
  }
  std::tm tm{};
  const char* end = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  const std::time_t when = timegm(&tm);
  const std::time_t now = std::time(nullptr);
  return std::chrono::milliseconds(std::max<std::int64_t>(0, static_cast<std::int64_t>(when - now)) * 1000);
}

bool retryable_status(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// urllib3 honours Retry-After on these (413 only when the header is present).
bool retry_after_status(int status) { return status == 413 || status == 429 || status == 503; }

enum class FailKind {
  resolve, refused, connect, connect_timeout, tls, tls_closed, closed, timeout, protocol, budget,
  local_file,  // a streamed body's local file could not be read or written
};

struct Failure {
  FailKind kind = FailKind::closed;
  error_code ec;
  std::string detail;
  bool retryable = true;
};

struct Attempt {
  std::optional<Response> response;
  Failure failure;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

struct HttpClient::Impl {
  BaseUri uri;
  Options opt;
  std::string authorization;  // the full header value; never printed
  net::io_context ioc{1};
  std::unique_ptr<ssl::context> ssl_ctx;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::mutex connection_mutex;
  std::atomic<std::size_t> opened{0};
  std::mutex rng_mutex;
  std::mt19937_64 rng{std::random_device{}()};

  bool is_open() const {
    if (secure) return beast::get_lowest_layer(*secure).socket().is_open();
    if (plain) return plain->socket().is_open();
    return false;
  }

  void close() {
    error_code ignored;
    if (secure) {
      auto& sock = beast::get_lowest_layer(*secure).socket();
      sock.shutdown(tcp::socket::shutdown_both, ignored);
      sock.close(ignored);
    }
    if (plain) {
      plain->socket().shutdown(tcp::socket::shutdown_both, ignored);
      plain->socket().close(ignored);
    }
    secure.reset();
    plain.reset();
    buffer.consume(buffer.size());
  }

  void run() {
    ioc.restart();
    ioc.run();
  }

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  std::optional<Failure> connect(Clock::time_point budget_deadline) {
    close();
    const auto timeout_deadline = Clock::now() + opt.request_timeout;
    const bool budget_bound = budget_deadline < timeout_deadline;
    const auto deadline = std::min(timeout_deadline, budget_deadline);
    auto timed_out = [&]() {
      Failure f{budget_bound ? FailKind::budget : FailKind::connect_timeout, beast::error::timeout, {}, true};
      return f;
    };

    // Resolve (skipped for IP literals, which need no resolver thread).
    std::vector<tcp::endpoint> endpoints;
    error_code addr_ec;
    auto address = net::ip::make_address(uri.host, addr_ec);
    if (!addr_ec) {
      endpoints.emplace_back(address, uri.port);
    } else {
      tcp::resolver resolver(ioc);
      net::steady_timer timer(ioc);
      error_code resolve_ec;
      bool resolved = false;
      bool expired = false;
      timer.expires_at(deadline);
      resolver.async_resolve(uri.host, std::to_string(uri.port),
                             [&](const error_code& ec, const tcp::resolver::results_type& results) {
                               resolved = true;
                               resolve_ec = ec;
                               for (const auto& r : results) endpoints.push_back(r.endpoint());
                               timer.cancel();
                             });
      timer.async_wait([&](const error_code& ec) {
        if (!ec && !resolved) {
          expired = true;
          resolver.cancel();
        }
      });
      run();
      if (expired) return timed_out();
      if (resolve_ec || endpoints.empty()) {
        return Failure{FailKind::resolve, resolve_ec, resolve_ec ? resolve_ec.message() : "no addresses", true};
      }
    }

    if (uri.tls) {
      secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, *ssl_ctx);
    } else {
      plain = std::make_unique<beast::tcp_stream>(ioc);
    }
    error_code ec;
    lowest().expires_at(deadline);
    lowest().async_connect(endpoints, [&](const error_code& e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) {
      close();
      if (ec == beast::error::timeout) return timed_out();
      if (ec == net::error::connection_refused) return Failure{FailKind::refused, ec, "connection refused", true};
      return Failure{FailKind::connect, ec, ec.message(), true};
    }
    ++opened;

    if (uri.tls) {
      SSL* native = secure->native_handle();
      const bool is_ip = !addr_ec;
      // SNI is for host names only (RFC 6066); the peer check covers both names and IP literals.
      if (!is_ip) SSL_set_tlsext_host_name(native, uri.host.c_str());
      if (!opt.insecure_tls) {
        X509_VERIFY_PARAM* param = SSL_get0_param(native);
        if (is_ip) {
          X509_VERIFY_PARAM_set1_ip_asc(param, uri.host.c_str());
        } else {
          X509_VERIFY_PARAM_set1_host(param, uri.host.c_str(), 0);
        }
      }
      lowest().expires_at(deadline);
      secure->async_handshake(ssl::stream_base::client, [&](const error_code& e) { ec = e; });
      run();
      if (ec) {
        const long verify = SSL_get_verify_result(native);
        std::string detail = ec.message();
        if (verify != X509_V_OK) detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        close();
        if (ec == beast::error::timeout) return timed_out();
        // A refused certificate or a non-TLS peer will not change on a retry; a dropped connection may.
        const bool tls_verdict = ec.category() == net::error::get_ssl_category();
        return Failure{tls_verdict ? FailKind::tls : FailKind::tls_closed, ec, detail, !tls_verdict};
      }
    }
    return std::nullopt;
  }

  struct Exchange {
    std::optional<Response> response;
    Failure failure;
    bool got_response_bytes = false;
  };

  template <class Stream>
  Exchange exchange_on(Stream& stream, const http::request<BorrowedBody>& req, Clock::time_point deadline,
                       bool budget_bound) {
    Exchange out;
    error_code ec;
    lowest().expires_at(deadline);
    http::async_write(stream, req, [&](const error_code& e, std::size_t) { ec = e; });
    run();
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 30);
    if (!ec) {
      lowest().expires_at(deadline);
      http::async_read(stream, buffer, parser, [&](const error_code& e, std::size_t) { ec = e; });
      run();
      out.got_response_bytes = parser.got_some() || buffer.size() > 0;
    }
    if (ec) {
      if (ec == beast::error::timeout) {
        out.failure = Failure{budget_bound ? FailKind::budget : FailKind::timeout, ec, {}, true};
      } else if (ec.category() == error_code(http::error::end_of_stream).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        out.failure = Failure{FailKind::protocol, ec, ec.message(), false};
      } else {
        out.failure = Failure{FailKind::closed, ec, ec.message(), true};
      }
      return out;
    }
    lowest().expires_never();
    const auto& msg = parser.get();
    Response r;
    r.status = static_cast<int>(msg.result_int());
    r.reason = std::string(msg.reason());
    if (auto it = msg.find(http::field::content_type); it != msg.end()) r.content_type = std::string(it->value());
    if (auto it = msg.find(http::field::retry_after); it != msg.end()) r.retry_after = std::string(it->value());
    if (auto it = msg.find(http::field::location); it != msg.end()) r.location = std::string(it->value());
    const bool keep = msg.keep_alive();
    r.body = std::move(parser.get().body());
    out.response = std::move(r);
    if (!keep) close();  // gunicorn (MLflow 2.x) answers Connection: close; that is normal, not an error
    return out;
  }

  Exchange exchange(const http::request<BorrowedBody>& req, Clock::time_point budget_deadline) {
    const auto timeout_deadline = Clock::now() + opt.request_timeout;
    const bool budget_bound = budget_deadline < timeout_deadline;
    const auto deadline = std::min(timeout_deadline, budget_deadline);
    if (secure) return exchange_on(*secure, req, deadline, budget_bound);
    return exchange_on(*plain, req, deadline, budget_bound);
  }

  Attempt attempt(const http::request<BorrowedBody>& req, Clock::time_point budget_deadline) {
    return attempt_with(budget_deadline, [&] { return exchange(req, budget_deadline); });
  }

  /// One attempt on the connection; `run_exchange()` writes the request and reads the answer.
  template <class ExchangeFn>
  Attempt attempt_with(Clock::time_point budget_deadline, ExchangeFn&& run_exchange) {
    std::lock_guard<std::mutex> lock(connection_mutex);
    const bool reused = is_open();
    if (!reused) {
      if (auto f = connect(budget_deadline)) return Attempt{std::nullopt, *f};
    }
    Exchange ex = run_exchange();
    if (ex.response) return Attempt{std::move(ex.response), {}};
    close();
    if (reused && !ex.got_response_bytes && ex.failure.kind == FailKind::closed) {
      // A kept-alive connection the server closed while idle fails on first use without a byte of answer:
      // open a fresh one and send once more. This is not a retry; the request most likely never arrived.
      if (auto f = connect(budget_deadline)) return Attempt{std::nullopt, *f};
      ex = run_exchange();
      if (ex.response) return Attempt{std::move(ex.response), {}};
      close();
    }
    return Attempt{std::nullopt, ex.failure};
  }

  // ---- streamed bodies (artifact files) ----
  // The deadline rolls: request_timeout without progress rather than for the whole exchange, so that a large
  // file is limited by a stalled connection and not by its size. Memory stays bounded: Beast's file body reads
  // and writes the file in small pieces.

  template <class Message>
  static void copy_header_fields(Response& r, const Message& msg) {
    r.status = static_cast<int>(msg.result_int());
    r.reason = std::string(msg.reason());
    if (auto it = msg.find(http::field::content_type); it != msg.end()) r.content_type = std::string(it->value());
    if (auto it = msg.find(http::field::retry_after); it != msg.end()) r.retry_after = std::string(it->value());
    if (auto it = msg.find(http::field::location); it != msg.end()) r.location = std::string(it->value());
  }

  template <class Stream, class Parser>
  void read_body_rolling(Stream& stream, Parser& parser, error_code& ec) {
    while (!ec && !parser.is_done()) {
      lowest().expires_after(opt.request_timeout);
      http::async_read_some(stream, buffer, parser, [&](const error_code& e, std::size_t) { ec = e; });
      run();
    }
  }

  /// Writes `req` (any body type) and reads the answer; a 2xx body goes to `download_path` when given.
  template <class Stream, class Body>
  Exchange stream_exchange_on(Stream& stream, http::request<Body>& req, const std::string* download_path) {
    Exchange out;
    error_code ec;
    http::request_serializer<Body> serializer(req);
    while (!ec && !serializer.is_done()) {
      lowest().expires_after(opt.request_timeout);
      http::async_write_some(stream, serializer, [&](const error_code& e, std::size_t) { ec = e; });
      run();
    }
    http::response_parser<http::empty_body> head;
    head.body_limit(boost::none);  // checked against Content-Length when the header is read; set per body below
    if (!ec) {
      lowest().expires_after(opt.request_timeout);
      http::async_read_header(stream, buffer, head, [&](const error_code& e, std::size_t) { ec = e; });
      run();
      out.got_response_bytes = head.got_some() || buffer.size() > 0;
    }
    Response r;
    bool keep = false;
    if (!ec) {
      if (download_path != nullptr && head.get().result_int() / 100 == 2) {
        http::response_parser<http::file_body> parser(std::move(head));
        parser.body_limit(boost::none);
        error_code open_ec;
        parser.get().body().open(download_path->c_str(), beast::file_mode::write, open_ec);
        if (open_ec) {
          close();
          out.failure = Failure{FailKind::local_file, open_ec, "cannot write " + *download_path + ": " + open_ec.message(),
                                false};
          return out;
        }
        read_body_rolling(stream, parser, ec);
        if (!ec) {
          copy_header_fields(r, parser.get());
          keep = parser.get().keep_alive();
        }
      } else {
        http::response_parser<http::string_body> parser(std::move(head));
        parser.body_limit(std::uint64_t{1} << 30);
        read_body_rolling(stream, parser, ec);
        if (!ec) {
          copy_header_fields(r, parser.get());
          r.body = std::move(parser.get().body());
          keep = parser.get().keep_alive();
        }
      }
    }
    if (ec) {
      if (ec == beast::error::timeout) {
        out.failure = Failure{FailKind::timeout, ec, {}, true};
      } else if (ec.category() == error_code(http::error::end_of_stream).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        out.failure = Failure{FailKind::protocol, ec, ec.message(), false};
      } else {
        out.failure = Failure{FailKind::closed, ec, ec.message(), true};
      }
      return out;
    }
    lowest().expires_never();
    out.response = std::move(r);
    if (!keep) close();
    return out;
  }

  template <class Body>
  Exchange stream_exchange(http::request<Body>& req, const std::string* download_path) {
    if (secure) return stream_exchange_on(*secure, req, download_path);
    return stream_exchange_on(*plain, req, download_path);
  }

  std::chrono::milliseconds backoff(int retry_number) {
    // urllib3 >= 2: no sleep before the first retry, then factor * 2^(n-1) plus jitter, capped.
    if (retry_number <= 1) return std::chrono::milliseconds(0);
    double seconds = opt.backoff_factor * std::pow(2.0, retry_number - 1);
    if (opt.backoff_jitter > 0) {
      std::lock_guard<std::mutex> lock(rng_mutex);
      seconds += std::uniform_real_distribution<double>(0.0, opt.backoff_jitter)(rng);
    }
    auto ms = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
    return std::min(ms, opt.max_backoff);
  }

  std::string short_reason(const Failure& f) const {
    switch (f.kind) {
      case FailKind::refused: return "connection refused";
      case FailKind::timeout: return "no answer within " + seconds_text(opt.request_timeout) + " (MLFLOW_HTTP_REQUEST_TIMEOUT)";
      case FailKind::connect_timeout: return "connecting timed out after " + seconds_text(opt.request_timeout);
      case FailKind::closed: return "connection closed before a complete answer (" + f.detail + ")";
      case FailKind::tls_closed: return "connection closed during the TLS handshake (" + f.detail + ")";
      default: return f.detail;
    }
  }

  std::string what_asked(const Request& request) const {
    std::string path = request.target.substr(0, request.target.find('?'));
    return request.method + " " + uri.path_prefix + path;
  }

  MlflowError failure_error(const Failure& f, const Request& request, int attempts, std::chrono::milliseconds elapsed) const {
    const std::string where = uri.host_port();
    const std::string asked = what_asked(request);
    std::string tries = attempts > 1 ? " (after " + std::to_string(attempts) + " attempts in " + seconds_text(elapsed) + ")"
                                     : "";
    const std::string check_uri = " Check MLFLOW_TRACKING_URI (now " + uri.display() + ").";
    switch (f.kind) {
      case FailKind::resolve:
        return MlflowError(ErrorCode::TEMPORARILY_UNAVAILABLE,
                           "Could not resolve the host of the MLflow tracking server " + where + " for " + asked +
                               ": " + f.detail + tries + "." + check_uri);
      case FailKind::refused:
        return MlflowError(ErrorCode::TEMPORARILY_UNAVAILABLE,
                           "Could not connect to the MLflow tracking server at " + where + " for " + asked +
                               ": connection refused" + tries + ". Is the server running?" + check_uri);
      case FailKind::connect:
        return MlflowError(ErrorCode::TEMPORARILY_UNAVAILABLE,
                           "Could not connect to the MLflow tracking server at " + where + " for " + asked + ": " +
                               f.detail + tries + ". Is the server running and reachable from here?" + check_uri);
      case FailKind::connect_timeout:
        return MlflowError(ErrorCode::DEADLINE_EXCEEDED,
                           "Connecting to the MLflow tracking server at " + where + " for " + asked +
                               " timed out after " + seconds_text(opt.request_timeout) + tries +
                               ". Is the server running and reachable (firewall, proxy)?" + check_uri +
                               " The limit is MLFLOW_HTTP_REQUEST_TIMEOUT (seconds).");
      case FailKind::tls:
        return MlflowError(ErrorCode::IO_ERROR,
                           "TLS handshake with the MLflow tracking server at " + where + " failed: " + f.detail +
                               ". If the server's certificate is self-signed or from a private CA, set "
                               "MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle (PEM), or set "
                               "MLFLOW_TRACKING_INSECURE_TLS=true to skip verification (insecure). If the server "
                               "does not speak TLS, use an http:// tracking URI." +
                               check_uri);
      case FailKind::tls_closed:
        return MlflowError(ErrorCode::TEMPORARILY_UNAVAILABLE,
                           "The server at " + where + " closed the connection during the TLS handshake for " + asked +
                               ": " + f.detail + tries + ". Does it speak TLS on this port? If not, use an http:// "
                               "tracking URI." + check_uri);
      case FailKind::closed:
        return MlflowError(ErrorCode::TEMPORARILY_UNAVAILABLE,
                           "The MLflow tracking server at " + where + " closed the connection before a complete "
                               "answer to " + asked + ": " + f.detail + tries +
                               ". Is the server running and healthy? A proxy in between may also drop requests." +
                               check_uri);
      case FailKind::timeout:
        return MlflowError(ErrorCode::DEADLINE_EXCEEDED,
                           "The MLflow tracking server at " + where + " did not answer " + asked + " within " +
                               seconds_text(opt.request_timeout) + tries +
                               ". The server may be overloaded or unreachable; if it is only slow, raise "
                               "MLFLOW_HTTP_REQUEST_TIMEOUT (seconds)." + check_uri);
      case FailKind::protocol:
        return MlflowError(ErrorCode::IO_ERROR,
                           "The server at " + where + " did not answer " + asked + " with valid HTTP: " + f.detail +
                               ". Check the scheme (http or https) and the port." + check_uri);
      case FailKind::local_file:
        return MlflowError(ErrorCode::IO_ERROR, "Could not stream " + asked + " to or from a local file: " + f.detail);
      case FailKind::budget:
        break;
    }
    return MlflowError(ErrorCode::DEADLINE_EXCEEDED,
                       "Gave up on " + asked + " to the MLflow tracking server at " + where + " after " +
                           std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts") + " in " +
                           seconds_text(elapsed) + ": the time budget of one call (" +
                           seconds_text(opt.total_timeout) + ", MLFLOW_CPP_HTTP_TOTAL_TIMEOUT) is spent" +
                           (f.detail.empty() ? std::string() : "; last error: " + f.detail) +
                           ". Is the server running and healthy?" + check_uri);
  }
};

// ---------------------------------------------------------------------------------------------------------------

HttpClient::HttpClient(const std::string& base_uri, Options options) : impl_(std::make_unique<Impl>()) {
  options.validate();
  impl_->uri = parse_base_uri(base_uri);
  impl_->opt = std::move(options);
  const Options& o = impl_->opt;
  // A line break in a credential would split the Authorization header; say which setting, never its value.
  auto check_credential = [](const std::string& value, const char* what) {
    if (value.find_first_of("\r\n") != std::string::npos) {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                        std::string(what) + " contains a line break; remove it (a trailing newline from a file?).");
    }
  };
  check_credential(o.username, "MLFLOW_TRACKING_USERNAME");
  check_credential(o.password, "MLFLOW_TRACKING_PASSWORD");
  check_credential(o.token, "MLFLOW_TRACKING_TOKEN");
  if (!o.username.empty() && !o.password.empty()) {
    impl_->authorization = "Basic " + base64(o.username + ":" + o.password);
  } else if (!o.token.empty()) {
    impl_->authorization = "Bearer " + o.token;
  } else if (!impl_->uri.userinfo_user.empty()) {
    impl_->authorization = "Basic " + base64(impl_->uri.userinfo_user + ":" + impl_->uri.userinfo_password);
  }
  if (impl_->uri.tls) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3);
    error_code ec;
    if (o.insecure_tls) {
      ctx->set_verify_mode(ssl::verify_none);
    } else {
      ctx->set_verify_mode(ssl::verify_peer);
      if (!o.server_cert_path.empty()) {
        ctx->load_verify_file(o.server_cert_path, ec);
        if (ec) {
          throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                            "Cannot load the CA bundle MLFLOW_TRACKING_SERVER_CERT_PATH='" + o.server_cert_path +
                                "': " + ec.message() + ". It must be a readable PEM file.");
        }
      } else {
        ctx->set_default_verify_paths(ec);
      }
    }
    if (!o.client_cert_path.empty()) {
      ctx->use_certificate_chain_file(o.client_cert_path, ec);
      if (!ec) ctx->use_private_key_file(o.client_cert_path, ssl::context::pem, ec);
      if (ec) {
        throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                          "Cannot load the client certificate MLFLOW_TRACKING_CLIENT_CERT_PATH='" +
                              o.client_cert_path + "': " + ec.message() +
                              ". It must be one PEM file holding the certificate and its private key.");
      }
    }
    impl_->ssl_ctx = std::move(ctx);
  }
}

HttpClient::~HttpClient() {
  if (impl_) impl_->close();
}

const BaseUri& HttpClient::base_uri() const noexcept { return impl_->uri; }
const Options& HttpClient::options() const noexcept { return impl_->opt; }
std::size_t HttpClient::connections_opened() const { return impl_->opened.load(); }

namespace {

// The request line and headers every request carries (Impl is deduced: it is private to HttpClient).
template <class Body, class ImplT>
http::request<Body> make_request(const ImplT& d, const Request& request) {
  http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    throw MlflowError(ErrorCode::INTERNAL_ERROR, "Unknown HTTP method '" + request.method + "'");
  }
  http::request<Body> req{verb, d.uri.path_prefix + request.target, 11};
  const bool default_port = d.uri.port == (d.uri.tls ? 443 : 80);
  std::string host = d.uri.host.find(':') != std::string::npos ? "[" + d.uri.host + "]" : d.uri.host;
  if (!default_port) host += ":" + std::to_string(d.uri.port);
  req.set(http::field::host, host);
  req.set(http::field::user_agent, d.opt.user_agent);
  req.set(http::field::accept, "application/json");
  if (!d.authorization.empty()) req.set(http::field::authorization, d.authorization);
  if (!request.content_type.empty()) req.set(http::field::content_type, request.content_type);
  req.keep_alive(true);
  return req;
}

// Retries, back-off and the time budget around `attempt(budget_deadline)`, for every kind of body.
template <class ImplT, class AttemptFn>
Response send_with_retries(ImplT& d, const Request& request, AttemptFn&& attempt) {
  const auto start = Clock::now();
  const auto budget_deadline = start + d.opt.total_timeout;
  int retries_done = 0;
  for (;;) {
    const int attempts = retries_done + 1;
    Attempt a = attempt(budget_deadline);
    std::chrono::milliseconds sleep{0};
    if (a.response) {
      Response r = std::move(*a.response);
      r.attempts = attempts;
      r.elapsed = since(start);
      const bool has_retry_after = d.opt.respect_retry_after && retry_after_status(r.status) &&
                                   parse_retry_after(r.retry_after).has_value();
      if (!retryable_status(r.status) && !(r.status == 413 && has_retry_after)) return r;
      if (retries_done >= d.opt.max_retries) {
        r.gave_up_reason = "gave up after " + std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts") +
                           " in " + seconds_text(r.elapsed) + ", MLFLOW_HTTP_REQUEST_MAX_RETRIES=" +
                           std::to_string(d.opt.max_retries);
        return r;
      }
      sleep = d.backoff(retries_done + 1);
      if (has_retry_after) {
        const auto asked = *parse_retry_after(r.retry_after);
        if (asked.count() > 0) sleep = asked;
      }
      if (Clock::now() + sleep >= budget_deadline) {
        r.gave_up_reason = "gave up after " + std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts") +
                           " in " + seconds_text(r.elapsed) + ": waiting " + seconds_text(sleep) +
                           " more would pass the time budget of one call (" + seconds_text(d.opt.total_timeout) +
                           ", MLFLOW_CPP_HTTP_TOTAL_TIMEOUT)";
        return r;
      }
    } else {
      const Failure& f = a.failure;
      if (f.kind == FailKind::budget || !f.retryable || retries_done >= d.opt.max_retries) {
        throw d.failure_error(f, request, attempts, since(start));
      }
      sleep = d.backoff(retries_done + 1);
      if (Clock::now() + sleep >= budget_deadline) {
        Failure budget = f;
        budget.kind = FailKind::budget;
        budget.detail = d.short_reason(f);
        throw d.failure_error(budget, request, attempts, since(start));
      }
    }
    if (sleep.count() > 0) std::this_thread::sleep_for(sleep);
    ++retries_done;
  }
}

}  // namespace

Response HttpClient::send(const Request& request) {
  Impl& d = *impl_;
  auto req = make_request<BorrowedBody>(d, request);
  // The body is written from the caller's buffer, not copied: log-batch bodies are tens of kilobytes.
  req.body() = BorrowedBody::value_type(request.body.data(), request.body.size());
  if (!request.body.empty() || req.method() == http::verb::post || req.method() == http::verb::put) {
    req.prepare_payload();
  }
  return send_with_retries(d, request, [&](Clock::time_point budget_deadline) { return d.attempt(req, budget_deadline); });
}

Response HttpClient::send_file(const Request& request, const std::string& body_path) {
  Impl& d = *impl_;
  auto req = make_request<http::file_body>(d, request);
  error_code ec;
  req.body().open(body_path.c_str(), beast::file_mode::scan, ec);
  if (ec) {
    throw MlflowError(ErrorCode::IO_ERROR, "Cannot read the file " + body_path + " to send it with " +
                                               request.method + " " + d.uri.path_prefix + request.target + ": " +
                                               ec.message());
  }
  req.prepare_payload();
  return send_with_retries(d, request, [&](Clock::time_point budget_deadline) {
    return d.attempt_with(budget_deadline, [&] {
      // Every attempt sends the file from its start.
      error_code seek_ec;
      req.body().file().seek(0, seek_ec);
      if (seek_ec) {
        Impl::Exchange failed;
        failed.failure = Failure{FailKind::local_file, seek_ec, "cannot rewind " + body_path + ": " + seek_ec.message(),
                                 false};
        return failed;
      }
      return d.stream_exchange(req, nullptr);
    });
  });
}

Response HttpClient::download(const Request& request, const std::string& dst_path) {
  Impl& d = *impl_;
  auto req = make_request<http::empty_body>(d, request);
  return send_with_retries(d, request, [&](Clock::time_point budget_deadline) {
    return d.attempt_with(budget_deadline, [&] { return d.stream_exchange(req, &dst_path); });
  });
}

}  // namespace mlflow::transport
