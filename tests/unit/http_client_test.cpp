// The HTTP(S) transport against a real loopback server: keep-alive, reconnects, deadlines, retries, auth, TLS.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/error.hpp"
#include "support/loopback_server.hpp"
#include "support/test_env.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/transport/http_client.hpp"

namespace {

using mlflow::ErrorCode;
using mlflow::MlflowError;
using mlflow::test::Fault;
using mlflow::test::FaultSpec;
using mlflow::test::LoopbackServer;
using mlflow::test::RecordedRequest;
using mlflow::test::Response;
using mlflow::test::read_file;
using mlflow::test::ScopedEnv;
using mlflow::test::ServerOptions;
using mlflow::test::TempDir;
using mlflow::test::write_file;
using mlflow::transport::HttpClient;
using mlflow::transport::Options;
using mlflow::transport::Request;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Small deadlines and back-offs so that failure paths finish quickly; the bounds asserted below are hang guards.
Options fast_options() {
  Options o;
  o.request_timeout = 2s;
  o.total_timeout = 8s;
  o.max_retries = 3;
  o.backoff_factor = 0.01;
  o.backoff_jitter = 0.0;
  return o;
}

Response echo(const RecordedRequest& r) {
  Response res;
  res.body = "{\"path\": \"" + r.path + "\"}";
  return res;
}

Request get(const std::string& target = "/api/2.0/mlflow/experiments/get?experiment_id=1") {
  Request r;
  r.method = "GET";
  r.target = target;
  return r;
}

Request post(const std::string& target, const std::string& body) {
  Request r;
  r.method = "POST";
  r.target = target;
  r.body = body;
  r.content_type = "application/json";
  return r;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A file holding `content` in a directory of its own, removed at scope end.
class TempFile {
 public:
  explicit TempFile(const std::string& content) { write_file(path_, content); }
  const std::string& path() const { return path_; }

 private:
  TempDir dir_;
  std::string path_ = dir_.file("file.pem");
};

// ---- keep-alive and reconnects ----

TEST(HttpClient, ReusesOneKeepAliveConnection) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  for (int i = 0; i < 5; ++i) {
    auto r = client.send(get());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.attempts, 1);
  }
  EXPECT_EQ(server.connections_accepted(), 1u);
  EXPECT_EQ(client.connections_opened(), 1u);
  for (const auto& rec : server.requests()) EXPECT_EQ(rec.connection_id, 1u);
}

TEST(HttpClient, ServerThatClosesEveryConnectionIsNotAnError) {
  ServerOptions so;
  so.keep_alive = false;  // MLflow 2.x behind gunicorn answers Connection: close
  LoopbackServer server(echo, so);
  HttpClient client(server.base_url(), fast_options());
  for (int i = 0; i < 3; ++i) {
    auto r = client.send(get());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.attempts, 1);
  }
  EXPECT_EQ(server.connections_accepted(), 3u);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(HttpClient, ReopensConnectionTheServerClosedWhileIdle) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  server.push_fault(Fault::close_after_response);
  EXPECT_EQ(client.send(get()).status, 200);
  std::this_thread::sleep_for(50ms);  // let the server's FIN arrive, as with a real idle close
  auto r = client.send(post("/api/2.0/mlflow/runs/set-tag", "{\"run_id\":\"r\",\"key\":\"k\",\"value\":\"v\"}"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.attempts, 1) << "resending on a fresh connection is not a retry";
  EXPECT_EQ(server.connections_accepted(), 2u);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "POST");
  EXPECT_EQ(reqs[1].connection_id, 2u);
}

TEST(HttpClient, ReopensAfterServerIdleTimeout) {
  ServerOptions so;
  so.idle_timeout = 100ms;  // uvicorn closes idle keep-alive connections
  LoopbackServer server(echo, so);
  HttpClient client(server.base_url(), fast_options());
  EXPECT_EQ(client.send(get()).status, 200);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(client.send(get()).status, 200);
  EXPECT_EQ(server.connections_accepted(), 2u);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(HttpClient, ServerRestartedBetweenRequestsIsReachedAgain) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  EXPECT_EQ(client.send(get()).status, 200);
  server.stop();
  server.start();
  EXPECT_EQ(client.send(get()).status, 200);
  EXPECT_EQ(server.requests().size(), 2u);
}

// ---- faults ----

TEST(HttpClient, RefusedConnectionFailsWithClearMessageInBoundedTime) {
  LoopbackServer server(echo);
  const std::string port = std::to_string(server.port());
  server.stop();
  HttpClient client(server.base_url(), fast_options());
  const auto start = Clock::now();
  try {
    client.send(get());
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::TEMPORARILY_UNAVAILABLE);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + port), std::string::npos) << msg;
    EXPECT_NE(msg.find("connection refused"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Is the server running?"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_URI"), std::string::npos) << msg;
    EXPECT_NE(msg.find("after 4 attempts"), std::string::npos) << msg;
    EXPECT_FALSE(e.http_status().has_value());
  }
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(HttpClient, ResetMidResponseIsRetried) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  server.push_fault(Fault::reset_mid_response);
  auto r = client.send(get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"path\": \"/api/2.0/mlflow/experiments/get\"}");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(HttpClient, ResetMidResponseWithoutRetriesSaysTheConnectionClosed) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.max_retries = 0;
  HttpClient client(server.base_url(), o);
  server.push_fault(Fault::reset_mid_response);
  try {
    client.send(get());
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::TEMPORARILY_UNAVAILABLE);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("closed the connection before a complete answer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GET /api/2.0/mlflow/experiments/get"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
  }
}

TEST(HttpClient, ResetBeforeResponseOnFreshConnectionIsRetried) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  server.push_fault(Fault::reset_before_response);
  auto r = client.send(get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.attempts, 2);
}

TEST(HttpClient, DelayPastDeadlineTimesOutWithClearMessage) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.request_timeout = 200ms;
  o.max_retries = 0;
  HttpClient client(server.base_url(), o);
  server.push_fault(FaultSpec{Fault::delay, 3000ms});
  const auto start = Clock::now();
  try {
    client.send(get());
    FAIL() << "expected a timeout";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::DEADLINE_EXCEEDED);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("did not answer GET /api/2.0/mlflow/experiments/get within 0.2 s"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_HTTP_REQUEST_TIMEOUT"), std::string::npos) << msg;
  }
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(HttpClient, TimedOutRequestIsRetriedOnAFreshConnection) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.request_timeout = 300ms;
  HttpClient client(server.base_url(), o);
  server.push_fault(FaultSpec{Fault::delay, 2000ms});
  auto r = client.send(get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(server.connections_accepted(), 2u);
}

TEST(HttpClient, RetryAfterOf503IsHonoured) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.backoff_factor = 0;  // only Retry-After can make it wait
  HttpClient client(server.base_url(), o);
  server.push_fault(FaultSpec{Fault::status_503_retry_after, 0ms, 1});
  const auto start = Clock::now();
  auto r = client.send(get());
  const double waited = seconds_since(start);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_GE(waited, 0.95) << "the client must wait what Retry-After asks";
  EXPECT_LT(waited, 10.0);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(HttpClient, RetryAfterBeyondTheTimeBudgetGivesUpAtOnce) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.total_timeout = 2s;
  HttpClient client(server.base_url(), o);
  server.push_fault(FaultSpec{Fault::status_503_retry_after, 0ms, 60});
  const auto start = Clock::now();
  auto r = client.send(get());
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.gave_up_reason.find("MLFLOW_CPP_HTTP_TOTAL_TIMEOUT"), std::string::npos) << r.gave_up_reason;
  EXPECT_LT(seconds_since(start), 10.0);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, Status500IsRetriedThenSucceeds) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  server.push_fault(Fault::status_500);
  server.push_fault(Fault::status_500);
  auto r = client.send(post("/api/2.0/mlflow/runs/log-batch", "{\"run_id\":\"r\"}"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.attempts, 3);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& req : reqs) EXPECT_EQ(req.body, "{\"run_id\":\"r\"}");  // POST is retried, as in MLflow
}

TEST(HttpClient, RetriesExhaustedReturnLastAnswerInBoundedTime) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  for (int i = 0; i < 10; ++i) server.push_fault(Fault::status_500);
  const auto start = Clock::now();
  auto r = client.send(get());
  EXPECT_LT(seconds_since(start), 10.0);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.attempts, 4);  // 1 + max_retries
  EXPECT_NE(r.gave_up_reason.find("4 attempts"), std::string::npos) << r.gave_up_reason;
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(HttpClient, NonRetryableStatusIsReturnedAtOnce) {
  LoopbackServer server([](const RecordedRequest&) {
    Response r;
    r.status = 404;
    r.body = R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"})";
    return r;
  });
  HttpClient client(server.base_url(), fast_options());
  auto r = client.send(get());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, TotalTimeBudgetBoundsConnectionRetries) {
  LoopbackServer server(echo);
  server.stop();
  Options o = fast_options();
  o.max_retries = 9;
  o.backoff_factor = 0.5;  // sleeps 0, 1, 2, 4, ... s
  o.total_timeout = 1500ms;
  HttpClient client(server.base_url(), o);
  const auto start = Clock::now();
  try {
    client.send(get());
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::DEADLINE_EXCEEDED);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MLFLOW_CPP_HTTP_TOTAL_TIMEOUT"), std::string::npos) << msg;
    EXPECT_NE(msg.find("connection refused"), std::string::npos) << msg;
  }
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(HttpClient, MalformedJsonBodyIsAClearRestStoreError) {
  LoopbackServer server([](const RecordedRequest&) {
    Response r;
    r.body = R"({"experiment": {"experiment_id": "1", "name": "x"}})";
    return r;
  });
  mlflow::rest::RestStore store(server.base_url(), fast_options());
  server.push_fault(Fault::malformed_json);
  try {
    store.get_experiment("1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Malformed answer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
    EXPECT_NE(msg.find("GET /api/2.0/mlflow/experiments/get"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_URI"), std::string::npos) << msg;
    EXPECT_EQ(e.http_status(), 200);
  }
}

// ---- request shape ----

TEST(HttpClient, SendsUserAgentHostAcceptAndContentType) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  client.send(post("/api/2.0/mlflow/runs/delete", "{\"run_id\":\"x\"}"));
  client.send(get());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const std::string ua = reqs[0].headers.at("user-agent");
  EXPECT_EQ(ua.rfind("mlflow-cpp/", 0), 0u) << ua;
  EXPECT_GT(ua.size(), std::string("mlflow-cpp/").size());
  EXPECT_EQ(ua, Options::default_user_agent());
  EXPECT_EQ(reqs[0].headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(reqs[0].headers.at("content-length"), "14");
  EXPECT_EQ(reqs[0].body, "{\"run_id\":\"x\"}");
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].headers.count("content-type"), 0u);
  EXPECT_EQ(reqs[1].headers.count("authorization"), 0u);
  EXPECT_EQ(reqs[1].body, "");
}

TEST(HttpClient, BasePathPrefixIsPrepended) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url() + "/mlflow/", fast_options());
  client.send(get("/api/2.0/mlflow/runs/get?run_id=abc"));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/mlflow/api/2.0/mlflow/runs/get?run_id=abc");
}

// ---- auth ----

TEST(HttpClient, BasicAuthHeaderIsExact) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.username = "alice";
  o.password = "s3cret:x";
  HttpClient client(server.base_url(), o);
  client.send(get());
  EXPECT_EQ(server.requests().at(0).headers.at("authorization"), "Basic YWxpY2U6czNjcmV0Ong=");
}

TEST(HttpClient, BasicAuthWinsOverToken) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.username = "bob";
  o.password = "pw";
  o.token = "tok-123";
  HttpClient client(server.base_url(), o);
  client.send(get());
  EXPECT_EQ(server.requests().at(0).headers.at("authorization"), "Basic Ym9iOnB3");
}

TEST(HttpClient, BearerTokenWhenNoUserAndPassword) {
  LoopbackServer server(echo);
  Options o = fast_options();
  o.username = "only-user";  // without a password Basic does not apply
  o.token = "tok-123";
  HttpClient client(server.base_url(), o);
  client.send(get());
  EXPECT_EQ(server.requests().at(0).headers.at("authorization"), "Bearer tok-123");
}

TEST(HttpClient, CredentialsNeverAppearInErrors) {
  LoopbackServer server(echo);
  const std::string port = std::to_string(server.port());
  server.stop();
  Options o = fast_options();
  o.max_retries = 0;
  o.username = "alice";
  o.password = "hunter2-password";
  o.token = "tok-SECRET";
  HttpClient client("http://urluser:urlpass-SECRET@127.0.0.1:" + port, o);
  try {
    client.send(get());
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    const std::string msg = e.what();
    for (const char* secret : {"hunter2-password", "tok-SECRET", "urlpass-SECRET", "urluser", "YWxpY2U6aHVudGVyMi1wYXNzd29yZA"}) {
      EXPECT_EQ(msg.find(secret), std::string::npos) << secret << " leaked in: " << msg;
    }
    EXPECT_NE(msg.find("127.0.0.1:" + port), std::string::npos) << msg;
  }
}

TEST(HttpClient, LineBreakInTokenIsRefusedWithoutShowingIt) {
  Options o = fast_options();
  o.token = "tok-SECRET\nX-Injected: 1";
  try {
    HttpClient client("http://127.0.0.1:1", o);
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MLFLOW_TRACKING_TOKEN"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("tok-SECRET"), std::string::npos) << msg;
  }
}

TEST(HttpClient, UserInfoInUriIsBasicAuthWhenNothingElseIsSet) {
  LoopbackServer server(echo);
  HttpClient client("http://bob:pw@127.0.0.1:" + std::to_string(server.port()), fast_options());
  client.send(get());
  EXPECT_EQ(server.requests().at(0).headers.at("authorization"), "Basic Ym9iOnB3");
}

// ---- TLS ----

TEST(HttpClient, TlsSelfSignedIsRefusedByDefaultWithClearMessage) {
  ServerOptions so;
  so.tls = true;
  LoopbackServer server(echo, so);
  HttpClient client(server.base_url(), fast_options());
  const auto start = Clock::now();
  try {
    client.send(get());
    FAIL() << "expected a TLS error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::IO_ERROR);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("TLS handshake"), std::string::npos) << msg;
    EXPECT_NE(msg.find("certificate"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_SERVER_CERT_PATH"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_INSECURE_TLS=true"), std::string::npos) << msg;
  }
  EXPECT_EQ(server.connections_accepted(), 1u) << "a refused certificate is not retried";
  EXPECT_TRUE(server.requests().empty());
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(HttpClient, TlsAcceptedWithInsecureFlag) {
  ServerOptions so;
  so.tls = true;
  LoopbackServer server(echo, so);
  Options o = fast_options();
  o.insecure_tls = true;
  HttpClient client(server.base_url(), o);
  EXPECT_EQ(client.send(get()).status, 200);
  EXPECT_EQ(client.send(get()).status, 200);
  EXPECT_EQ(server.connections_accepted(), 1u) << "keep-alive over TLS too";
}

TEST(HttpClient, TlsAcceptedWithServerCertPath) {
  ServerOptions so;
  so.tls = true;
  LoopbackServer server(echo, so);
  TempFile ca(server.options().cert_pem);
  Options o = fast_options();
  o.server_cert_path = ca.path();
  HttpClient client(server.base_url(), o);
  auto r = client.send(get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"path\": \"/api/2.0/mlflow/experiments/get\"}");
}

TEST(HttpClient, TlsVerifiesTheHostNameAndSendsSni) {
  ServerOptions so;
  so.tls = true;
  LoopbackServer server(echo, so);
  TempFile ca(server.options().cert_pem);
  Options o = fast_options();
  o.server_cert_path = ca.path();
  // The certificate names DNS:localhost too; a host name goes through SNI and name verification.
  HttpClient client("https://localhost:" + std::to_string(server.port()), o);
  EXPECT_EQ(client.send(get()).status, 200);
}

TEST(HttpClient, TlsCertificateForAnotherHostIsRefused) {
  // A certificate for another name, made with the openssl command-line tool in a temporary directory.
  TempDir tmp;
  const std::filesystem::path dir = tmp.path();
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other.example "
                          "-addext subjectAltName=DNS:other.example -keyout " + (dir / "key.pem").string() +
                          " -out " + (dir / "cert.pem").string() + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  ServerOptions so;
  so.tls = true;
  so.cert_pem = rc == 0 ? read_file(dir / "cert.pem") : "";
  so.key_pem = rc == 0 ? read_file(dir / "key.pem") : "";
  ASSERT_EQ(rc, 0) << "openssl req failed";
  LoopbackServer server(echo, so);
  TempFile ca(so.cert_pem);
  Options o = fast_options();
  o.server_cert_path = ca.path();
  HttpClient client(server.base_url(), o);
  try {
    client.send(get());
    FAIL() << "a certificate for other.example must not be accepted for 127.0.0.1";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::IO_ERROR);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mismatch"), std::string::npos) << msg;
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpClient, HttpsToPlainHttpServerFailsClearly) {
  LoopbackServer server(echo);
  Options o = fast_options();
  HttpClient client("https://127.0.0.1:" + std::to_string(server.port()), o);
  const auto start = Clock::now();
  try {
    client.send(get());
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
    EXPECT_NE(msg.find("http://"), std::string::npos) << msg;
  }
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(HttpClient, TlsClientCertificateFileIsLoaded) {
  auto [cert, key] = mlflow::test::make_self_signed_cert();
  TempFile pem(cert + key);
  Options o = fast_options();
  o.insecure_tls = true;
  o.client_cert_path = pem.path();
  ServerOptions so;
  so.tls = true;
  LoopbackServer server(echo, so);
  HttpClient client(server.base_url(), o);
  EXPECT_EQ(client.send(get()).status, 200);

  TempFile junk("not a pem");
  o.client_cert_path = junk.path();
  try {
    HttpClient bad(server.base_url(), o);
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(std::string(e.what()).find("MLFLOW_TRACKING_CLIENT_CERT_PATH"), std::string::npos) << e.what();
  }
}

// ---- options ----

TEST(HttpClient, OptionsFromEnvironment) {
  std::deque<ScopedEnv> env;
  env.emplace_back("MLFLOW_HTTP_REQUEST_TIMEOUT", "7");
  env.emplace_back("MLFLOW_CPP_HTTP_TOTAL_TIMEOUT", "30.5");
  env.emplace_back("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2");
  env.emplace_back("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "3");
  env.emplace_back("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5");
  env.emplace_back("MLFLOW_TRACKING_USERNAME", "u");
  env.emplace_back("MLFLOW_TRACKING_PASSWORD", "p");
  env.emplace_back("MLFLOW_TRACKING_TOKEN", "t");
  env.emplace_back("MLFLOW_TRACKING_INSECURE_TLS", "TRUE");
  env.emplace_back("MLFLOW_TRACKING_SERVER_CERT_PATH", nullptr);
  env.emplace_back("MLFLOW_TRACKING_CLIENT_CERT_PATH", "/c.pem");
  Options o = Options::from_env();
  EXPECT_EQ(o.request_timeout, 7s);
  EXPECT_EQ(o.total_timeout, 30500ms);
  EXPECT_EQ(o.max_retries, 2);
  EXPECT_DOUBLE_EQ(o.backoff_factor, 3.0);
  EXPECT_DOUBLE_EQ(o.backoff_jitter, 0.5);
  EXPECT_EQ(o.username, "u");
  EXPECT_EQ(o.password, "p");
  EXPECT_EQ(o.token, "t");
  EXPECT_TRUE(o.insecure_tls);
  EXPECT_EQ(o.client_cert_path, "/c.pem");
  EXPECT_NO_THROW(o.validate());
}

TEST(HttpClient, OptionDefaultsMatchMlflow3) {
  std::deque<ScopedEnv> env;
  for (const char* name : {"MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_CPP_HTTP_TOTAL_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                           "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
                           "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH",
                           "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"}) {
    env.emplace_back(name, nullptr);
  }
  Options o = Options::from_env();
  EXPECT_EQ(o.request_timeout, 120s);
  EXPECT_EQ(o.max_retries, 7);
  EXPECT_DOUBLE_EQ(o.backoff_factor, 2.0);
  EXPECT_DOUBLE_EQ(o.backoff_jitter, 1.0);
  EXPECT_FALSE(o.insecure_tls);
  EXPECT_GT(o.total_timeout.count(), 0);
}

TEST(HttpClient, InvalidBooleanEnvIsAnError) {
  ScopedEnv env("MLFLOW_TRACKING_INSECURE_TLS", "yes");
  try {
    Options::from_env();
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(std::string(e.what()).find("MLFLOW_TRACKING_INSECURE_TLS"), std::string::npos);
  }
}

TEST(HttpClient, MlflowCapsOnRetriesAndBackoffAreEnforced) {
  Options o = fast_options();
  o.max_retries = 10;
  EXPECT_THROW(HttpClient("http://127.0.0.1:1", o), MlflowError);
  o.max_retries = 9;
  EXPECT_NO_THROW(HttpClient("http://127.0.0.1:1", o));
  o.backoff_factor = 120;
  EXPECT_THROW(HttpClient("http://127.0.0.1:1", o), MlflowError);
}

TEST(HttpClient, InsecureTogetherWithServerCertPathIsAnError) {
  Options o = fast_options();
  o.insecure_tls = true;
  o.server_cert_path = "/etc/ssl/certs/ca-certificates.crt";
  try {
    HttpClient client("https://127.0.0.1:1", o);
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MLFLOW_TRACKING_INSECURE_TLS"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_SERVER_CERT_PATH"), std::string::npos) << msg;
  }
}

TEST(HttpClient, BadUriIsRejectedWithoutEchoingCredentials) {
  try {
    HttpClient client("ftp://user:topsecret@host", fast_options());
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos) << e.what();
  }
}

TEST(HttpClient, ThreadsShareTheClientSafely) {
  LoopbackServer server(echo);
  HttpClient client(server.base_url(), fast_options());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (client.send(get()).status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(server.connections_accepted(), 1u);
}

}  // namespace
