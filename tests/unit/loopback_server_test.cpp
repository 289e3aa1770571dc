// The loopback server itself: real sockets, a plain blocking client, every fault observed as specified.

#include "support/loopback_server.hpp"
#include "support/test_http_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include <chrono>
#include <mutex>
#include <thread>

namespace mlflow::test {
namespace {

using namespace std::chrono_literals;

Response echo(const RecordedRequest& r) {
  Response res;
  res.body = "{\"path\": \"" + r.path + "\", \"n\": 12345}";
  return res;
}

TestHttpClient client_for(const LoopbackServer& server, std::chrono::milliseconds timeout = 5000ms) {
  TestHttpClient::Options options;
  options.timeout = timeout;
  options.tls = server.options().tls;
  options.ca_pem = server.options().cert_pem;
  return TestHttpClient("127.0.0.1", server.port(), options);
}

TEST(LoopbackServer, AnswersOnEphemeralPortAndRecordsTheRequest) {
  LoopbackServer server(echo);
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.base_url(), "http://127.0.0.1:" + std::to_string(server.port()));
  auto client = client_for(server);
  const HttpResult res = client.request("POST", "/api/2.0/mlflow/runs%2Fget?run_id=a%20b&x=1&x=2&y=c+d", "{\"k\":1}",
                                        {{"Authorization", "Bearer t"}, {"X-Custom", "v"}});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.headers.at("content-type"), "application/json");
  EXPECT_EQ(res.body, "{\"path\": \"/api/2.0/mlflow/runs/get\", \"n\": 12345}");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const RecordedRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/2.0/mlflow/runs%2Fget?run_id=a%20b&x=1&x=2&y=c+d");
  EXPECT_EQ(r.path, "/api/2.0/mlflow/runs/get");
  EXPECT_EQ(r.query.at("run_id"), "a b");
  EXPECT_EQ(r.query.at("x"), "2");
  EXPECT_EQ(r.query.at("y"), "c d");
  EXPECT_EQ(r.query_all.count("x"), 2u);
  EXPECT_EQ(r.headers.at("authorization"), "Bearer t");
  EXPECT_EQ(r.headers.at("x-custom"), "v");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.body, "{\"k\":1}");
  EXPECT_EQ(r.connection_id, 1u);
  EXPECT_EQ(r.http_version, 11);
  server.clear_requests();
  EXPECT_TRUE(server.requests().empty());
}

TEST(LoopbackServer, ExtraHeadersStatusAndContentTypeComeFromTheHandler) {
  LoopbackServer server([](const RecordedRequest&) {
    Response res;
    res.status = 418;
    res.body = "teapot";
    res.content_type = "text/plain";
    res.headers["X-Thing"] = "1";
    return res;
  });
  auto client = client_for(server);
  const HttpResult res = client.get("/x");
  EXPECT_EQ(res.status, 418);
  EXPECT_EQ(res.body, "teapot");
  EXPECT_EQ(res.headers.at("content-type"), "text/plain");
  EXPECT_EQ(res.headers.at("x-thing"), "1");
}

TEST(LoopbackServer, ExpectContinueGetsAnInterimAnswer) {
  LoopbackServer server(echo);
  auto client = client_for(server);
  const std::string body(4000, 'b');
  const HttpResult res = client.request("POST", "/big", body, {{"Expect", "100-continue"}});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.interim_responses, 1);
  EXPECT_EQ(client.get("/plain").interim_responses, 0);
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[0].body, body);
}

TEST(LoopbackServer, KeepAliveReusesOneConnection) {
  LoopbackServer server(echo);
  auto client = client_for(server);
  for (int i = 0; i < 3; ++i) {
    const HttpResult res = client.get("/a");
    EXPECT_TRUE(res.keep_alive);
    EXPECT_EQ(res.headers.count("connection"), 0u);
  }
  EXPECT_EQ(client.connects(), 1u);
  EXPECT_EQ(server.connections_accepted(), 1u);
  for (const auto& r : server.requests()) EXPECT_EQ(r.connection_id, 1u);
}

TEST(LoopbackServer, ConnectionCloseModeClosesAfterEveryAnswer) {
  ServerOptions options;
  options.keep_alive = false;
  LoopbackServer server(echo, options);
  auto client = client_for(server);
  for (int i = 0; i < 3; ++i) {
    const HttpResult res = client.get("/a");
    EXPECT_EQ(res.status, 200);
    EXPECT_FALSE(res.keep_alive);
    EXPECT_EQ(res.headers.at("connection"), "close");
    EXPECT_FALSE(client.connected());
  }
  EXPECT_EQ(client.connects(), 3u);
  EXPECT_EQ(server.connections_accepted(), 3u);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].connection_id, 3u);
}

TEST(LoopbackServer, ClientConnectionCloseIsHonoured) {
  LoopbackServer server(echo);
  auto client = client_for(server);
  const HttpResult res = client.request("GET", "/a", "", {{"Connection", "close"}});
  EXPECT_FALSE(res.keep_alive);
  EXPECT_FALSE(client.connected());
}

TEST(LoopbackServer, IdleTimeoutClosesAKeptAliveConnection) {
  ServerOptions options;
  options.idle_timeout = 100ms;
  LoopbackServer server(echo, options);
  auto client = client_for(server);
  ASSERT_TRUE(client.get("/a").keep_alive);
  std::this_thread::sleep_for(400ms);
  // The server closed the idle connection: the reused connection fails, a new one works.
  EXPECT_THROW(client.get("/b"), HttpTransportError);
  EXPECT_EQ(client.get("/c").status, 200);
  EXPECT_EQ(server.connections_accepted(), 2u);
}

TEST(LoopbackServer, FaultResetBeforeResponseDoesNotCallTheHandler) {
  int calls = 0;
  LoopbackServer server([&](const RecordedRequest& r) {
    ++calls;
    return echo(r);
  });
  server.push_fault(Fault::reset_before_response);
  EXPECT_EQ(server.pending_faults(), 1u);
  auto client = client_for(server);
  try {
    client.get("/a");
    FAIL() << "expected a transport error";
  } catch (const HttpTransportError& e) {
    EXPECT_NE(std::string(e.what()).find("read from"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(server.pending_faults(), 0u);
  EXPECT_EQ(server.requests().size(), 1u);  // recorded even though unanswered
  EXPECT_EQ(client.get("/b").status, 200);  // one fault per request
  EXPECT_EQ(calls, 1);
}

TEST(LoopbackServer, FaultResetMidResponseSendsATruncatedMessageAfterCallingTheHandler) {
  int calls = 0;
  LoopbackServer server([&](const RecordedRequest& r) {
    ++calls;
    return echo(r);
  });
  server.push_fault(Fault::reset_mid_response);
  auto client = client_for(server);
  try {
    client.get("/a");
    FAIL() << "expected a transport error";
  } catch (const HttpTransportError& e) {
    EXPECT_EQ(e.code_message(), "partial message") << e.what();
  }
  EXPECT_EQ(calls, 1);
}

TEST(LoopbackServer, FaultDelayAnswersLateAndOtherConnectionsAreServedMeanwhile) {
  std::mutex mutex;
  std::vector<std::string> handled;
  LoopbackServer server([&](const RecordedRequest& r) {
    std::lock_guard lock(mutex);
    handled.push_back(r.path);
    return echo(r);
  });
  server.push_fault(FaultSpec{Fault::delay, 2000ms});
  auto slow = client_for(server, 150ms);
  EXPECT_THROW(slow.get("/slow"), HttpTransportError);  // deadline passed
  // While the first answer is still pending, a second connection gets its answer.
  auto fast = client_for(server);
  EXPECT_EQ(fast.get("/fast").status, 200);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(handled, std::vector<std::string>{"/fast"});  // the delayed handler has not run yet
  }
  // A delayed answer does arrive for a patient client.
  server.push_fault(FaultSpec{Fault::delay, 200ms});
  auto patient = client_for(server);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(patient.get("/late").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(LoopbackServer, Fault503CarriesRetryAfterAndJsonError) {
  int calls = 0;
  LoopbackServer server([&](const RecordedRequest& r) {
    ++calls;
    return echo(r);
  });
  server.push_fault(FaultSpec{Fault::status_503_retry_after, 0ms, 7});
  server.push_fault(Fault::status_500);
  auto client = client_for(server);
  const HttpResult first = client.get("/a");
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.headers.at("retry-after"), "7");
  EXPECT_NE(first.body.find("\"error_code\": \"TEMPORARILY_UNAVAILABLE\""), std::string::npos);
  EXPECT_TRUE(first.keep_alive);
  const HttpResult second = client.get("/a");
  EXPECT_EQ(second.status, 500);
  EXPECT_NE(second.body.find("\"error_code\": \"INTERNAL_ERROR\""), std::string::npos);
  const HttpResult third = client.get("/a");
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client.connects(), 1u);
}

TEST(LoopbackServer, FaultMalformedJsonTruncatesTheBody) {
  LoopbackServer server(echo);
  server.push_fault(Fault::malformed_json);
  auto client = client_for(server);
  const HttpResult res = client.get("/a");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.headers.at("content-type"), "application/json");
  RecordedRequest probe;
  probe.path = "/a";
  const std::string full = echo(probe).body;
  EXPECT_EQ(res.body, full.substr(0, full.size() / 2));
}

TEST(LoopbackServer, FaultHtml404IsFlasksPage) {
  LoopbackServer server(echo);
  server.push_fault(Fault::html_404);
  auto client = client_for(server);
  const HttpResult res = client.get("/a");
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(res.body.find("<title>404 Not Found</title>"), std::string::npos);
}

TEST(LoopbackServer, FaultCloseAfterResponseClosesTheKeptAliveConnection) {
  LoopbackServer server(echo);
  server.push_fault(Fault::close_after_response);
  auto client = client_for(server);
  const HttpResult res = client.get("/a");
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.keep_alive);  // the answer does not announce the close
  EXPECT_EQ(res.headers.count("connection"), 0u);
  std::this_thread::sleep_for(100ms);
  EXPECT_THROW(client.get("/b"), HttpTransportError);  // the idle connection is gone
  EXPECT_EQ(client.get("/c").status, 200);
  EXPECT_EQ(server.connections_accepted(), 2u);
}

TEST(LoopbackServer, FaultsAreFifoOnePerRequestAndClearable) {
  LoopbackServer server(echo);
  server.push_fault(Fault::status_500);
  server.push_fault(Fault::html_404);
  server.push_fault(Fault::none);
  server.push_fault(FaultSpec{Fault::status_503_retry_after, 0ms, 2});
  auto client = client_for(server);
  EXPECT_EQ(client.get("/1").status, 500);
  EXPECT_EQ(client.get("/2").status, 404);
  EXPECT_EQ(client.get("/3").status, 200);
  EXPECT_EQ(server.pending_faults(), 1u);
  server.clear_faults();
  EXPECT_EQ(client.get("/4").status, 200);
}

TEST(LoopbackServer, HandlerExceptionBecomes500) {
  LoopbackServer server([](const RecordedRequest&) -> Response { throw std::runtime_error("boom"); });
  auto client = client_for(server);
  const HttpResult res = client.get("/a");
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(res.body.find("boom"), std::string::npos);
}

TEST(LoopbackServer, OversizedBodyIsAnswered413) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  LoopbackServer server(echo, options);
  auto client = client_for(server);
  const HttpResult res = client.post("/a", std::string(5000, 'x'));
  EXPECT_EQ(res.status, 413);
}

TEST(LoopbackServer, StopRefusesConnectionsAndStartServesAgainOnTheSamePort) {
  LoopbackServer server(echo);
  const auto port = server.port();
  auto client = client_for(server);
  EXPECT_EQ(client.get("/a").status, 200);
  server.stop();
  server.stop();  // idempotent
  EXPECT_FALSE(server.running());
  // The kept-alive connection is gone and new connections are refused.
  EXPECT_THROW(client.get("/b"), HttpTransportError);
  try {
    client.get("/c");
    FAIL() << "expected connection refused";
  } catch (const HttpTransportError& e) {
    EXPECT_NE(std::string(e.what()).find("connect"), std::string::npos) << e.what();
  }
  server.start();
  server.start();  // idempotent
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(client.get("/d").status, 200);
  EXPECT_EQ(server.requests().back().path, "/d");
}

TEST(LoopbackServer, StopWhileAnswerIsDelayedIsBoundedAndClean) {
  LoopbackServer server(echo);
  server.push_fault(FaultSpec{Fault::delay, 30s});
  std::thread t([&] {
    auto client = client_for(server, 10s);
    EXPECT_THROW(client.get("/a"), HttpTransportError);
  });
  while (server.requests().empty()) std::this_thread::sleep_for(5ms);
  const auto before = std::chrono::steady_clock::now();
  server.stop();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
}

TEST(LoopbackServer, DestructorWithOpenConnectionsDoesNotHang) {
  auto server = std::make_unique<LoopbackServer>(echo);
  auto a = client_for(*server);
  auto b = client_for(*server);
  EXPECT_EQ(a.get("/a").status, 200);
  EXPECT_EQ(b.get("/b").status, 200);
  server.reset();
  EXPECT_THROW(a.get("/c"), HttpTransportError);
}

TEST(LoopbackServer, TlsHandshakeWithTheSelfSignedCertificate) {
  ServerOptions options;
  options.tls = true;
  std::tie(options.cert_pem, options.key_pem) = make_self_signed_cert();
  LoopbackServer server(echo, options);
  EXPECT_EQ(server.base_url(), "https://127.0.0.1:" + std::to_string(server.port()));
  auto client = client_for(server);  // trusts exactly this certificate, checks IP 127.0.0.1
  EXPECT_EQ(client.get("/a").status, 200);
  EXPECT_EQ(client.get("/b").status, 200);
  EXPECT_EQ(client.connects(), 1u);
  // By name too (SAN DNS:localhost).
  TestHttpClient::Options by_name;
  by_name.tls = true;
  by_name.ca_pem = options.cert_pem;
  by_name.verify_host = "localhost";
  TestHttpClient named("127.0.0.1", server.port(), by_name);
  EXPECT_EQ(named.get("/c").status, 200);
}

TEST(LoopbackServer, TlsIsRefusedWithoutTrustAndWithTheWrongHost) {
  ServerOptions options;
  options.tls = true;  // certificate generated by the server
  LoopbackServer server(echo, options);
  ASSERT_FALSE(server.options().cert_pem.empty());
  TestHttpClient::Options untrusted;
  untrusted.tls = true;
  untrusted.ca_pem = make_self_signed_cert().first;  // some other certificate
  TestHttpClient a("127.0.0.1", server.port(), untrusted);
  try {
    a.get("/a");
    FAIL() << "expected a TLS failure";
  } catch (const HttpTransportError& e) {
    EXPECT_NE(std::string(e.what()).find("TLS handshake"), std::string::npos) << e.what();
  }
  TestHttpClient::Options wrong_host;
  wrong_host.tls = true;
  wrong_host.ca_pem = server.options().cert_pem;
  wrong_host.verify_host = "10.1.2.3";
  TestHttpClient b("127.0.0.1", server.port(), wrong_host);
  EXPECT_THROW(b.get("/a"), HttpTransportError);
  TestHttpClient::Options insecure;
  insecure.tls = true;
  insecure.verify_peer = false;
  TestHttpClient c("127.0.0.1", server.port(), insecure);
  EXPECT_EQ(c.get("/a").status, 200);
  EXPECT_TRUE(server.requests().size() == 1u);
}

TEST(LoopbackServer, TlsFaultsAndCloseMode) {
  ServerOptions options;
  options.tls = true;
  options.keep_alive = false;
  LoopbackServer server(echo, options);
  server.push_fault(Fault::reset_before_response);
  auto client = client_for(server);
  EXPECT_THROW(client.get("/a"), HttpTransportError);
  const HttpResult res = client.get("/b");
  EXPECT_EQ(res.status, 200);
  EXPECT_FALSE(res.keep_alive);
  EXPECT_EQ(client.get("/c").status, 200);
  EXPECT_EQ(server.connections_accepted(), 3u);
}

TEST(LoopbackServer, SelfSignedCertificateIsPem) {
  const auto [cert, key] = make_self_signed_cert();
  EXPECT_EQ(cert.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_EQ(key.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  EXPECT_NE(make_self_signed_cert().first, cert);  // fresh key and serial each time
}

TEST(LoopbackServer, PlainClientAgainstTlsServerFailsCleanly) {
  ServerOptions options;
  options.tls = true;
  LoopbackServer server(echo, options);
  TestHttpClient::Options plain_options;
  plain_options.timeout = 2000ms;
  TestHttpClient plain("127.0.0.1", server.port(), plain_options);
  EXPECT_THROW(plain.get("/a"), HttpTransportError);
  EXPECT_TRUE(server.requests().empty());
}

}  // namespace
}  // namespace mlflow::test
