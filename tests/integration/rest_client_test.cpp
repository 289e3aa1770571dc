// MlflowClient and the fluent API against the in-memory MLflow server double, over real sockets: what a training
// program logs arrives in the server, under the server's run id, with both server flavors (2.17 closes every
// connection, 3.3 keeps it alive and paginates metric history).

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "mlflow/fluent.hpp"
#include "support/fake_mlflow_server.hpp"
#include "support/test_env.hpp"
#include "tracker/rest/rest_store.hpp"

namespace {

using mlflow::ErrorCode;
using mlflow::Metric;
using mlflow::MlflowClient;
using mlflow::MlflowError;
using mlflow::RunStatus;
using mlflow::test::Fault;
using mlflow::test::FakeMlflowOptions;
using mlflow::test::FakeMlflowServer;
using mlflow::test::FaultSpec;
using mlflow::test::MlflowFlavor;
using mlflow::test::ScopedEnv;
using mlflow::test::TempDir;
using mlflow::test::write_file;
using namespace std::chrono_literals;

mlflow::transport::Options fast_options() {
  mlflow::transport::Options o;
  o.request_timeout = 2s;
  o.total_timeout = 8s;
  o.max_retries = 3;
  o.backoff_factor = 0.01;
  o.backoff_jitter = 0.0;
  return o;
}

MlflowClient client_for(const FakeMlflowServer& server) {
  return MlflowClient(std::make_shared<mlflow::rest::RestStore>(server.base_url(), fast_options()),
                      server.base_url());
}

class RestClientFlavors : public ::testing::TestWithParam<MlflowFlavor> {};

TEST_P(RestClientFlavors, ClientLogsARunThatTheServerHolds) {
  FakeMlflowOptions fo;
  fo.flavor = GetParam();
  FakeMlflowServer server(fo);
  MlflowClient client = client_for(server);

  const std::string exp_id = client.create_experiment("rest-client", std::nullopt, {{"team", "cpp"}});
  EXPECT_EQ(server.experiment(exp_id)->name, "rest-client");
  EXPECT_EQ(client.get_experiment_by_name("rest-client")->experiment_id, exp_id);
  EXPECT_FALSE(client.get_experiment_by_name("missing").has_value());

  auto run = client.create_run(exp_id, 1796397282000, {{"mlflow.user", "tester"}}, "cpp-run");
  ASSERT_EQ(server.runs().size(), 1u);
  EXPECT_EQ(run.info.run_id, server.runs()[0].info.run_id) << "the run id is the server's";
  EXPECT_EQ(run.info.run_name, "cpp-run");
  EXPECT_EQ(run.info.start_time, 1796397282000);

  client.log_param(run.info.run_id, "lr", "0.01");
  client.log_metric(run.info.run_id, "loss", 0.5, 1796397282000, 0);
  client.log_metric(run.info.run_id, "loss", 0.25, 1796397282001, 1);
  client.log_metric(run.info.run_id, "nan", std::numeric_limits<double>::quiet_NaN(), 1796397282001, 0);
  client.set_tag(run.info.run_id, "stage", "dev");
  client.log_batch(run.info.run_id, {{"acc", 0.9, 1796397282000, 0}, {"acc", 0.95, 1796397282002, 1}},
                   {{"batch", "32"}}, {{"framework", "cpp"}});
  client.set_terminated(run.info.run_id, RunStatus::FINISHED, 1796397287000);

  auto held = server.run(run.info.run_id);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->info.status, RunStatus::FINISHED);
  EXPECT_EQ(held->info.end_time, 1796397287000);
  EXPECT_EQ(held->data.param("lr")->value, "0.01");
  EXPECT_EQ(held->data.param("batch")->value, "32");
  EXPECT_EQ(held->data.tag("stage")->value, "dev");
  EXPECT_EQ(held->data.tag("framework")->value, "cpp");
  EXPECT_EQ(held->data.metric("loss")->value, 0.25);
  EXPECT_EQ(server.metric_history(run.info.run_id, "acc"),
            (std::vector<Metric>{{"acc", 0.9, 1796397282000, 0}, {"acc", 0.95, 1796397282002, 1}}));
  ASSERT_EQ(server.metric_history(run.info.run_id, "nan").size(), 1u);
  EXPECT_TRUE(std::isnan(server.metric_history(run.info.run_id, "nan")[0].value)) << "NaN must not be corrupted";

  // And back through the client.
  auto got = client.get_run(run.info.run_id);
  EXPECT_EQ(got.info.status, RunStatus::FINISHED);
  EXPECT_EQ(got.data.metric("acc")->value, 0.95);
  auto history = client.get_metric_history(run.info.run_id, "loss");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1], (Metric{"loss", 0.25, 1796397282001, 1}));
  EXPECT_TRUE(std::isnan(client.get_metric_history(run.info.run_id, "nan").at(0).value));
  auto found = client.search_runs({exp_id}, "params.lr = '0.01'");
  ASSERT_EQ(found.items.size(), 1u);
  EXPECT_EQ(found.items[0].info.run_id, run.info.run_id);

  // A param logged again with another value is the server's error, with its code.
  try {
    client.log_param(run.info.run_id, "lr", "0.02");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_EQ(e.http_status(), 400);
  }
}

TEST_P(RestClientFlavors, LargeBatchAndPaginatedHistoryRoundTrip) {
  FakeMlflowOptions fo;
  fo.flavor = GetParam();
  FakeMlflowServer server(fo);
  MlflowClient client = client_for(server);
  auto run = client.create_run("0");
  // 3.3 pages get-history by the 25000 the client asks for: go past one page there. (The double's duplicate check
  // is quadratic, so 2.17, which does not page, gets a smaller batch.)
  const int n = GetParam() == MlflowFlavor::v3_3 ? 25010 : 2500;
  std::vector<Metric> metrics;
  for (int i = 0; i < n; ++i) metrics.push_back({"loss", 1.0 / (i + 1), 1796397282000 + i, i});
  std::vector<mlflow::Param> params;
  for (int i = 0; i < 150; ++i) params.push_back({"p" + std::to_string(i), std::to_string(i)});
  // The same key twice with the same value: MlflowClient refuses that at the call site, the store itself splits it
  // into separate requests, which the server accepts.
  params.push_back({"p0", "0"});
  client.store().log_batch(run.info.run_id, metrics, params, {});
  EXPECT_EQ(server.metric_count(run.info.run_id), metrics.size());
  auto history = client.get_metric_history(run.info.run_id, "loss");
  // Exactly what the server holds, in order.
  EXPECT_TRUE(history == server.metric_history(run.info.run_id, "loss"));
  // And what was logged. The double parses request bodies with Boost.JSON 1.81's default (fast, up to one ulp
  // off) number parser, unlike MLflow; so values are compared within one ulp here, exactly in rest_store_test.
  ASSERT_EQ(history.size(), metrics.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    const Metric& a = history[i];
    const Metric& b = metrics[i];
    const bool value_ok = a.value == b.value || std::nextafter(a.value, b.value) == b.value;
    if (a.key != b.key || a.timestamp != b.timestamp || a.step != b.step || !value_ok) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0u);
  if (GetParam() == MlflowFlavor::v3_3) {
    EXPECT_EQ(server.request_count("GET", "metrics/get-history"), 2u) << "two pages";
  }
  EXPECT_EQ(server.run(run.info.run_id)->data.params.size(), 150u);
}

INSTANTIATE_TEST_SUITE_P(Flavors, RestClientFlavors, ::testing::Values(MlflowFlavor::v2_17, MlflowFlavor::v3_3),
                         [](const auto& info) { return info.param == MlflowFlavor::v2_17 ? "v2_17" : "v3_3"; });

TEST(RestClient, FluentApiLogsToTheServer) {
  FakeMlflowOptions fo;
  fo.flavor = MlflowFlavor::v3_3;
  FakeMlflowServer server(fo);
  mlflow::set_tracking_uri(server.base_url());
  const auto exp = mlflow::set_experiment("fluent-rest");
  EXPECT_EQ(server.experiment_by_name("fluent-rest")->experiment_id, exp.experiment_id);

  std::string run_id;
  {
    auto run = mlflow::start_run();
    run_id = run.run_id();
    mlflow::log_param("lr", 0.01);
    mlflow::log_metric("loss", 0.5, 0);
    mlflow::log_metric("loss", 0.25, 1);
    mlflow::set_tag("stage", "dev");
  }
  ASSERT_EQ(server.runs().size(), 1u);
  EXPECT_EQ(run_id, server.runs()[0].info.run_id) << "the run id a user sees is the server's";
  auto held = server.run(run_id);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->info.experiment_id, exp.experiment_id);
  EXPECT_EQ(held->info.status, RunStatus::FINISHED);
  EXPECT_TRUE(held->info.end_time.has_value());
  EXPECT_GT(held->info.start_time, 0) << "start_time is sent on create";
  EXPECT_EQ(held->data.param("lr")->value, "0.01");
  EXPECT_EQ(held->data.tag("stage")->value, "dev");
  EXPECT_NE(held->data.tag("mlflow.user"), nullptr);
  EXPECT_EQ(held->data.tag("mlflow.source.type")->value, "LOCAL");
  auto history = server.metric_history(run_id, "loss");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].value, 0.25);
  EXPECT_EQ(history[1].step, 1);
  EXPECT_EQ(mlflow::last_active_run_id(), run_id);
}

TEST(RestClient, FluentRunLeftByAnExceptionIsFailedOnTheServer) {
  FakeMlflowServer server;
  mlflow::set_tracking_uri(server.base_url());
  std::string run_id;
  try {
    auto run = mlflow::start_run();
    run_id = run.run_id();
    mlflow::log_metric("loss", 1.0);
    throw std::runtime_error("training diverged");
  } catch (const std::runtime_error&) {
  }
  auto held = server.run(run_id);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->info.status, RunStatus::FAILED);
  EXPECT_EQ(server.metric_history(run_id, "loss").size(), 1u);
}

TEST(RestClient, TransientServerFaultsAreRidden) {
  FakeMlflowServer server;
  MlflowClient client = client_for(server);
  auto run = client.create_run("0");
  server.loopback().push_fault(Fault::status_500);
  server.loopback().push_fault(Fault::reset_before_response);
  client.log_metric(run.info.run_id, "loss", 0.5, 1, 0);
  EXPECT_EQ(server.metric_history(run.info.run_id, "loss").size(), 1u);
}

TEST(RestClient, ServerDownIsAClearBoundedError) {
  FakeMlflowServer server;
  const std::string uri = server.base_url();
  server.loopback().stop();
  ScopedEnv retries("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2");
  ScopedEnv backoff("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0");
  ScopedEnv jitter("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0");
  ScopedEnv timeout("MLFLOW_HTTP_REQUEST_TIMEOUT", "2");
  // Without the spool the call itself reports the outage (with it, the run would start offline by design:
  // see offline_process_test).
  ScopedEnv no_spool("MLFLOW_CPP_SPOOL", "false");
  const auto start = std::chrono::steady_clock::now();
  try {
    MlflowClient client(uri);  // options from the environment, as a user's program gets them
    client.create_run("0");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
    EXPECT_NE(msg.find("Is the server running?"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_URI"), std::string::npos) << msg;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

TEST(RestClient, BasicAuthServerAcceptsConfiguredCredentials) {
  FakeMlflowOptions fo;
  fo.basic_auth = std::make_pair(std::string("alice"), std::string("pw"));
  FakeMlflowServer server(fo);
  auto o = fast_options();
  MlflowClient anonymous(std::make_shared<mlflow::rest::RestStore>(server.base_url(), o), server.base_url());
  try {
    anonymous.create_run("0");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::UNAUTHENTICATED);
  }
  o.username = "alice";
  o.password = "pw";
  MlflowClient client(std::make_shared<mlflow::rest::RestStore>(server.base_url(), o), server.base_url());
  auto run = client.create_run("0");
  EXPECT_EQ(server.runs().size(), 1u);
  EXPECT_EQ(server.runs()[0].info.run_id, run.info.run_id);
}

TEST(RestClient, HttpsServerWithItsCertificate) {
  FakeMlflowOptions fo;
  fo.tls = true;
  FakeMlflowServer server(fo);
  TempDir dir;
  const std::string ca = dir.file("ca.pem");
  write_file(ca, server.cert_pem());
  auto o = fast_options();
  o.server_cert_path = ca;
  MlflowClient client(std::make_shared<mlflow::rest::RestStore>(server.base_url(), o), server.base_url());
  const std::string run_id = client.create_run("0").info.run_id;
  EXPECT_EQ(server.runs().at(0).info.run_id, run_id);
}

}  // namespace
