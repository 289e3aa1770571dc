#include "support/test_http_client.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <optional>

namespace mlflow::test {

namespace {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

struct TestHttpClient::Impl {
  std::string host;
  std::uint16_t port = 0;
  Options options;
  net::io_context ioc;
  std::optional<ssl::context> ssl_ctx;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::size_t connects = 0;

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  bool is_open() const { return plain.has_value() || secure.has_value(); }

  // Runs the io_context until the operation completes; tcp_stream's expiry guarantees it does.
  void run_until_done() {
    ioc.restart();
    ioc.run();
  }

  [[noreturn]] void fail(const char* step, beast::error_code ec) {
    reset();
    throw HttpTransportError(std::string(step) + " " + host + ":" + std::to_string(port) + ": " + ec.message(),
                             ec.message(), ec.category().name());
  }

  void reset() {
    beast::error_code ignored;
    if (plain) plain->socket().close(ignored);
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    plain.reset();
    secure.reset();
    buffer.clear();
  }

  void connect() {
    reset();
    beast::error_code ec;
    const tcp::endpoint endpoint(net::ip::make_address(host, ec), port);
    if (ec) fail("resolve", ec);
    if (options.tls) {
      secure.emplace(ioc, *ssl_ctx);
    } else {
      plain.emplace(ioc);
    }
    ++connects;
    lowest().expires_after(options.timeout);
    lowest().async_connect(endpoint, [&](beast::error_code e) { ec = e; });
    run_until_done();
    if (ec) fail("connect", ec);
    if (options.tls) {
      SSL* native = secure->native_handle();
      beast::error_code addr_ec;
      net::ip::make_address(options.verify_host, addr_ec);
      if (addr_ec) SSL_set_tlsext_host_name(native, options.verify_host.c_str());
      if (options.verify_peer) {
        X509_VERIFY_PARAM* param = SSL_get0_param(native);
        if (!addr_ec) {
          X509_VERIFY_PARAM_set1_ip_asc(param, options.verify_host.c_str());
        } else {
          X509_VERIFY_PARAM_set1_host(param, options.verify_host.c_str(), 0);
        }
      }
      lowest().expires_after(options.timeout);
      secure->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      run_until_done();
      if (ec) fail("TLS handshake with", ec);
    }
  }

  template <class Stream>
  HttpResult exchange(Stream& stream, http::request<http::string_body>& req) {
    beast::error_code ec;
    lowest().expires_after(options.timeout);
    http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    run_until_done();
    if (ec) fail("write to", ec);
    std::optional<http::response_parser<http::string_body>> parser;
    int interim = -1;
    do {
      ++interim;  // interim 1xx answers (100 Continue) precede the real one
      parser.emplace();
      parser->body_limit(256u << 20);
      lowest().expires_after(options.timeout);
      http::async_read(stream, buffer, *parser, [&](beast::error_code e, std::size_t) { ec = e; });
      run_until_done();
      if (ec) fail("read from", ec);
    } while (parser->get().result_int() >= 100 && parser->get().result_int() < 200);
    auto res = parser->release();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res) out.headers[lower(field.name_string())] = std::string(field.value());
    out.keep_alive = res.keep_alive();
    out.interim_responses = interim;
    if (!out.keep_alive) reset();
    return out;
  }
};

TestHttpClient::TestHttpClient(std::string host, std::uint16_t port) : TestHttpClient(std::move(host), port, Options{}) {}

TestHttpClient::TestHttpClient(std::string host, std::uint16_t port, Options options)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->options = std::move(options);
  if (impl_->options.tls) {
    impl_->ssl_ctx.emplace(ssl::context::tls_client);
    if (impl_->options.verify_peer) {
      impl_->ssl_ctx->set_verify_mode(ssl::verify_peer);
      if (impl_->options.ca_pem.empty()) {
        impl_->ssl_ctx->set_default_verify_paths();
      } else {
        impl_->ssl_ctx->add_certificate_authority(net::buffer(impl_->options.ca_pem));
      }
    } else {
      impl_->ssl_ctx->set_verify_mode(ssl::verify_none);
    }
  }
}

TestHttpClient::~TestHttpClient() { impl_->reset(); }

HttpResult TestHttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                                   const std::map<std::string, std::string>& headers) {
  if (!impl_->is_open()) impl_->connect();
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) req.method_string(method);
  req.set(http::field::host, impl_->host + ":" + std::to_string(impl_->port));
  req.set(http::field::user_agent, "mlflow-cpp-test-client");
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    if (lower(name) == "content-type") {
      has_content_type = true;
      if (value.empty()) continue;
    }
    req.set(name, value);
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  if (impl_->secure) return impl_->exchange(*impl_->secure, req);
  return impl_->exchange(*impl_->plain, req);
}

bool TestHttpClient::connected() const { return impl_->is_open(); }
std::size_t TestHttpClient::connects() const { return impl_->connects; }
void TestHttpClient::close() { impl_->reset(); }

}  // namespace mlflow::test
