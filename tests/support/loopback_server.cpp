#include "support/loopback_server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <deque>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <type_traits>

namespace mlflow::test {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kShutdownTimeout = std::chrono::milliseconds(500);
// A connection that never sends its first request is dropped after this; it only bounds leaked sessions.
constexpr auto kFirstRequestTimeout = std::chrono::seconds(60);

/// What nginx answers in front of a server when a body exceeds client_max_body_size.
constexpr const char* kNginx413 =
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request "
    "Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
constexpr const char* kFlask404 =
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was "
    "not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";

/// An error page that is not MLflow's JSON (Flask's own, or a proxy's in front of the server).
Response html_page(int status, const char* content_type, const char* body) {
  Response res;
  res.status = status;
  res.content_type = content_type;
  res.body = body;
  return res;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Werkzeug decodes '+' as a space in the query string but not in the path.
std::string percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

RecordedRequest make_record(const http::request<http::string_body>& req, std::size_t connection_id) {
  RecordedRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.connection_id = connection_id;
  r.http_version = static_cast<int>(req.version());
  const auto q = r.target.find('?');
  r.path = percent_decode(std::string_view(r.target).substr(0, q), false);
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(r.target).substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      if (!pair.empty()) {
        const auto eq = pair.find('=');
        std::string key = percent_decode(pair.substr(0, eq), true);
        std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
        r.query[key] = value;
        r.query_all.emplace(std::move(key), std::move(value));
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  for (const auto& field : req) r.headers[lower(field.name_string())] = std::string(field.value());
  r.body = req.body();
  return r;
}

std::string error_json(std::string_view code, std::string_view message) {
  return std::string("{\"error_code\": \"") + std::string(code) + "\", \"message\": \"" + std::string(message) + "\"}";
}

}  // namespace

struct LoopbackServer::Impl {
  Handler handler;
  ServerOptions options;
  std::unique_ptr<ssl::context> ssl_ctx;
  std::uint16_t port = 0;

  mutable std::mutex state_mutex;  // faults, requests
  std::deque<FaultSpec> faults;
  std::vector<RecordedRequest> requests;
  std::atomic<std::size_t> connections{0};
  std::mutex handler_mutex;

  // Everything that lives between start() and stop(): destroying it closes the listener and every connection.
  struct Running {
    net::io_context ioc{1};
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
    tcp::acceptor acceptor{ioc};
    std::thread thread;
  };
  mutable std::mutex lifecycle_mutex;
  std::unique_ptr<Running> running;

  void open(std::uint16_t wanted_port);
  void close();
  void do_accept();

  std::optional<FaultSpec> next_fault() {
    std::lock_guard lock(state_mutex);
    if (faults.empty()) return std::nullopt;
    FaultSpec f = faults.front();
    faults.pop_front();
    return f;
  }
  void record(const RecordedRequest& r) {
    std::lock_guard lock(state_mutex);
    requests.push_back(r);
  }
  Response call_handler(const RecordedRequest& r) {
    std::lock_guard lock(handler_mutex);
    try {
      return handler(r);
    } catch (const std::exception& e) {
      Response res;
      res.status = 500;
      res.body = error_json("INTERNAL_ERROR", std::string("test handler threw: ") + e.what());
      return res;
    }
  }
};

namespace {

/// One accepted connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(LoopbackServer::Impl& impl, std::size_t id, tcp::socket socket, Args&&... args)
      : impl_(impl), id_(id), stream_(std::move(socket), std::forward<Args>(args)...), timer_(socket_executor()) {}

  void start() {
    if constexpr (kTls) {
      lowest().expires_after(kHandshakeTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->hard_close();
                                self->read(true);
                              });
    } else {
      read(true);
    }
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  net::any_io_executor socket_executor() { return beast::get_lowest_layer(stream_).get_executor(); }

  void read(bool first) {
    parser_.emplace();
    parser_->body_limit(impl_.options.max_body_bytes);
    if (first) {
      lowest().expires_after(kFirstRequestTimeout);
    } else if (impl_.options.idle_timeout.count() > 0) {
      lowest().expires_after(impl_.options.idle_timeout);
    } else {
      lowest().expires_never();
    }
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->on_read(ec);
                              self->on_header();
                            });
  }

  // Clients that send `Expect: 100-continue` (curl does for large bodies) wait for this before the body.
  void on_header() {
    const auto expect = parser_->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue),
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->hard_close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      Response res;
      res.status = 413;
      res.body = error_json("INVALID_PARAMETER_VALUE", "request body too large for the test server");
      keep_open_ = false;
      return write(res, std::string::npos, false);
    }
    if (ec) return graceful_close();  // EOF, timeout, reset: nothing to answer
    lowest().expires_never();
    record_ = make_record(parser_->get(), id_);
    impl_.record(record_);
    keep_open_ = impl_.options.keep_alive && parser_->get().keep_alive();
    const std::optional<FaultSpec> fault = impl_.next_fault();
    const Fault kind = fault ? fault->fault : Fault::none;
    switch (kind) {
      case Fault::none:
        return write(impl_.call_handler(record_), std::string::npos, keep_open_);
      case Fault::reset_before_response:
        return reset();
      case Fault::reset_mid_response: {
        const Response res = impl_.call_handler(record_);
        keep_open_ = false;
        return write(res, res.body.size() / 2, true);
      }
      case Fault::delay:
        timer_.expires_after(fault->delay);
        timer_.async_wait([self = this->shared_from_this()](beast::error_code wait_ec) {
          if (wait_ec) return;
          self->write(self->impl_.call_handler(self->record_), std::string::npos, self->keep_open_);
        });
        return;
      case Fault::status_503_retry_after: {
        Response res;
        res.status = 503;
        res.body = error_json("TEMPORARILY_UNAVAILABLE", "injected fault: service unavailable, retry later");
        res.headers["Retry-After"] = std::to_string(fault->retry_after_seconds);
        return write(res, std::string::npos, keep_open_);
      }
      case Fault::status_500: {
        Response res;
        res.status = 500;
        res.body = error_json("INTERNAL_ERROR", "injected fault: internal server error");
        return write(res, std::string::npos, keep_open_);
      }
      case Fault::malformed_json: {
        Response res = impl_.call_handler(record_);
        res.status = 200;
        res.content_type = "application/json";
        res.body = res.body.size() >= 2 ? res.body.substr(0, res.body.size() / 2) : std::string("{");
        return write(res, std::string::npos, keep_open_);
      }
      case Fault::html_404:
        return write(html_page(404, "text/html; charset=utf-8", kFlask404), std::string::npos, keep_open_);
      case Fault::proxy_413:
        return write(html_page(413, "text/html", kNginx413), std::string::npos, keep_open_);
      case Fault::close_after_response: {
        Response res = impl_.call_handler(record_);
        // The answer itself says nothing about closing: the client only learns it on its next request.
        return write(res, std::string::npos, keep_open_, /*close_anyway=*/true);
      }
    }
  }

  /// Serialises `res`; body_bytes < body size sends only that much of the body (a truncated answer).
  void write(const Response& in, std::size_t body_bytes, bool announce_keep_alive, bool close_anyway = false) {
    http::response<http::string_body> res{static_cast<http::status>(in.status), parser_->get().version()};
    res.set(http::field::server, "mlflow-cpp-loopback");
    if (!in.content_type.empty()) res.set(http::field::content_type, in.content_type);
    for (const auto& [name, value] : in.headers) res.set(name, value);
    res.body() = in.body;
    res.keep_alive(announce_keep_alive);
    res.prepare_payload();
    std::ostringstream os;
    os << res;
    raw_ = os.str();
    bool truncated = false;
    if (body_bytes < in.body.size()) {
      const auto header_end = raw_.find("\r\n\r\n");
      raw_.resize(header_end + 4 + body_bytes);
      truncated = true;
    }
    const bool keep = announce_keep_alive && !truncated && !close_anyway;
    net::async_write(stream_, net::buffer(raw_),
                     [self = this->shared_from_this(), keep](beast::error_code ec, std::size_t) {
                       if (ec) return self->hard_close();
                       if (keep) return self->read(false);
                       self->graceful_close();
                     });
  }

  void reset() {
    beast::error_code ec;
    lowest().socket().set_option(net::socket_base::linger(true, 0), ec);
    lowest().socket().close(ec);
  }

  void hard_close() {
    beast::error_code ec;
    lowest().socket().close(ec);
  }

  void graceful_close() {
    if constexpr (kTls) {
      lowest().expires_after(kShutdownTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->fin_close(); });
    } else {
      fin_close();
    }
  }

  void fin_close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().socket().close(ec);
  }

  LoopbackServer::Impl& impl_;
  std::size_t id_;
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  RecordedRequest record_;
  std::string raw_;
  bool keep_open_ = false;
};

}  // namespace

void LoopbackServer::Impl::open(std::uint16_t wanted_port) {
  auto r = std::make_unique<Running>();
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), wanted_port);
  r->acceptor.open(endpoint.protocol());
  r->acceptor.set_option(net::socket_base::reuse_address(true));
  r->acceptor.bind(endpoint);
  r->acceptor.listen(net::socket_base::max_listen_connections);
  port = r->acceptor.local_endpoint().port();
  running = std::move(r);
  do_accept();
  running->thread = std::thread([ioc = &running->ioc] { ioc->run(); });
}

void LoopbackServer::Impl::do_accept() {
  Running* r = running.get();
  r->acceptor.async_accept(r->ioc, [this, r](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // stopped
    const std::size_t id = ++connections;
    if (ssl_ctx) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, id, std::move(socket), *ssl_ctx)->start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(*this, id, std::move(socket))->start();
    }
    if (r->acceptor.is_open()) do_accept();
  });
}

void LoopbackServer::Impl::close() {
  if (!running) return;
  running->ioc.stop();
  if (running->thread.joinable()) running->thread.join();
  // Destroying the io_context destroys the pending handlers, hence the sessions and their sockets.
  running.reset();
}

LoopbackServer::LoopbackServer(Handler handler, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = std::move(options);
  if (impl_->options.tls) {
    if (impl_->options.cert_pem.empty() || impl_->options.key_pem.empty()) {
      auto [cert, key] = make_self_signed_cert();
      impl_->options.cert_pem = std::move(cert);
      impl_->options.key_pem = std::move(key);
    }
    impl_->ssl_ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    impl_->ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3);
    impl_->ssl_ctx->use_certificate_chain(net::buffer(impl_->options.cert_pem));
    impl_->ssl_ctx->use_private_key(net::buffer(impl_->options.key_pem), ssl::context::pem);
  }
  std::lock_guard lock(impl_->lifecycle_mutex);
  impl_->open(0);
}

LoopbackServer::~LoopbackServer() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  impl_->close();
}

std::uint16_t LoopbackServer::port() const { return impl_->port; }

std::string LoopbackServer::base_url() const {
  return std::string(impl_->options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(impl_->port);
}

void LoopbackServer::push_fault(FaultSpec fault) {
  std::lock_guard lock(impl_->state_mutex);
  impl_->faults.push_back(fault);
}

std::vector<RecordedRequest> LoopbackServer::requests() const {
  std::lock_guard lock(impl_->state_mutex);
  return impl_->requests;
}

void LoopbackServer::clear_requests() {
  std::lock_guard lock(impl_->state_mutex);
  impl_->requests.clear();
}

std::size_t LoopbackServer::connections_accepted() const { return impl_->connections.load(); }

std::size_t LoopbackServer::pending_faults() const {
  std::lock_guard lock(impl_->state_mutex);
  return impl_->faults.size();
}

void LoopbackServer::clear_faults() {
  std::lock_guard lock(impl_->state_mutex);
  impl_->faults.clear();
}

const ServerOptions& LoopbackServer::options() const { return impl_->options; }

bool LoopbackServer::running() const {
  std::lock_guard lock(impl_->lifecycle_mutex);
  return impl_->running != nullptr;
}

void LoopbackServer::stop() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  impl_->close();
}

void LoopbackServer::start() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  if (impl_->running) return;
  impl_->open(impl_->port);
}

// ---------------------------------------------------------------------------------------------------------------
// Self-signed certificate

namespace {

template <class T, void (*Free)(T*)>
struct OsslDeleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509, X509_free>>;
using X509ExtPtr = std::unique_ptr<X509_EXTENSION, OsslDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
void bio_free(BIO* b) { BIO_free(b); }
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO, bio_free>>;

[[noreturn]] void ossl_fail(const char* what) { throw std::runtime_error(std::string("make_self_signed_cert: ") + what); }

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) ossl_fail("X509_add_ext");
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

std::pair<std::string, std::string> make_self_signed_cert() {
  PkeyCtxPtr kctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!kctx || EVP_PKEY_keygen_init(kctx.get()) <= 0) ossl_fail("EVP_PKEY_keygen_init");
  if (EVP_PKEY_CTX_set_group_name(kctx.get(), "P-256") <= 0) ossl_fail("EVP_PKEY_CTX_set_group_name");
  EVP_PKEY* raw_key = nullptr;
  if (EVP_PKEY_keygen(kctx.get(), &raw_key) <= 0) ossl_fail("EVP_PKEY_keygen");
  PkeyPtr key(raw_key);

  X509Ptr cert(X509_new());
  if (!cert) ossl_fail("X509_new");
  X509_set_version(cert.get(), 2);  // v3, needed for extensions
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) ossl_fail("RAND_bytes");
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial_bn = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  if (!serial_bn || !BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(cert.get()))) ossl_fail("serial");
  BN_free(serial_bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock differences
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("mlflow-cpp tests"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  // Self-signed and trusted directly: it is its own CA.
  add_ext(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign");
  add_ext(cert.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), NID_authority_key_identifier, "keyid:always");
  add_ext(cert.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) ossl_fail("X509_sign");

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio) ossl_fail("BIO_new");
  if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) ossl_fail("PEM_write_bio_X509");
  if (PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ossl_fail("PEM_write_bio_PrivateKey");
  }
  return {bio_string(cert_bio.get()), bio_string(key_bio.get())};
}

}  // namespace mlflow::test
