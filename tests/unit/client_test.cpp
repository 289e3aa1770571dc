// MlflowClient against real SQLite files: defaults filled like Python's client, every input validated at the
// call site with MLflow's error codes, and a failed call leaving the file as it was.

#include "mlflow/client.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mlflow/error.hpp"
#include "mlflow/fluent.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using mlflow::ErrorCode;
using mlflow::Metric;
using mlflow::MlflowClient;
using mlflow::MlflowError;
using mlflow::Param;
using mlflow::RunStatus;
using mlflow::RunTag;
using mlflow::test::expect_error;
using mlflow::test::ScopedEnv;
using mlflow::test::TempDir;

namespace {

class ClientTest : public ::testing::Test {
 protected:
  std::string uri() const { return "sqlite:///" + (dir_.path() / "mlflow.db").string(); }
  /// A new client on the same file, as another program opening it would be. What client_ logged is made
  /// durable first: metric points are committed by the asynchronous logger, not by the call itself.
  MlflowClient reopen() const {
    EXPECT_TRUE(client_.flush());
    return MlflowClient(std::optional<std::string>(uri()));
  }

  TempDir dir_;
  mutable MlflowClient client_{std::optional<std::string>(uri())};
};

const std::string kUnknownRunId = "0123456789abcdef0123456789abcdef";

TEST_F(ClientTest, create_run_takes_user_id_from_the_mlflow_user_tag) {
  const auto run = client_.create_run("0", std::nullopt, {{"mlflow.user", "alice"}, {"team", "vision"}});
  EXPECT_EQ(run.info.user_id, "alice");
  const auto stored = reopen().get_run(run.info.run_id);
  EXPECT_EQ(stored.info.user_id, "alice");
  ASSERT_NE(stored.data.tag("team"), nullptr);
  EXPECT_EQ(stored.data.tag("team")->value, "vision");

  // Without the tag Python's client sends "unknown".
  EXPECT_EQ(client_.create_run("0").info.user_id, "unknown");
}

TEST_F(ClientTest, create_run_defaults_start_time_to_now_and_keeps_an_explicit_one) {
  const std::int64_t before = mlflow::now_ms();
  const auto run = client_.create_run("0");
  const std::int64_t after = mlflow::now_ms();
  EXPECT_GE(run.info.start_time, before);
  EXPECT_LE(run.info.start_time, after);
  EXPECT_EQ(run.info.status, RunStatus::RUNNING);
  EXPECT_FALSE(run.info.end_time.has_value());
  EXPECT_EQ(client_.create_run("0", 1234).info.start_time, 1234);
}

TEST_F(ClientTest, create_run_name_and_run_name_tag) {
  const auto named = client_.create_run("0", std::nullopt, {}, "my-run");
  EXPECT_EQ(named.info.run_name, "my-run");
  ASSERT_NE(named.data.tag("mlflow.runName"), nullptr);
  EXPECT_EQ(named.data.tag("mlflow.runName")->value, "my-run");

  const auto e = expect_error([&] { client_.create_run("0", std::nullopt, {{"mlflow.runName", "a"}}, "b"); },
                              ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NE(e.message().find("mlflow.runName"), std::string::npos);
}

TEST_F(ClientTest, create_run_validates_tags_the_store_would_not) {
  expect_error([&] { client_.create_run("0", std::nullopt, {{"bad key!", "v"}}); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.create_run("0", -5); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.create_run("not an id!"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_TRUE(client_.search_runs({"0"}).items.empty());

  // An over-long run tag value is cut to 8000 characters, as the server does by default.
  const auto run = client_.create_run("0", std::nullopt, {{"long", std::string(9000, 'x')}});
  EXPECT_EQ(reopen().get_run(run.info.run_id).data.tag("long")->value.size(), 8000u);
}

TEST_F(ClientTest, unknown_experiment_is_resource_does_not_exist) {
  expect_error([&] { client_.create_run("424242"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([&] { client_.get_experiment("424242"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  EXPECT_FALSE(client_.get_experiment_by_name("nope").has_value());
}

TEST_F(ClientTest, experiments_create_get_rename_delete_restore) {
  const std::string id = client_.create_experiment("exp", std::nullopt, {{"owner", "me"}});
  auto experiment = client_.get_experiment(id);
  EXPECT_EQ(experiment.name, "exp");
  ASSERT_EQ(experiment.tags.size(), 1u);
  EXPECT_EQ(experiment.tags[0].value, "me");
  EXPECT_EQ(client_.get_experiment_by_name("exp")->experiment_id, id);

  client_.rename_experiment(id, "exp2");
  EXPECT_EQ(reopen().get_experiment(id).name, "exp2");
  client_.delete_experiment(id);
  EXPECT_EQ(reopen().get_experiment(id).lifecycle_stage, "deleted");
  client_.restore_experiment(id);
  EXPECT_EQ(reopen().get_experiment(id).lifecycle_stage, "active");

  expect_error([&] { client_.create_experiment("exp2"); }, ErrorCode::RESOURCE_ALREADY_EXISTS);
  expect_error([&] { client_.create_experiment(""); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.create_experiment(std::string(501, 'n')); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.rename_experiment(id, ""); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST_F(ClientTest, over_long_experiment_tag_is_an_error_and_keeps_earlier_tags) {
  const std::string id = client_.create_experiment("tagged");
  client_.set_experiment_tag(id, "note", "first");
  const auto e = expect_error([&] { client_.set_experiment_tag(id, "note", std::string(5001, 'v')); },
                              ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NE(e.message().find("5000"), std::string::npos) << e.message();
  expect_error([&] { client_.set_experiment_tag(id, "bad//key", "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.create_experiment("other", std::nullopt, {{"k", std::string(5001, 'v')}}); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_FALSE(client_.get_experiment_by_name("other").has_value());

  const auto stored = reopen().get_experiment(id);
  ASSERT_EQ(stored.tags.size(), 1u);
  EXPECT_EQ(stored.tags[0].key, "note");
  EXPECT_EQ(stored.tags[0].value, "first");
  client_.set_experiment_tag(id, "note", std::string(5000, 'v'));  // the limit itself is fine
  EXPECT_EQ(reopen().get_experiment(id).tags[0].value.size(), 5000u);
}

TEST_F(ClientTest, log_metric_defaults_timestamp_to_now_and_step_to_zero) {
  const auto run = client_.create_run("0");
  const std::int64_t before = mlflow::now_ms();
  client_.log_metric(run.info.run_id, "loss", 0.25);
  const std::int64_t after = mlflow::now_ms();
  client_.log_metric(run.info.run_id, "loss", 0.5, 77, 3);
  const auto history = reopen().get_metric_history(run.info.run_id, "loss");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].value, 0.5);
  EXPECT_EQ(history[0].timestamp, 77);
  EXPECT_EQ(history[0].step, 3);
  EXPECT_EQ(history[1].value, 0.25);
  EXPECT_GE(history[1].timestamp, before);
  EXPECT_LE(history[1].timestamp, after);
  EXPECT_EQ(history[1].step, 0);
}

TEST_F(ClientTest, bad_keys_and_values_are_rejected_and_earlier_data_stays) {
  const auto run = client_.create_run("0");
  const std::string& id = run.info.run_id;
  client_.log_param(id, "lr", "0.1");
  client_.log_metric(id, "acc", 0.9, 10, 1);
  client_.set_tag(id, "phase", "train");

  for (const std::string& bad : {std::string("bad key!"), std::string("/abs"), std::string("a//b"),
                                 std::string("../up"), std::string(251, 'k'), std::string("")}) {
    expect_error([&] { client_.log_param(id, bad, "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
    expect_error([&] { client_.log_metric(id, bad, 1.0); }, ErrorCode::INVALID_PARAMETER_VALUE);
    expect_error([&] { client_.set_tag(id, bad, "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  }
  expect_error([&] { client_.log_metric(id, "acc", 1.0, -1); }, ErrorCode::INVALID_PARAMETER_VALUE);
  // Changing a logged param is refused by the store with MLflow's code.
  expect_error([&] { client_.log_param(id, "lr", "0.2"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  client_.log_param(id, "lr", "0.1");  // the same value again is fine

  const auto stored = reopen().get_run(id);
  ASSERT_EQ(stored.data.params.size(), 1u);
  EXPECT_EQ(stored.data.params[0], (Param{"lr", "0.1"}));
  ASSERT_EQ(stored.data.metrics.size(), 1u);
  EXPECT_EQ(stored.data.metrics[0], (Metric{"acc", 0.9, 10, 1}));
  ASSERT_NE(stored.data.tag("phase"), nullptr);
  EXPECT_EQ(stored.data.tag("phase")->value, "train");
  EXPECT_EQ(stored.data.tag("bad key!"), nullptr);
}

TEST_F(ClientTest, long_param_value_is_cut_unless_truncation_is_off) {
  const auto run = client_.create_run("0");
  client_.log_param(run.info.run_id, "long", std::string(7000, 'p'));
  EXPECT_EQ(reopen().get_run(run.info.run_id).data.param("long")->value.size(), 6000u);

  ScopedEnv no_truncation("MLFLOW_TRUNCATE_LONG_VALUES", "false");
  expect_error([&] { client_.log_param(run.info.run_id, "long2", std::string(6001, 'p')); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_EQ(reopen().get_run(run.info.run_id).data.param("long2"), nullptr);
}

TEST_F(ClientTest, unknown_and_malformed_run_ids) {
  expect_error([&] { client_.get_run(kUnknownRunId); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([&] { client_.log_metric(kUnknownRunId, "m", 1.0); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([&] { client_.log_param(kUnknownRunId, "p", "v"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([&] { client_.set_terminated(kUnknownRunId); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  for (const std::string& bad : {std::string("bad id!"), std::string(""), std::string("-leading-dash")}) {
    expect_error([&] { client_.get_run(bad); }, ErrorCode::INVALID_PARAMETER_VALUE);
    expect_error([&] { client_.log_metric(bad, "m", 1.0); }, ErrorCode::INVALID_PARAMETER_VALUE);
    expect_error([&] { client_.log_batch(bad, {Metric{"m", 1.0, 1, 0}}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  }
}

TEST_F(ClientTest, log_batch_validates_every_item_before_writing_any) {
  const auto run = client_.create_run("0");
  const std::string& id = run.info.run_id;
  std::vector<Metric> metrics;
  for (int i = 0; i < 10; ++i) metrics.push_back(Metric{"m", static_cast<double>(i), 100 + i, i});
  metrics.push_back(Metric{"bad metric!", 1.0, 1, 0});
  expect_error([&] { client_.log_batch(id, metrics); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.log_batch(id, {}, {Param{"ok", "1"}, Param{"", "2"}}); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.log_batch(id, {}, {}, {RunTag{"ok", "1"}, RunTag{"a/../b", "2"}}); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { client_.log_batch(id, {Metric{"neg", 1.0, -1, 0}}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  const auto e = expect_error([&] { client_.log_batch(id, {}, {Param{"dup", "1"}, Param{"dup", "1"}}); },
                              ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NE(e.message().find("dup"), std::string::npos);

  const auto stored = reopen().get_run(id);
  EXPECT_TRUE(stored.data.metrics.empty());
  EXPECT_TRUE(stored.data.params.empty());
  EXPECT_EQ(stored.data.tag("ok"), nullptr);
  EXPECT_TRUE(reopen().get_metric_history(id, "m").empty());
}

TEST_F(ClientTest, log_batch_of_any_size_is_accepted) {
  const auto run = client_.create_run("0");
  const std::string& id = run.info.run_id;
  std::vector<Metric> metrics;
  for (int i = 0; i < 2500; ++i) metrics.push_back(Metric{"series", i * 0.5, 1000 + i, i});
  std::vector<Param> params;
  for (int i = 0; i < 250; ++i) params.push_back(Param{"p" + std::to_string(i), std::to_string(i)});
  std::vector<RunTag> tags;
  for (int i = 0; i < 150; ++i) tags.push_back(RunTag{"t" + std::to_string(i), "v"});
  client_.log_batch(id, metrics, params, tags);
  client_.log_batch(id);  // nothing to log: no error, nothing written

  const auto stored = reopen().get_run(id);
  EXPECT_EQ(stored.data.params.size(), 250u);
  EXPECT_EQ(reopen().get_metric_history(id, "series").size(), 2500u);
  ASSERT_NE(stored.data.metric("series"), nullptr);
  EXPECT_EQ(stored.data.metric("series")->step, 2499);
  for (int i = 0; i < 150; ++i) EXPECT_NE(stored.data.tag("t" + std::to_string(i)), nullptr);
}

TEST_F(ClientTest, set_terminated_and_update_run) {
  const auto run = client_.create_run("0", std::nullopt, {}, "before");
  const std::string& id = run.info.run_id;

  const auto renamed = client_.update_run(id, std::nullopt, "after");
  EXPECT_EQ(renamed.run_name, "after");
  EXPECT_EQ(renamed.status, RunStatus::RUNNING);
  EXPECT_EQ(reopen().get_run(id).data.tag("mlflow.runName")->value, "after");
  EXPECT_EQ(client_.update_run(id).run_name, "after");  // nothing to change

  const std::int64_t before = mlflow::now_ms();
  client_.set_terminated(id);
  auto stored = reopen().get_run(id);
  EXPECT_EQ(stored.info.status, RunStatus::FINISHED);
  ASSERT_TRUE(stored.info.end_time.has_value());
  EXPECT_GE(*stored.info.end_time, before);

  const std::int64_t end_time = *stored.info.end_time;
  client_.update_run(id, RunStatus::KILLED);
  stored = reopen().get_run(id);
  EXPECT_EQ(stored.info.status, RunStatus::KILLED);
  EXPECT_EQ(stored.info.end_time, end_time);  // update_run leaves end_time alone

  client_.set_terminated(id, RunStatus::FAILED, 42);
  stored = reopen().get_run(id);
  EXPECT_EQ(stored.info.status, RunStatus::FAILED);
  EXPECT_EQ(stored.info.end_time, 42);
  expect_error([&] { client_.set_terminated(id, RunStatus::FAILED, -1); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST_F(ClientTest, delete_restore_run_and_delete_tag) {
  const auto run = client_.create_run("0", std::nullopt, {{"temp", "1"}});
  const std::string& id = run.info.run_id;
  client_.delete_tag(id, "temp");
  EXPECT_EQ(reopen().get_run(id).data.tag("temp"), nullptr);
  client_.delete_run(id);
  EXPECT_EQ(reopen().get_run(id).info.lifecycle_stage, "deleted");
  expect_error([&] { client_.log_metric(id, "m", 1.0); }, ErrorCode::INVALID_PARAMETER_VALUE);
  client_.restore_run(id);
  EXPECT_EQ(reopen().get_run(id).info.lifecycle_stage, "active");
}

TEST_F(ClientTest, search_validates_max_results) {
  for (std::int64_t bad : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{50001}}) {
    const auto e = expect_error([&] { client_.search_runs({"0"}, "", mlflow::ViewType::ACTIVE_ONLY, bad); },
                                ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(e.message().find("max_results"), std::string::npos);
    expect_error([&] { client_.search_experiments(mlflow::ViewType::ACTIVE_ONLY, bad); },
                 ErrorCode::INVALID_PARAMETER_VALUE);
  }
  client_.create_run("0");
  client_.create_run("0");
  const auto page = client_.search_runs({"0"}, "", mlflow::ViewType::ACTIVE_ONLY, 1);
  EXPECT_EQ(page.items.size(), 1u);
  EXPECT_FALSE(page.next_page_token.empty());
  EXPECT_EQ(client_.search_runs({"0"}, "", mlflow::ViewType::ACTIVE_ONLY, 50000).items.size(), 2u);
  EXPECT_FALSE(client_.search_experiments(mlflow::ViewType::ACTIVE_ONLY, 1).items.empty());
}

TEST(ClientUri, default_tracking_uri_reads_the_environment) {
  {
    ScopedEnv env("MLFLOW_TRACKING_URI", nullptr);
    EXPECT_EQ(mlflow::default_tracking_uri(), "sqlite:///mlflow.db");
  }
  {
    ScopedEnv env("MLFLOW_TRACKING_URI", "");
    EXPECT_EQ(mlflow::default_tracking_uri(), "sqlite:///mlflow.db");
  }
  {
    ScopedEnv env("MLFLOW_TRACKING_URI", "sqlite:////tmp/x.db");
    EXPECT_EQ(mlflow::default_tracking_uri(), "sqlite:////tmp/x.db");
  }
}

TEST(ClientUri, default_client_follows_the_tracking_uri) {
  TempDir dir;
  const std::string uri = "sqlite:///" + (dir.path() / "env.db").string();
  ScopedEnv env("MLFLOW_TRACKING_URI", uri.c_str());
  MlflowClient client;
  EXPECT_EQ(client.tracking_uri(), uri);
  client.create_experiment("from-env");
  EXPECT_TRUE(fs::exists(dir.path() / "env.db"));
  EXPECT_TRUE(MlflowClient(std::optional<std::string>(uri)).get_experiment_by_name("from-env").has_value());
}

TEST(ClientUri, unsupported_schemes_name_the_uri_and_the_supported_ones) {
  for (const std::string uri : {"file:///tmp/mlruns", "postgresql://db/mlflow", "databricks", "mlruns"}) {
    const auto e = expect_error([&] { mlflow::open_tracking_store(uri); }, ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(e.message().find(uri), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("sqlite:///"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("http"), std::string::npos) << e.message();
  }
  expect_error([&] { MlflowClient(std::optional<std::string>("ftp://x")); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { MlflowClient(nullptr, "sqlite:///x.db"); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST(ClientUri, http_uris_open_a_store_without_connecting) {
  for (const std::string uri : {"http://127.0.0.1:9", "HTTPS://mlflow.example.com/prefix"}) {
    EXPECT_NE(mlflow::open_tracking_store(uri), nullptr) << uri;
  }
}

TEST(ClientUri, sqlite_uris_open_a_store) {
  TempDir dir;
  const auto store = mlflow::open_tracking_store("sqlite:///" + (dir.path() / "a.db").string());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->get_experiment("0").name, "Default");
  EXPECT_TRUE(fs::exists(dir.path() / "a.db"));
}

}  // namespace
