// The fluent API against real SQLite files: run scope and status, nesting, system tags, environment variables,
// experiments, bad input, threads, and the end of a run left active at program exit (in a child process).

#include "mlflow/fluent.hpp"

#include <gtest/gtest.h>

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "support/test_env.hpp"
#include "tracker/system_tags.hpp"

extern char** environ;

namespace fs = std::filesystem;
using mlflow::ActiveRun;
using mlflow::ErrorCode;
using mlflow::MlflowClient;
using mlflow::MlflowError;
using RunRecord = mlflow::Run;
using mlflow::RunStatus;
using mlflow::StartRunOptions;
using mlflow::test::expect_error;
using mlflow::test::ScopedEnv;
using mlflow::test::TempDir;

namespace {

/// Builds StartRunOptions by name (GCC 12 warns on designated initializers that leave fields to their defaults).
class Opts {
 public:
  Opts& run_id(std::string v) { o_.run_id = std::move(v); return *this; }
  Opts& experiment_id(std::string v) { o_.experiment_id = std::move(v); return *this; }
  Opts& run_name(std::string v) { o_.run_name = std::move(v); return *this; }
  Opts& nested() { o_.nested = true; return *this; }
  Opts& parent_run_id(std::string v) { o_.parent_run_id = std::move(v); return *this; }
  Opts& tags(std::map<std::string, std::string> v) { o_.tags = std::move(v); return *this; }
  Opts& description(std::string v) { o_.description = std::move(v); return *this; }
  operator const StartRunOptions&() const { return o_; }

 private:
  StartRunOptions o_;
};

const char* const kFluentEnvVars[] = {"MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID",
                                      "MLFLOW_RUN_ID",       "MLFLOW_RUN_CONTEXT",     "MLFLOW_TRACKING_USERNAME"};

/// Each test gets its own file as the tracking URI and an environment without the MLFLOW_* selection variables.
class FluentTest : public ::testing::Test {
 protected:
  FluentTest() {
    for (const char* name : kFluentEnvVars) env_.push_back(std::make_unique<ScopedEnv>(name, nullptr));
  }
  void SetUp() override { mlflow::set_tracking_uri(uri()); }
  void TearDown() override {
    while (!mlflow::active_run_id().empty()) mlflow::end_run();
    mlflow::set_tracking_uri("");
  }

  std::string uri() const { return "sqlite:///" + (dir_.path() / "mlflow.db").string(); }
  /// A separate client on the same file, to read back what the fluent API wrote.
  /// Another client on the file; the fluent API's logged points are flushed first (they are committed by the
  /// asynchronous logger, not by the call).
  MlflowClient reader() const {
    EXPECT_TRUE(mlflow::flush());
    return MlflowClient(std::optional<std::string>(uri()));
  }
  RunRecord stored(const std::string& run_id) const { return reader().get_run(run_id); }
  static std::string tag(const RunRecord& run, const std::string& key) {
    const auto* t = run.data.tag(key);
    return t != nullptr ? t->value : std::string("<absent>");
  }

  TempDir dir_;
  std::vector<std::unique_ptr<ScopedEnv>> env_;
};

// ---- run scope ----

TEST_F(FluentTest, run_scope_ends_finished) {
  std::string id;
  {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
    EXPECT_EQ(mlflow::active_run_id(), id);
    EXPECT_EQ(stored(id).info.status, RunStatus::RUNNING);
    mlflow::log_metric("loss", 0.5);
  }
  EXPECT_TRUE(mlflow::active_run_id().empty());
  EXPECT_EQ(mlflow::last_active_run_id(), id);
  const RunRecord run = stored(id);
  EXPECT_EQ(run.info.status, RunStatus::FINISHED);
  ASSERT_TRUE(run.info.end_time.has_value());
  EXPECT_GE(*run.info.end_time, run.info.start_time);
  ASSERT_NE(run.data.metric("loss"), nullptr);
}

TEST_F(FluentTest, run_scope_left_by_exception_ends_failed) {
  std::string id;
  try {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
    mlflow::log_param("p", 1);
    throw std::runtime_error("training diverged");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(mlflow::active_run_id().empty());
  const RunRecord run = stored(id);
  EXPECT_EQ(run.info.status, RunStatus::FAILED);
  EXPECT_TRUE(run.info.end_time.has_value());
  ASSERT_NE(run.data.param("p"), nullptr);
}

// A run started inside a destructor that runs during unwinding did not see the exception: it ends FINISHED.
struct StartsRunWhileUnwinding {
  std::string* run_id;
  ~StartsRunWhileUnwinding() {
    try {
      ActiveRun run = mlflow::start_run();
      *run_id = run.run_id();
    } catch (...) {
    }
  }
};

TEST_F(FluentTest, run_started_during_unwinding_ends_finished) {
  std::string id;
  try {
    StartsRunWhileUnwinding guard{&id};
    throw std::runtime_error("unrelated");
  } catch (const std::runtime_error&) {
  }
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(stored(id).info.status, RunStatus::FINISHED);
}

TEST_F(FluentTest, end_is_idempotent_and_end_run_wins_over_the_scope) {
  std::string first, second;
  {
    ActiveRun run = mlflow::start_run();
    first = run.run_id();
    run.end(RunStatus::KILLED);
    run.end(RunStatus::FINISHED);  // no effect
    EXPECT_TRUE(mlflow::active_run_id().empty());
  }
  EXPECT_EQ(stored(first).info.status, RunStatus::KILLED);
  {
    ActiveRun run = mlflow::start_run();
    second = run.run_id();
    mlflow::end_run(RunStatus::FAILED);
    EXPECT_EQ(mlflow::last_active_run_id(), second);
  }
  EXPECT_EQ(stored(second).info.status, RunStatus::FAILED);
  mlflow::end_run();  // nothing active: no-op
}

TEST_F(FluentTest, moved_active_run_ends_once_when_the_last_owner_goes) {
  std::string id;
  std::optional<ActiveRun> holder;
  {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
    holder.emplace(std::move(run));
  }
  EXPECT_EQ(stored(id).info.status, RunStatus::RUNNING);
  EXPECT_EQ(mlflow::active_run_id(), id);
  EXPECT_EQ(holder->run_id(), id);
  EXPECT_EQ(holder->info().experiment_id, "0");
  holder.reset();
  EXPECT_EQ(stored(id).info.status, RunStatus::FINISHED);
}

TEST_F(FluentTest, failure_to_end_is_reported_not_thrown_by_the_destructor) {
  std::string id;
  testing::internal::CaptureStderr();
  {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
    reader().delete_run(id);  // another program deletes it: ending it now fails in the store
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(id), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(mlflow::active_run_id().empty());
  EXPECT_EQ(mlflow::last_active_run_id(), id);

  // An explicit end() does throw, and the run is no longer active afterwards.
  ActiveRun run = mlflow::start_run();
  reader().delete_run(run.run_id());
  expect_error([&] { run.end(); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_TRUE(mlflow::active_run_id().empty());
}

TEST_F(FluentTest, second_run_without_nested_is_refused) {
  ActiveRun outer = mlflow::start_run();
  const auto e = expect_error([] { mlflow::start_run(); }, ErrorCode::INVALID_STATE);
  EXPECT_NE(e.message().find("Run with UUID " + outer.run_id() + " is already active"), std::string::npos)
      << e.message();
  EXPECT_NE(e.message().find("nested=true"), std::string::npos);
  EXPECT_EQ(mlflow::active_run_id(), outer.run_id());
  EXPECT_EQ(reader().search_runs({"0"}).items.size(), 1u);
}

TEST_F(FluentTest, nested_runs_get_the_parent_run_id) {
  std::string parent_id, child_id, grandchild_id;
  {
    ActiveRun parent = mlflow::start_run(Opts().run_name("parent"));
    parent_id = parent.run_id();
    {
      ActiveRun child = mlflow::start_run(Opts().nested());
      child_id = child.run_id();
      EXPECT_EQ(mlflow::active_run_id(), child_id);
      {
        ActiveRun grandchild = mlflow::start_run(Opts().nested());
        grandchild_id = grandchild.run_id();
      }
      EXPECT_EQ(mlflow::active_run_id(), child_id);
      EXPECT_EQ(mlflow::last_active_run_id(), grandchild_id);
    }
    EXPECT_EQ(mlflow::active_run_id(), parent_id);
  }
  EXPECT_EQ(tag(stored(child_id), "mlflow.parentRunId"), parent_id);
  EXPECT_EQ(tag(stored(grandchild_id), "mlflow.parentRunId"), child_id);
  EXPECT_EQ(tag(stored(parent_id), "mlflow.parentRunId"), "<absent>");
  for (const auto& id : {parent_id, child_id, grandchild_id}) EXPECT_EQ(stored(id).info.status, RunStatus::FINISHED);
}

TEST_F(FluentTest, explicit_parent_run_id) {
  MlflowClient client = reader();
  const std::string parent_id = client.create_run("0").info.run_id;
  {
    ActiveRun run = mlflow::start_run(Opts().parent_run_id(parent_id));
    EXPECT_EQ(tag(stored(run.run_id()), "mlflow.parentRunId"), parent_id);
    // With an active run, an explicit parent must be that run.
    expect_error([&] { mlflow::start_run(Opts().nested().parent_run_id(parent_id)); },
                 ErrorCode::INVALID_PARAMETER_VALUE);
    ActiveRun nested = mlflow::start_run(Opts().nested().parent_run_id(run.run_id()));
    EXPECT_EQ(tag(stored(nested.run_id()), "mlflow.parentRunId"), run.run_id());
  }
  expect_error([&] { mlflow::start_run(Opts().parent_run_id("0123456789abcdef0123456789abcdef")); },
               ErrorCode::RESOURCE_DOES_NOT_EXIST);
  client.delete_run(parent_id);
  expect_error([&] { mlflow::start_run(Opts().parent_run_id(parent_id)); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_TRUE(mlflow::active_run_id().empty());
}

// ---- tags of a new run ----

TEST_F(FluentTest, new_run_has_the_python_client_system_tags) {
  ScopedEnv user("MLFLOW_TRACKING_USERNAME", "test-user");
  std::string id;
  {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
  }
  const RunRecord run = stored(id);
  EXPECT_EQ(tag(run, "mlflow.user"), "test-user");
  EXPECT_EQ(run.info.user_id, "test-user");
  EXPECT_EQ(tag(run, "mlflow.source.name"), std::string(program_invocation_name));
  EXPECT_EQ(tag(run, "mlflow.source.type"), "LOCAL");
  EXPECT_TRUE(std::regex_match(tag(run, "mlflow.runName"), std::regex(R"(^[a-z]+-[a-z]+-\d{1,4}$)")))
      << tag(run, "mlflow.runName");
  EXPECT_EQ(run.info.run_name, tag(run, "mlflow.runName"));

  const fs::path exe_dir = mlflow::detail::executable_path().parent_path();
  if (const auto commit = mlflow::detail::git_head_commit(exe_dir)) {
    EXPECT_TRUE(std::regex_match(tag(run, "mlflow.source.git.commit"), std::regex("^[0-9a-f]{40}$")));
    EXPECT_EQ(tag(run, "mlflow.source.git.commit"), *commit);
  } else {
    EXPECT_EQ(tag(run, "mlflow.source.git.commit"), "<absent>");
  }
}

TEST_F(FluentTest, user_tag_defaults_to_the_login_name) {
  std::string id;
  {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
  }
  const std::string expected = mlflow::detail::current_user();
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(tag(stored(id), "mlflow.user"), expected);
}

TEST_F(FluentTest, run_name_description_context_and_user_tags) {
  ScopedEnv context("MLFLOW_RUN_CONTEXT", R"({"pipeline": "nightly", "mlflow.source.type": "JOB"})");
  std::string id;
  {
    ActiveRun run = mlflow::start_run(Opts()
                                          .run_name("my-run")
                                          .tags({{"team", "vision"}, {"mlflow.user", "override"}})
                                          .description("what this run is about"));
    id = run.run_id();
    EXPECT_EQ(run.info().run_name, "my-run");
  }
  const RunRecord run = stored(id);
  EXPECT_EQ(run.info.run_name, "my-run");
  EXPECT_EQ(tag(run, "mlflow.runName"), "my-run");
  EXPECT_EQ(tag(run, "mlflow.note.content"), "what this run is about");
  EXPECT_EQ(tag(run, "team"), "vision");
  EXPECT_EQ(tag(run, "pipeline"), "nightly");
  EXPECT_EQ(tag(run, "mlflow.source.type"), "JOB");  // MLFLOW_RUN_CONTEXT overrides the defaults
  EXPECT_EQ(tag(run, "mlflow.user"), "override");    // user tags override everything
  EXPECT_EQ(run.info.user_id, "override");

  // A run name given as a tag is used as the name.
  {
    ActiveRun tagged = mlflow::start_run(Opts().tags({{"mlflow.runName", "from-tag"}}));
    EXPECT_EQ(stored(tagged.run_id()).info.run_name, "from-tag");
  }
  // The description and the note tag together are ambiguous.
  expect_error([] { mlflow::start_run(Opts().tags({{"mlflow.note.content", "x"}}).description("y")); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_TRUE(mlflow::active_run_id().empty());
}

TEST_F(FluentTest, generated_run_names_vary) {
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i) {
    ActiveRun run = mlflow::start_run();
    names.push_back(run.info().run_name);
    EXPECT_TRUE(std::regex_match(names.back(), std::regex(R"(^[a-z]+-[a-z]+-\d{1,4}$)"))) << names.back();
  }
  std::sort(names.begin(), names.end());
  EXPECT_GT(std::unique(names.begin(), names.end()) - names.begin(), 1);
}

// ---- logging ----

TEST_F(FluentTest, logging_without_a_run_starts_one_that_stays_active) {
  mlflow::log_param("lr", 0.1);
  const std::string id = mlflow::active_run_id();
  ASSERT_FALSE(id.empty());
  mlflow::log_params({{"epochs", 10}, {"flag", true}, {"name", "adam"}, {"tiny", 1e-5}});
  mlflow::log_metric("loss", 0.25, 3, 1000);
  const std::int64_t before = mlflow::now_ms();
  mlflow::log_metric("acc", 0.5);
  mlflow::log_metrics({{"a", 1.0}, {"b", 2.0}}, 7);
  const std::int64_t after = mlflow::now_ms();
  mlflow::set_tag("phase", "train");
  mlflow::set_tags({{"x", "1"}, {"y", "2"}});
  EXPECT_EQ(mlflow::active_run_id(), id);
  ASSERT_TRUE(mlflow::active_run().has_value());
  EXPECT_EQ(mlflow::active_run()->info.run_id, id);
  EXPECT_EQ(stored(id).info.status, RunStatus::RUNNING);

  const RunRecord run = stored(id);
  EXPECT_EQ(run.data.param("lr")->value, "0.1");
  EXPECT_EQ(run.data.param("epochs")->value, "10");
  EXPECT_EQ(run.data.param("flag")->value, "True");
  EXPECT_EQ(run.data.param("name")->value, "adam");
  EXPECT_EQ(run.data.param("tiny")->value, "1e-05");
  EXPECT_EQ(*run.data.metric("loss"), (mlflow::Metric{"loss", 0.25, 1000, 3}));
  EXPECT_EQ(run.data.metric("acc")->step, 0);
  EXPECT_GE(run.data.metric("acc")->timestamp, before);
  EXPECT_LE(run.data.metric("acc")->timestamp, after);
  EXPECT_EQ(run.data.metric("a")->step, 7);
  EXPECT_EQ(run.data.metric("b")->step, 7);
  EXPECT_EQ(run.data.metric("a")->timestamp, run.data.metric("b")->timestamp);
  EXPECT_EQ(tag(run, "phase"), "train");
  EXPECT_EQ(tag(run, "y"), "2");

  mlflow::end_run();
  EXPECT_EQ(stored(id).info.status, RunStatus::FINISHED);
  EXPECT_FALSE(mlflow::active_run().has_value());
}

TEST_F(FluentTest, bad_input_throws_and_keeps_what_was_logged) {
  ActiveRun run = mlflow::start_run();
  mlflow::log_param("good", "1");
  mlflow::log_metric("m", 1.5, 1, 10);
  expect_error([] { mlflow::log_param("bad key!", 1); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::log_metric("../m", 1.0); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::log_metric("m", 1.0, 0, -5); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::set_tag(std::string(251, 't'), "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::log_params({{"ok", 1}, {"not ok!", 2}}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::log_param("good", "2"); }, ErrorCode::INVALID_PARAMETER_VALUE);  // changed value
  EXPECT_EQ(mlflow::active_run_id(), run.run_id());  // the run is still active and usable
  mlflow::log_metric("m", 2.5, 2, 20);

  const RunRecord stored_run = stored(run.run_id());
  ASSERT_EQ(stored_run.data.params.size(), 1u);
  EXPECT_EQ(stored_run.data.param("good")->value, "1");
  EXPECT_EQ(reader().get_metric_history(run.run_id(), "m").size(), 2u);
}

TEST_F(FluentTest, start_run_in_an_unknown_experiment_leaves_no_active_run) {
  expect_error([] { mlflow::start_run(Opts().experiment_id("424242")); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  EXPECT_TRUE(mlflow::active_run_id().empty());
  EXPECT_TRUE(reader().search_runs({"0"}).items.empty());
}

// ---- experiments ----

TEST_F(FluentTest, set_experiment_creates_once_and_selects_it) {
  const auto created = mlflow::set_experiment("fluent-exp");
  EXPECT_EQ(created.name, "fluent-exp");
  EXPECT_NE(created.experiment_id, "0");
  EXPECT_EQ(mlflow::set_experiment("fluent-exp").experiment_id, created.experiment_id);
  {
    ActiveRun run = mlflow::start_run();
    EXPECT_EQ(run.info().experiment_id, created.experiment_id);
  }
  // An explicit experiment_id wins over the current experiment.
  {
    ActiveRun run = mlflow::start_run(Opts().experiment_id("0"));
    EXPECT_EQ(run.info().experiment_id, "0");
  }
  EXPECT_EQ(mlflow::set_experiment_by_id("0").name, "Default");
  {
    ActiveRun run = mlflow::start_run();
    EXPECT_EQ(run.info().experiment_id, "0");
  }
  expect_error([] { mlflow::set_experiment(""); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::set_experiment_by_id("424242"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
}

TEST_F(FluentTest, set_experiment_refuses_a_deleted_experiment) {
  MlflowClient client = reader();
  const std::string id = client.create_experiment("gone");
  client.delete_experiment(id);
  const auto e = expect_error([] { mlflow::set_experiment("gone"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NE(e.message().find("Cannot set a deleted experiment 'gone'"), std::string::npos) << e.message();
  expect_error([&] { mlflow::set_experiment_by_id(id); }, ErrorCode::INVALID_PARAMETER_VALUE);
  ActiveRun run = mlflow::start_run();
  EXPECT_EQ(run.info().experiment_id, "0");
}

TEST_F(FluentTest, set_experiment_applies_to_the_store_it_was_made_in) {
  const auto experiment = mlflow::set_experiment("first-store");
  ASSERT_NE(experiment.experiment_id, "0");
  TempDir other;
  mlflow::set_tracking_uri("sqlite:///" + (other.path() / "other.db").string());
  {
    ActiveRun run = mlflow::start_run();
    EXPECT_EQ(run.info().experiment_id, "0");
  }
  mlflow::set_tracking_uri(uri());
  ActiveRun run = mlflow::start_run();
  EXPECT_EQ(run.info().experiment_id, experiment.experiment_id);
}

TEST_F(FluentTest, experiment_name_env_var_gets_or_creates) {
  ScopedEnv name("MLFLOW_EXPERIMENT_NAME", "from-env");
  std::string experiment_id;
  {
    ActiveRun run = mlflow::start_run();
    experiment_id = run.info().experiment_id;
  }
  const auto experiment = reader().get_experiment_by_name("from-env");
  ASSERT_TRUE(experiment.has_value());
  EXPECT_EQ(experiment->experiment_id, experiment_id);
  ActiveRun again = mlflow::start_run();
  EXPECT_EQ(again.info().experiment_id, experiment_id);
  EXPECT_EQ(reader().search_experiments().items.size(), 2u);  // Default and from-env
}

TEST_F(FluentTest, experiment_name_and_id_env_vars_must_agree) {
  const std::string id = reader().create_experiment("named");
  ScopedEnv name("MLFLOW_EXPERIMENT_NAME", "named");
  {
    ScopedEnv other_id("MLFLOW_EXPERIMENT_ID", "0");
    const auto e = expect_error([] { mlflow::start_run(); }, ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(e.message().find("MLFLOW_EXPERIMENT_ID"), std::string::npos);
    EXPECT_TRUE(mlflow::active_run_id().empty());
  }
  ScopedEnv same_id("MLFLOW_EXPERIMENT_ID", id.c_str());
  ActiveRun run = mlflow::start_run();
  EXPECT_EQ(run.info().experiment_id, id);
}

TEST_F(FluentTest, experiment_id_env_var_must_exist) {
  {
    ScopedEnv missing("MLFLOW_EXPERIMENT_ID", "424242");
    const auto e = expect_error([] { mlflow::start_run(); }, ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(e.message().find("424242"), std::string::npos);
  }
  const std::string id = reader().create_experiment("by-id");
  ScopedEnv existing("MLFLOW_EXPERIMENT_ID", id.c_str());
  {
    ActiveRun run = mlflow::start_run();
    EXPECT_EQ(run.info().experiment_id, id);
  }
  // set_experiment wins over the environment.
  mlflow::set_experiment_by_id("0");
  ActiveRun run = mlflow::start_run();
  EXPECT_EQ(run.info().experiment_id, "0");
}

TEST_F(FluentTest, deleted_experiment_from_env_name_fails_at_run_creation) {
  MlflowClient client = reader();
  client.delete_experiment(client.create_experiment("deleted-env"));
  ScopedEnv name("MLFLOW_EXPERIMENT_NAME", "deleted-env");
  expect_error([] { mlflow::start_run(); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_TRUE(mlflow::active_run_id().empty());
}

// ---- tracking URI ----

TEST_F(FluentTest, tracking_uri_env_var_is_the_default) {
  TempDir other;
  const std::string env_uri = "sqlite:///" + (other.path() / "env.db").string();
  mlflow::set_tracking_uri("");
  {
    ScopedEnv unset("MLFLOW_TRACKING_URI", nullptr);
    EXPECT_EQ(mlflow::get_tracking_uri(), "sqlite:///mlflow.db");
  }
  ScopedEnv env("MLFLOW_TRACKING_URI", env_uri.c_str());
  EXPECT_EQ(mlflow::get_tracking_uri(), env_uri);
  EXPECT_EQ(mlflow::fluent_client().tracking_uri(), env_uri);
  std::string id;
  {
    ActiveRun run = mlflow::start_run();
    id = run.run_id();
    mlflow::log_metric("m", 1.0);
  }
  EXPECT_EQ(MlflowClient(std::optional<std::string>(env_uri)).get_run(id).info.status, RunStatus::FINISHED);
  EXPECT_TRUE(reader().search_runs({"0"}).items.empty());  // nothing went to the fixture's file

  // set_tracking_uri wins over the variable, and MlflowClient() follows it.
  mlflow::set_tracking_uri(uri());
  EXPECT_EQ(mlflow::get_tracking_uri(), uri());
  EXPECT_EQ(MlflowClient().tracking_uri(), uri());
  EXPECT_EQ(&mlflow::fluent_client(), &mlflow::fluent_client());  // one shared client per URI
}

TEST_F(FluentTest, unsupported_tracking_uri_fails_at_first_use) {
  mlflow::set_tracking_uri("ftp://nowhere");
  expect_error([] { mlflow::start_run(); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { mlflow::log_metric("m", 1.0); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_TRUE(mlflow::active_run_id().empty());
}

// ---- resuming runs ----

TEST_F(FluentTest, run_id_env_var_resumes_the_run_and_is_then_unset) {
  MlflowClient client = reader();
  const auto created = client.create_run("0", 1000, {{"origin", "client"}});
  const std::string id = created.info.run_id;
  client.set_terminated(id, RunStatus::FAILED, 2000);
  ScopedEnv run_id("MLFLOW_RUN_ID", id.c_str());
  {
    ActiveRun run = mlflow::start_run(Opts().tags({{"resumed", "yes"}}).description("second part"));
    EXPECT_EQ(run.run_id(), id);
    EXPECT_EQ(std::getenv("MLFLOW_RUN_ID"), nullptr);
    const RunRecord resumed = stored(id);
    EXPECT_EQ(resumed.info.status, RunStatus::RUNNING);
    EXPECT_EQ(resumed.info.end_time, 2000);  // left as it was until the run ends again
    EXPECT_EQ(tag(resumed, "resumed"), "yes");
    EXPECT_EQ(tag(resumed, "mlflow.note.content"), "second part");
    EXPECT_EQ(tag(resumed, "origin"), "client");
    EXPECT_EQ(tag(resumed, "mlflow.source.type"), "<absent>");  // no system tags on a resumed run
    mlflow::log_metric("after_resume", 1.0);
  }
  const RunRecord ended = stored(id);
  EXPECT_EQ(ended.info.status, RunStatus::FINISHED);
  EXPECT_GT(*ended.info.end_time, 2000);
  EXPECT_EQ(client.search_runs({"0"}).items.size(), 1u);
  // The variable was consumed: the next run is a new one.
  ActiveRun next = mlflow::start_run();
  EXPECT_NE(next.run_id(), id);
}

TEST_F(FluentTest, run_id_option_resumes_and_bad_ids_are_refused) {
  MlflowClient client = reader();
  const std::string id = client.create_run("0").info.run_id;
  client.set_terminated(id);
  {
    ActiveRun run = mlflow::start_run(Opts().run_id(id));
    EXPECT_EQ(run.run_id(), id);
    EXPECT_EQ(stored(id).info.status, RunStatus::RUNNING);
  }
  EXPECT_EQ(stored(id).info.status, RunStatus::FINISHED);

  expect_error([] { mlflow::start_run(Opts().run_id("0123456789abcdef0123456789abcdef")); },
               ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([] { mlflow::start_run(Opts().run_id("not a run id")); }, ErrorCode::INVALID_PARAMETER_VALUE);
  client.delete_run(id);
  const auto e = expect_error([&] { mlflow::start_run(Opts().run_id(id)); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NE(e.message().find("deleted"), std::string::npos);
  EXPECT_TRUE(mlflow::active_run_id().empty());

  // A run outside the current experiment cannot be resumed while set_experiment points elsewhere.
  const std::string other_exp = client.create_experiment("other");
  const std::string other_run = client.create_run(other_exp).info.run_id;
  mlflow::set_experiment_by_id("0");
  expect_error([&] { mlflow::start_run(Opts().run_id(other_run)); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

// ---- threads ----

TEST_F(FluentTest, each_thread_has_its_own_run_stack) {
  ActiveRun main_run = mlflow::start_run();
  constexpr int kThreads = 4;
  constexpr int kPoints = 25;
  std::vector<std::string> ids(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        if (!mlflow::active_run_id().empty()) ++failures;  // the main thread's run is not visible here
        ActiveRun run = mlflow::start_run();                // and does not block this one
        ids[t] = run.run_id();
        for (int i = 0; i < kPoints; ++i) mlflow::log_metric("v", i, i);
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mlflow::active_run_id(), main_run.run_id());
  for (const auto& id : ids) {
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(stored(id).info.status, RunStatus::FINISHED);
    EXPECT_EQ(reader().get_metric_history(id, "v").size(), static_cast<std::size_t>(kPoints));
  }
}

// ---- program exit (child processes running this binary) ----

std::string self_path() { return fs::read_symlink("/proc/self/exe").string(); }

/// Runs this test binary with one test selected, argv[0] as given and extra environment variables; returns the
/// exit status (or -1 when it did not exit normally).
int run_self(const std::string& test_name, const std::string& argv0, const std::vector<std::string>& extra_env) {
  std::vector<std::string> args = {argv0, "--gtest_filter=" + test_name, "--gtest_also_run_disabled_tests"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string path = self_path();
  pid_t pid = 0;
  if (::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv.data(), envp.data()) != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Child bodies: skipped unless started by the tests below with MLFLOW_CPP_TEST_CHILD_URI set.
TEST(FluentChild, DISABLED_log_then_return_from_main) {
  const char* uri = std::getenv("MLFLOW_CPP_TEST_CHILD_URI");
  if (uri == nullptr) GTEST_SKIP() << "only run as a child process";
  mlflow::set_tracking_uri(uri);
  mlflow::log_param("child", "yes");  // starts a run that nobody ends: program exit must end it
  mlflow::log_metric("m", 1.0);
}

TEST(FluentChild, DISABLED_exit_inside_nested_scopes) {
  const char* uri = std::getenv("MLFLOW_CPP_TEST_CHILD_URI");
  if (uri == nullptr) GTEST_SKIP() << "only run as a child process";
  mlflow::set_tracking_uri(uri);
  mlflow::log_metric("outer", 1.0);
  ActiveRun nested = mlflow::start_run(Opts().run_name("nested").nested());
  mlflow::log_metric("inner", 2.0);
  std::exit(0);  // no destructor runs for `nested`: the exit handler ends both runs
}

TEST_F(FluentTest, runs_left_active_end_finished_at_program_exit) {
  const std::string argv0 = "./custom-program-name";
  ASSERT_EQ(run_self("FluentChild.DISABLED_log_then_return_from_main", argv0,
                     {"MLFLOW_CPP_TEST_CHILD_URI=" + uri()}),
            0);
  const auto runs = reader().search_runs({"0"}).items;
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].info.status, RunStatus::FINISHED);
  EXPECT_TRUE(runs[0].info.end_time.has_value());
  EXPECT_EQ(tag(runs[0], "mlflow.source.name"), argv0);  // argv[0] exactly as the program was started
  ASSERT_NE(runs[0].data.param("child"), nullptr);
}

TEST_F(FluentTest, exit_ends_nested_runs_finished) {
  ASSERT_EQ(run_self("FluentChild.DISABLED_exit_inside_nested_scopes", "child", {"MLFLOW_CPP_TEST_CHILD_URI=" + uri()}),
            0);
  const auto runs = reader().search_runs({"0"}).items;
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    EXPECT_EQ(run.info.status, RunStatus::FINISHED) << run.info.run_name;
    EXPECT_EQ(tag(run, "mlflow.source.name"), "child");
  }
}

}  // namespace
