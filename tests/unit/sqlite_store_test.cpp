// SqliteStore against MLflow's SqlAlchemyStore rules (protocol.md §3, §5.3, §6.1), one rule per test.
// Real SQLite files in a temporary directory; rows are checked with the raw SQLite C API on a separate connection.

#include "storage/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/error.hpp"
#include "storage/sqlite/uri_utils.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using mlflow::ErrorCode;
using mlflow::Experiment;
using mlflow::ExperimentTag;
using mlflow::Metric;
using mlflow::MlflowError;
using mlflow::Param;
using mlflow::Run;
using mlflow::RunStatus;
using mlflow::RunTag;
using mlflow::ViewType;
using mlflow::sqlite::SqliteStore;
using mlflow::test::expect_error;
using mlflow::test::Rows;
using mlflow::test::TempDir;

namespace {


Rows query(const std::string& path, const std::string& sql) { return mlflow::test::sqlite_query(path, sql); }

std::string scalar(const std::string& path, const std::string& sql) {
  const auto rows = query(path, sql);
  if (rows.size() != 1 || rows[0].size() != 1) throw std::runtime_error("not a scalar: " + sql);
  return rows[0][0];
}

const Metric* find_metric(const Run& run, const std::string& key) {
  for (const auto& m : run.data.metrics) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

const RunTag* find_tag(const Run& run, const std::string& key) {
  for (const auto& t : run.data.tags) {
    if (t.key == key) return &t;
  }
  return nullptr;
}

/// A store on a fresh file, an experiment and a run in it.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("MLFLOW_TRUNCATE_LONG_VALUES");
    path_ = dir_.file("mlflow.db");
    store_ = std::make_unique<SqliteStore>("sqlite:///" + path_, dir_.file("artifacts"));
    experiment_id_ = store_->create_experiment("exp");
    run_id_ = store_->create_run(experiment_id_, "alice", 1000, {}, "run").info.run_id;
  }

  SqliteStore& store() { return *store_; }
  std::string uri() const { return "sqlite:///" + path_; }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
  std::string experiment_id_;
  std::string run_id_;
};

}  // namespace

// ---- URIs and the store object --------------------------------------------------------------------------------

TEST(SqliteStoreUri, handles_only_sqlite_uris) {
  EXPECT_TRUE(SqliteStore::handles("sqlite:///mlflow.db"));
  EXPECT_TRUE(SqliteStore::handles("sqlite:////tmp/x.db"));
  EXPECT_TRUE(SqliteStore::handles("SQLite:///x.db"));
  EXPECT_FALSE(SqliteStore::handles("http://localhost:5000"));
  EXPECT_FALSE(SqliteStore::handles("mlflow.db"));
  EXPECT_FALSE(SqliteStore::handles("sqlite:"));
}

TEST(SqliteStoreUri, three_slashes_are_relative_four_are_absolute) {
  EXPECT_EQ(SqliteStore::path_from_uri("sqlite:///mlflow.db"), "mlflow.db");
  EXPECT_EQ(SqliteStore::path_from_uri("sqlite:///sub/dir/x.db"), "sub/dir/x.db");
  EXPECT_EQ(SqliteStore::path_from_uri("sqlite:////tmp/x.db"), "/tmp/x.db");
  EXPECT_EQ(SqliteStore::path_from_uri("sqlite://"), ":memory:");
  expect_error([] { SqliteStore::path_from_uri("sqlite://host/x.db"); }, ErrorCode::INVALID_PARAMETER_VALUE,
               {"sqlite:////absolute"});
  expect_error([] { SqliteStore::path_from_uri("sqlite:///x.db?mode=ro"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([] { SqliteStore::path_from_uri("file:///x.db"); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST(SqliteStoreUri, relative_uri_opens_a_file_in_the_current_directory) {
  TempDir dir;
  const auto old_cwd = fs::current_path();
  fs::current_path(dir.path());
  std::string path;
  std::string root;
  try {
    SqliteStore store("sqlite:///rel.db");
    path = store.path();
    root = store.default_artifact_root();
    EXPECT_EQ(store.get_experiment("0").artifact_location, fs::current_path().generic_string() + "/mlruns/0");
  } catch (...) {
    fs::current_path(old_cwd);
    throw;
  }
  fs::current_path(old_cwd);
  EXPECT_EQ(fs::path(path), dir.path() / "rel.db");
  EXPECT_TRUE(fs::exists(dir.path() / "rel.db"));
  EXPECT_EQ(root, (dir.path() / "mlruns").generic_string());
}

TEST(SqliteStoreUri, absolute_uri_and_path_accessor) {
  TempDir dir;
  const auto path = dir.file("abs.db");
  SqliteStore store("sqlite:///" + path);  // "sqlite:///" + "/tmp/..." = four slashes
  EXPECT_EQ(store.path(), path);
  EXPECT_EQ(store.tracking_uri(), "sqlite:///" + path);
  EXPECT_TRUE(fs::exists(path));
}

TEST(SqliteStoreUri, directory_is_refused) {
  TempDir dir;
  expect_error([&] { SqliteStore store("sqlite:///" + dir.path().string()); }, ErrorCode::INVALID_PARAMETER_VALUE,
               {"directory"});
}

TEST(SqliteStoreUri, missing_directory_is_a_clear_io_error) {
  TempDir dir;
  const auto path = dir.file("no/such/dir/x.db");
  expect_error([&] { SqliteStore store("sqlite:///" + path); }, ErrorCode::IO_ERROR, {"does not exist"});
  EXPECT_FALSE(fs::exists(dir.path() / "no"));
}

TEST(SqliteStoreUri, in_memory_store_works) {
  SqliteStore store("sqlite://");
  const auto id = store.create_experiment("mem");
  EXPECT_EQ(store.get_experiment(id).name, "mem");
}

TEST(SqliteStoreUri, artifact_path_joins_like_mlflow) {
  using mlflow::sqlite::append_to_uri_path;
  EXPECT_EQ(append_to_uri_path("/r/mlruns", {"0"}), "/r/mlruns/0");
  EXPECT_EQ(append_to_uri_path("/r/mlruns/", {"0"}), "/r/mlruns/0");
  EXPECT_EQ(append_to_uri_path("mlflow-artifacts:/", {"1"}), "mlflow-artifacts:/1");
  EXPECT_EQ(append_to_uri_path("mlflow-artifacts:/1", {"abc", "artifacts"}), "mlflow-artifacts:/1/abc/artifacts");
  EXPECT_EQ(append_to_uri_path("file:///x/0", {"abc", "artifacts"}), "file:///x/0/abc/artifacts");
  EXPECT_EQ(append_to_uri_path("s3://bucket/p?v=1", {"2"}), "s3://bucket/p/2?v=1");
  EXPECT_EQ(append_to_uri_path("s3://bucket", {"2"}), "s3://bucket/2");
  const std::string cwd = fs::current_path().generic_string();
  EXPECT_EQ(mlflow::sqlite::resolve_uri_if_local("./mlruns"), cwd + "/mlruns");
  EXPECT_EQ(mlflow::sqlite::resolve_uri_if_local("a//b/./c"), cwd + "/a/b/c");
  EXPECT_EQ(mlflow::sqlite::resolve_uri_if_local("/abs/x"), "/abs/x");
  EXPECT_EQ(mlflow::sqlite::resolve_uri_if_local("s3://b/x"), "s3://b/x");
}

// ---- experiments ----------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, default_experiment_0_exists) {
  const Experiment e = store().get_experiment("0");
  EXPECT_EQ(e.name, "Default");
  EXPECT_EQ(e.lifecycle_stage, "active");
  EXPECT_EQ(e.artifact_location, dir_.file("artifacts") + "/0");
  EXPECT_EQ(e.creation_time, e.last_update_time);
  EXPECT_GT(e.creation_time, 0);
}

TEST_F(SqliteStoreTest, experiment_ids_are_max_plus_one_and_locations_root_slash_id) {
  EXPECT_EQ(experiment_id_, "1");
  EXPECT_EQ(store().create_experiment("b"), "2");
  query(path_,
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
        "last_update_time) VALUES (10, 'ten', 'x', 'active', 1, 1)");
  EXPECT_EQ(store().create_experiment("c"), "11");
  EXPECT_EQ(store().get_experiment("11").artifact_location, dir_.file("artifacts") + "/11");
  EXPECT_EQ(scalar(path_, "SELECT artifact_location FROM experiments WHERE experiment_id = 2"),
            dir_.file("artifacts") + "/2");
}

TEST_F(SqliteStoreTest, create_experiment_stores_times_tags_and_given_location) {
  const auto id = store().create_experiment("withloc", std::string("s3://bucket/loc"), {{"k", "v"}, {"k2", "v2"}});
  const Experiment e = store().get_experiment(id);
  EXPECT_EQ(e.artifact_location, "s3://bucket/loc");
  EXPECT_EQ(e.lifecycle_stage, "active");
  EXPECT_EQ(e.creation_time, e.last_update_time);
  ASSERT_EQ(e.tags.size(), 2u);
  EXPECT_EQ(e.tags[0], (ExperimentTag{"k", "v"}));
  EXPECT_EQ(e.tags[1], (ExperimentTag{"k2", "v2"}));
  // A relative plain path is made absolute, as MLflow's resolve_uri_if_local does.
  const auto rel = store().create_experiment("rel", std::string("some/dir"));
  EXPECT_EQ(store().get_experiment(rel).artifact_location, fs::current_path().generic_string() + "/some/dir");
}

TEST_F(SqliteStoreTest, create_experiment_with_existing_name_is_resource_already_exists) {
  expect_error([&] { store().create_experiment("exp"); }, ErrorCode::RESOURCE_ALREADY_EXISTS,
               {"Experiment(name=exp) already exists"});
  store().delete_experiment(experiment_id_);
  expect_error([&] { store().create_experiment("exp"); }, ErrorCode::RESOURCE_ALREADY_EXISTS);
}

TEST_F(SqliteStoreTest, create_experiment_validates_name_and_tags) {
  expect_error([&] { store().create_experiment(""); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { store().create_experiment(std::string(501, 'n')); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error(
      [&] {
        store().create_experiment("t", std::nullopt, {{"k", std::string(5001, 'x')}});
      },
      ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM experiments"), "2");
}

TEST_F(SqliteStoreTest, unknown_experiment_is_resource_does_not_exist) {
  expect_error([&] { store().get_experiment("999"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST,
               {"No Experiment with id=999 exists"});
  expect_error([&] { store().get_experiment("abc"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST,
               {"No Experiment with id=abc exists"});
  expect_error([&] { store().create_run("999", "u", 0, {}, ""); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([&] { store().delete_experiment("999"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  expect_error([&] { store().set_experiment_tag("999", {"k", "v"}); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
}

TEST_F(SqliteStoreTest, get_experiment_by_name_returns_deleted_ones_and_nullopt_when_absent) {
  EXPECT_FALSE(store().get_experiment_by_name("nope").has_value());
  store().delete_experiment(experiment_id_);
  const auto e = store().get_experiment_by_name("exp");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->experiment_id, experiment_id_);
  EXPECT_EQ(e->lifecycle_stage, "deleted");
}

TEST_F(SqliteStoreTest, rename_experiment_rules) {
  store().rename_experiment(experiment_id_, "renamed");
  EXPECT_EQ(store().get_experiment(experiment_id_).name, "renamed");
  const auto other = store().create_experiment("other");
  expect_error([&] { store().rename_experiment(experiment_id_, "other"); }, ErrorCode::BAD_REQUEST,
               {"UNIQUE constraint failed: experiments.name"});
  store().delete_experiment(other);
  expect_error([&] { store().rename_experiment(other, "x"); }, ErrorCode::INVALID_STATE,
               {"Cannot rename a non-active experiment."});
  expect_error([&] { store().rename_experiment(experiment_id_, ""); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST_F(SqliteStoreTest, delete_experiment_cascades_to_its_runs) {
  const auto second = store().create_run(experiment_id_, "u", 2000, {}, "").info.run_id;
  store().delete_experiment(experiment_id_);
  EXPECT_EQ(store().get_experiment(experiment_id_).lifecycle_stage, "deleted");
  EXPECT_EQ(query(path_, "SELECT DISTINCT lifecycle_stage, deleted_time IS NOT NULL FROM runs WHERE experiment_id = " +
                             experiment_id_),
            (Rows{{"deleted", "1"}}));
  EXPECT_EQ(store().get_run(second).info.lifecycle_stage, "deleted");
  expect_error([&] { store().delete_experiment(experiment_id_); }, ErrorCode::RESOURCE_DOES_NOT_EXIST,
               {"No Experiment with id=" + experiment_id_ + " exists"});
  expect_error([&] { store().create_run(experiment_id_, "u", 0, {}, ""); }, ErrorCode::INVALID_PARAMETER_VALUE,
               {"The experiment " + experiment_id_ + " must be in the 'active' state. Current state is deleted."});
}

TEST_F(SqliteStoreTest, restore_experiment_restores_all_its_runs) {
  const auto second = store().create_run(experiment_id_, "u", 2000, {}, "").info.run_id;
  store().delete_run(second);  // deleted on its own before the experiment
  store().delete_experiment(experiment_id_);
  expect_error([&] { store().restore_experiment("0"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  store().restore_experiment(experiment_id_);
  EXPECT_EQ(store().get_experiment(experiment_id_).lifecycle_stage, "active");
  EXPECT_EQ(
      query(path_, "SELECT DISTINCT lifecycle_stage, deleted_time FROM runs WHERE experiment_id = " + experiment_id_),
      (Rows{{"active", "NULL"}}));
  expect_error([&] { store().restore_experiment(experiment_id_); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
}

TEST_F(SqliteStoreTest, delete_default_experiment_is_allowed) {
  store().delete_experiment("0");
  EXPECT_EQ(store().get_experiment("0").lifecycle_stage, "deleted");
}

TEST_F(SqliteStoreTest, set_experiment_tag_upserts_and_needs_an_active_experiment) {
  store().set_experiment_tag(experiment_id_, {"k", "v1"});
  store().set_experiment_tag(experiment_id_, {"k", "v2"});
  const auto tags = store().get_experiment(experiment_id_).tags;
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0].value, "v2");
  expect_error(
      [&] {
        store().set_experiment_tag(experiment_id_, {"k", std::string(5001, 'x')});
      },
      ErrorCode::INVALID_PARAMETER_VALUE);
  store().delete_experiment(experiment_id_);
  expect_error(
      [&] {
        store().set_experiment_tag(experiment_id_, {"k", "v3"});
      },
      ErrorCode::INVALID_PARAMETER_VALUE, {"must be in the 'active' state"});
}

TEST_F(SqliteStoreTest, search_experiments_view_types_order_and_pages) {
  const auto b = store().create_experiment("b");
  store().delete_experiment(b);
  // Distinct creation times, so the default order (creation_time DESC) does not depend on the clock.
  query(path_, "UPDATE experiments SET creation_time = 1000 + experiment_id");
  auto names = [](const mlflow::PagedList<Experiment>& page) {
    std::vector<std::string> out;
    for (const auto& e : page.items) out.push_back(e.name);
    return out;
  };
  EXPECT_EQ(names(store().search_experiments(ViewType::ACTIVE_ONLY)), (std::vector<std::string>{"exp", "Default"}));
  EXPECT_EQ(names(store().search_experiments(ViewType::DELETED_ONLY)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(store().search_experiments(ViewType::ALL).items.size(), 3u);
  const auto filtered = store().search_experiments(ViewType::ALL, 1000, "name = 'exp'");
  EXPECT_EQ(names(filtered), (std::vector<std::string>{"exp"}));
  const auto first = store().search_experiments(ViewType::ALL, 2, "", {"name ASC"});
  EXPECT_EQ(names(first), (std::vector<std::string>{"Default", "b"}));
  ASSERT_FALSE(first.next_page_token.empty());
  const auto second = store().search_experiments(ViewType::ALL, 2, "", {"name ASC"}, first.next_page_token);
  EXPECT_EQ(names(second), (std::vector<std::string>{"exp"}));
  EXPECT_TRUE(second.next_page_token.empty());
}

TEST_F(SqliteStoreTest, search_max_results_must_be_1_to_50000) {
  expect_error([&] { store().search_experiments(ViewType::ALL, 0); }, ErrorCode::INVALID_PARAMETER_VALUE,
               {"Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"});
  expect_error([&] { store().search_experiments(ViewType::ALL, 50001); }, ErrorCode::INVALID_PARAMETER_VALUE,
               {"It must be at most 50000"});
  expect_error([&] { store().search_runs({experiment_id_}, "", ViewType::ALL, 0); },
               ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { store().search_runs({experiment_id_}, "", ViewType::ALL, 50001); },
               ErrorCode::INVALID_PARAMETER_VALUE, {"50000"});
  EXPECT_EQ(store().search_runs({experiment_id_}, "", ViewType::ALL, 50000).items.size(), 1u);
}

// ---- runs -----------------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, create_run_writes_the_row_mlflow_writes) {
  const mlflow::Run run = store().create_run(experiment_id_, "bob", 1700000000000, {}, "named");
  EXPECT_TRUE(std::regex_match(run.info.run_id, std::regex("[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")))
      << run.info.run_id;
  const std::string artifact_uri = dir_.file("artifacts") + "/" + experiment_id_ + "/" + run.info.run_id + "/artifacts";
  EXPECT_EQ(run.info.artifact_uri, artifact_uri);
  EXPECT_EQ(run.info.status, RunStatus::RUNNING);
  EXPECT_EQ(run.info.lifecycle_stage, "active");
  EXPECT_FALSE(run.info.end_time.has_value());
  EXPECT_EQ(query(path_,
                  "SELECT name, source_type, source_name, entry_point_name, user_id, status, start_time, "
                  "end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time, "
                  "typeof(experiment_id) FROM runs WHERE run_uuid = '" +
                      run.info.run_id + "'"),
            (Rows{{"named", "UNKNOWN", "", "", "bob", "RUNNING", "1700000000000", "NULL", "", "active", artifact_uri,
                   experiment_id_, "NULL", "integer"}}));
}

TEST_F(SqliteStoreTest, run_ids_are_unique_random_uuid4_hex) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(store().create_run(experiment_id_, "u", i, {}, "r").info.run_id);
  EXPECT_EQ(ids.size(), 50u);
}

TEST_F(SqliteStoreTest, run_without_name_gets_a_generated_name_and_the_run_name_tag) {
  const mlflow::Run run = store().create_run(experiment_id_, "u", 0, {}, "");
  EXPECT_TRUE(std::regex_match(run.info.run_name, std::regex("[a-z]+-[a-z]+-[0-9]{1,4}"))) << run.info.run_name;
  const mlflow::Run back = store().get_run(run.info.run_id);
  EXPECT_EQ(back.info.run_name, run.info.run_name);
  ASSERT_NE(find_tag(back, "mlflow.runName"), nullptr);
  EXPECT_EQ(find_tag(back, "mlflow.runName")->value, run.info.run_name);
  EXPECT_EQ(scalar(path_, "SELECT name FROM runs WHERE run_uuid = '" + run.info.run_id + "'"), run.info.run_name);
}

TEST_F(SqliteStoreTest, run_name_argument_sets_the_run_name_tag) {
  const mlflow::Run back = store().get_run(run_id_);
  EXPECT_EQ(back.info.run_name, "run");
  ASSERT_NE(find_tag(back, "mlflow.runName"), nullptr);
  EXPECT_EQ(find_tag(back, "mlflow.runName")->value, "run");
}

TEST_F(SqliteStoreTest, run_name_tag_alone_names_the_run) {
  const mlflow::Run run = store().create_run(experiment_id_, "u", 0, {{"mlflow.runName", "from-tag"}}, "");
  EXPECT_EQ(run.info.run_name, "from-tag");
  EXPECT_EQ(store().get_run(run.info.run_id).info.run_name, "from-tag");
}

TEST_F(SqliteStoreTest, run_name_and_run_name_tag_must_agree) {
  expect_error(
      [&] {
        store().create_run(experiment_id_, "u", 0, {{"mlflow.runName", "b"}}, "a");
      },
      ErrorCode::INVALID_PARAMETER_VALUE,
      {"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
       "(run_name='a', mlflow.runName='b')."});
  EXPECT_NO_THROW(store().create_run(experiment_id_, "u", 0, {{"mlflow.runName", "same"}}, "same"));
}

TEST_F(SqliteStoreTest, tags_given_to_create_run_are_stored) {
  const mlflow::Run run = store().create_run(experiment_id_, "u", 0, {{"mlflow.user", "alice"}, {"a", "1"}}, "n");
  const mlflow::Run back = store().get_run(run.info.run_id);
  ASSERT_EQ(back.data.tags.size(), 3u);
  EXPECT_EQ(back.data.tags[0], (RunTag{"mlflow.user", "alice"}));
  EXPECT_EQ(back.data.tags[1], (RunTag{"a", "1"}));
  EXPECT_EQ(back.data.tags[2], (RunTag{"mlflow.runName", "n"}));
  EXPECT_EQ(run.data.tags, back.data.tags);
}

TEST_F(SqliteStoreTest, get_run_returns_info_and_data) {
  store().log_batch(run_id_, {{"m", 1.5, 10, 2}}, {{"p", "v"}}, {{"t", "x"}});
  const mlflow::Run run = store().get_run(run_id_);
  EXPECT_EQ(run.info.run_id, run_id_);
  EXPECT_EQ(run.info.experiment_id, experiment_id_);
  EXPECT_EQ(run.info.user_id, "alice");
  EXPECT_EQ(run.info.start_time, 1000);
  ASSERT_EQ(run.data.metrics.size(), 1u);
  EXPECT_EQ(run.data.metrics[0], (Metric{"m", 1.5, 10, 2}));
  ASSERT_EQ(run.data.params.size(), 1u);
  EXPECT_EQ(run.data.params[0], (Param{"p", "v"}));
  ASSERT_NE(find_tag(run, "t"), nullptr);
}

TEST_F(SqliteStoreTest, unknown_run_is_resource_does_not_exist) {
  const std::string id = "0123456789abcdef0123456789abcdef";
  const std::string message = "Run with id=" + id + " not found";
  expect_error([&] { store().get_run(id); }, ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  expect_error([&] { store().log_batch(id, {{"m", 1, 1, 0}}, {}, {}); }, ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  expect_error([&] { store().log_param(id, {"p", "v"}); }, ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  expect_error([&] { store().delete_run(id); }, ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  expect_error([&] { store().restore_run(id); }, ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  expect_error([&] { store().update_run_info(id, RunStatus::FINISHED, 5, std::nullopt); },
               ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  expect_error([&] { store().delete_tag(id, "t"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST, {message});
  EXPECT_TRUE(store().get_metric_history(id, "m").empty());
}

TEST_F(SqliteStoreTest, update_run_info_sets_status_end_time_and_name) {
  auto info = store().update_run_info(run_id_, RunStatus::FINISHED, 5000, std::nullopt);
  EXPECT_EQ(info.status, RunStatus::FINISHED);
  EXPECT_EQ(info.end_time, 5000);
  EXPECT_EQ(info.run_name, "run");
  info = store().update_run_info(run_id_, std::nullopt, std::nullopt, std::string("renamed"));
  EXPECT_EQ(info.status, RunStatus::FINISHED);
  EXPECT_EQ(info.run_name, "renamed");
  const mlflow::Run back = store().get_run(run_id_);
  EXPECT_EQ(back.info.status, RunStatus::FINISHED);
  EXPECT_EQ(back.info.end_time, 5000);
  EXPECT_EQ(back.info.run_name, "renamed");
  EXPECT_EQ(find_tag(back, "mlflow.runName")->value, "renamed");
  EXPECT_EQ(query(path_, "SELECT status, end_time, name FROM runs WHERE run_uuid = '" + run_id_ + "'"),
            (Rows{{"FINISHED", "5000", "renamed"}}));
  // An empty name changes nothing, as in MLflow.
  store().update_run_info(run_id_, std::nullopt, std::nullopt, std::string());
  EXPECT_EQ(store().get_run(run_id_).info.run_name, "renamed");
}

TEST_F(SqliteStoreTest, deleted_run_refuses_logging_and_updates) {
  store().delete_run(run_id_);
  EXPECT_EQ(
      query(path_, "SELECT lifecycle_stage, deleted_time IS NOT NULL FROM runs WHERE run_uuid = '" + run_id_ + "'"),
      (Rows{{"deleted", "1"}}));
  const std::string message = "The run " + run_id_ + " must be in the 'active' state. Current state is deleted.";
  expect_error([&] { store().log_metric(run_id_, {"m", 1, 1, 0}); }, ErrorCode::INVALID_PARAMETER_VALUE, {message});
  expect_error([&] { store().log_param(run_id_, {"p", "v"}); }, ErrorCode::INVALID_PARAMETER_VALUE, {message});
  expect_error([&] { store().set_tag(run_id_, {"t", "v"}); }, ErrorCode::INVALID_PARAMETER_VALUE, {message});
  expect_error([&] { store().log_batch(run_id_, {}, {}, {}); }, ErrorCode::INVALID_PARAMETER_VALUE, {message});
  expect_error([&] { store().update_run_info(run_id_, RunStatus::FAILED, std::nullopt, std::nullopt); },
               ErrorCode::INVALID_PARAMETER_VALUE, {message});
  expect_error([&] { store().delete_tag(run_id_, "mlflow.runName"); }, ErrorCode::INVALID_PARAMETER_VALUE, {message});
  EXPECT_EQ(store().get_run(run_id_).info.lifecycle_stage, "deleted");  // still readable
  EXPECT_NO_THROW(store().delete_run(run_id_));                         // idempotent
  store().restore_run(run_id_);
  EXPECT_EQ(query(path_, "SELECT lifecycle_stage, deleted_time FROM runs WHERE run_uuid = '" + run_id_ + "'"),
            (Rows{{"active", "NULL"}}));
  EXPECT_NO_THROW(store().log_metric(run_id_, {"m", 1, 1, 0}));
}

// ---- metrics --------------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, nan_is_stored_as_zero_with_is_nan_and_read_back_as_nan) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  store().log_metric(run_id_, {"n", nan, 10, 0});
  EXPECT_EQ(query(path_, "SELECT value, is_nan FROM metrics WHERE \"key\" = 'n'"), (Rows{{"0.0", "1"}}));
  EXPECT_EQ(query(path_, "SELECT value, is_nan FROM latest_metrics WHERE \"key\" = 'n'"), (Rows{{"0.0", "1"}}));
  EXPECT_TRUE(std::isnan(find_metric(store().get_run(run_id_), "n")->value));
  const auto history = store().get_metric_history(run_id_, "n");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_TRUE(std::isnan(history[0].value));
}

TEST_F(SqliteStoreTest, infinities_are_stored_as_plus_minus_dbl_max) {
  const double inf = std::numeric_limits<double>::infinity();
  store().log_batch(run_id_, {{"pinf", inf, 10, 0}, {"ninf", -inf, 10, 0}}, {}, {});
  EXPECT_EQ(query(path_,
                  "SELECT \"key\", value = 1.7976931348623157e308, value = -1.7976931348623157e308, is_nan "
                  "FROM metrics ORDER BY \"key\""),
            (Rows{{"ninf", "0", "1", "0"}, {"pinf", "1", "0", "0"}}));
  const mlflow::Run run = store().get_run(run_id_);
  EXPECT_EQ(find_metric(run, "pinf")->value, DBL_MAX);
  EXPECT_EQ(find_metric(run, "ninf")->value, -DBL_MAX);
  EXPECT_EQ(store().get_metric_history(run_id_, "pinf")[0].value, DBL_MAX);
}

TEST_F(SqliteStoreTest, exact_duplicate_metric_rows_are_dropped_silently) {
  store().log_metric(run_id_, {"m", 1.0, 10, 1});
  store().log_metric(run_id_, {"m", 1.0, 10, 1});
  store().log_batch(run_id_, {{"m", 1.0, 10, 1}, {"m", 1.0, 10, 1}, {"m", 2.0, 10, 1}}, {}, {});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  store().log_batch(run_id_, {{"n", nan, 10, 1}, {"n", nan, 10, 1}}, {}, {});
  EXPECT_EQ(store().get_metric_history(run_id_, "m").size(), 2u);
  EXPECT_EQ(store().get_metric_history(run_id_, "n").size(), 1u);
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM metrics"), "3");
}

TEST_F(SqliteStoreTest, latest_metrics_protocol_example_one_by_one) {
  // protocol.md §5.3: (step, timestamp, value) = (1,100,5.0),(3,50,1.0),(3,50,2.0),(3,60,0.5),(2,999,9.0)
  // -> latest is step 3, timestamp 60, value 0.5.
  for (const auto& [step, ts, value] : std::vector<std::tuple<std::int64_t, std::int64_t, double>>{
           {1, 100, 5.0}, {3, 50, 1.0}, {3, 50, 2.0}, {3, 60, 0.5}, {2, 999, 9.0}}) {
    store().log_metric(run_id_, {"m", value, ts, step});
  }
  const mlflow::Run run = store().get_run(run_id_);
  ASSERT_EQ(run.data.metrics.size(), 1u);
  EXPECT_EQ(run.data.metrics[0], (Metric{"m", 0.5, 60, 3}));
  EXPECT_EQ(query(path_, "SELECT value, timestamp, step, is_nan FROM latest_metrics"), (Rows{{"0.5", "60", "3", "0"}}));
}

TEST_F(SqliteStoreTest, latest_metrics_protocol_example_in_one_batch) {
  store().log_batch(run_id_,
                    {{"m", 5.0, 100, 1}, {"m", 1.0, 50, 3}, {"m", 2.0, 50, 3}, {"m", 0.5, 60, 3}, {"m", 9.0, 999, 2}},
                    {}, {});
  EXPECT_EQ(store().get_run(run_id_).data.metrics, (std::vector<Metric>{{"m", 0.5, 60, 3}}));
}

TEST_F(SqliteStoreTest, latest_metrics_batch_max_is_compared_with_the_stored_row) {
  store().log_metric(run_id_, {"m", 1.0, 10, 5});
  store().log_batch(run_id_, {{"m", 9.0, 100, 4}, {"m", 0.5, 10, 5}}, {}, {});  // neither beats (5,10,1.0)
  EXPECT_EQ(store().get_run(run_id_).data.metrics, (std::vector<Metric>{{"m", 1.0, 10, 5}}));
  store().log_batch(run_id_, {{"m", 3.0, 10, 5}, {"m", 2.0, 10, 5}}, {}, {});  // larger value, same step and ts
  EXPECT_EQ(store().get_run(run_id_).data.metrics, (std::vector<Metric>{{"m", 3.0, 10, 5}}));
}

TEST_F(SqliteStoreTest, latest_metrics_nan_counts_as_zero_and_ties_keep_the_stored_point) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  store().log_metric(run_id_, {"m", nan, 10, 0});
  store().log_metric(run_id_, {"m", -1.0, 10, 0});  // -1 < 0: the NaN point stays
  EXPECT_TRUE(std::isnan(store().get_run(run_id_).data.metrics[0].value));
  store().log_metric(run_id_, {"m", 0.0, 10, 0});  // equal to NaN-as-0: not strictly greater, NaN stays
  EXPECT_TRUE(std::isnan(store().get_run(run_id_).data.metrics[0].value));
  store().log_metric(run_id_, {"m", 0.25, 10, 0});
  EXPECT_EQ(store().get_run(run_id_).data.metrics[0].value, 0.25);
  EXPECT_EQ(query(path_, "SELECT is_nan FROM latest_metrics"), (Rows{{"0"}}));
}

TEST_F(SqliteStoreTest, metric_history_is_ordered_by_timestamp_step_value) {
  store().log_batch(run_id_, {{"m", 3.0, 20, 0}, {"m", 2.0, 10, 2}, {"m", 1.0, 10, 2}, {"m", 5.0, 10, 1}}, {}, {});
  store().log_metric(run_id_, {"other", 1.0, 1, 0});
  EXPECT_EQ(store().get_metric_history(run_id_, "m"),
            (std::vector<Metric>{{"m", 5.0, 10, 1}, {"m", 1.0, 10, 2}, {"m", 2.0, 10, 2}, {"m", 3.0, 20, 0}}));
}

TEST_F(SqliteStoreTest, metric_key_and_timestamp_are_validated) {
  expect_error(
      [&] {
        store().log_metric(run_id_, {"bad key!", 1.0, 1, 0});
      },
      ErrorCode::INVALID_PARAMETER_VALUE, {"bad key!"});
  expect_error([&] { store().log_metric(run_id_, {"a/../b", 1.0, 1, 0}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error(
      [&] {
        store().log_metric(run_id_, {std::string(251, 'k'), 1.0, 1, 0});
      },
      ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { store().log_metric(run_id_, {"neg", 1.0, -1, 0}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NO_THROW(store().log_metric(run_id_, {"negative step ok", 1.0, 1, -5}));
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM metrics"), "1");
}

// ---- params and tags ------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, param_logged_again_with_the_same_value_is_fine) {
  store().log_param(run_id_, {"lr", "0.01"});
  EXPECT_NO_THROW(store().log_param(run_id_, {"lr", "0.01"}));
  EXPECT_NO_THROW(store().log_batch(run_id_, {}, {{"lr", "0.01"}, {"new", "1"}}, {}));
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM params"), "2");
}

TEST_F(SqliteStoreTest, param_with_a_different_value_is_invalid_parameter_value) {
  store().log_param(run_id_, {"lr", "0.01"});
  expect_error(
      [&] {
        store().log_param(run_id_, {"lr", "0.02"});
      },
      ErrorCode::INVALID_PARAMETER_VALUE,
      {"Changing param values is not allowed. Param with key='lr' was already logged with value='0.01' for "
       "run ID='" +
       run_id_ + "'. Attempted logging new value '0.02'."});
  expect_error(
      [&] {
        store().log_batch(run_id_, {}, {{"lr", "CHANGED"}, {"fresh", "1"}}, {});
      },
      ErrorCode::INVALID_PARAMETER_VALUE,
      {"Changing param values is not allowed. Params were already logged='[{'key': 'lr', 'old_value': "
       "'0.01', 'new_value': 'CHANGED'}]' for run ID='" +
       run_id_ + "'."});
  EXPECT_EQ(query(path_, "SELECT \"key\", value FROM params"), (Rows{{"lr", "0.01"}}));
}

TEST_F(SqliteStoreTest, duplicate_param_keys_in_one_batch_are_an_error) {
  expect_error(
      [&] {
        store().log_batch(run_id_, {}, {{"dup", "1"}, {"dup", "1"}}, {});
      },
      ErrorCode::INVALID_PARAMETER_VALUE, {"dup"});
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM params"), "0");
}

TEST_F(SqliteStoreTest, long_param_and_tag_values_are_truncated) {
  store().log_batch(run_id_, {}, {{"p", std::string(6001, 'p')}}, {{"t", std::string(8001, 't')}});
  EXPECT_EQ(scalar(path_, "SELECT length(value) FROM params WHERE \"key\" = 'p'"), "6000");
  EXPECT_EQ(scalar(path_, "SELECT length(value) FROM tags WHERE \"key\" = 't'"), "8000");
  // Code points, not bytes: 6001 two-byte characters are cut to 6000 characters.
  std::string accents;
  for (int i = 0; i < 6001; ++i) accents += "\xc3\xa9";
  store().log_param(run_id_, {"utf8", accents});
  EXPECT_EQ(scalar(path_, "SELECT length(value) FROM params WHERE \"key\" = 'utf8'"), "6000");
}

TEST_F(SqliteStoreTest, long_values_are_an_error_when_truncation_is_off) {
  setenv("MLFLOW_TRUNCATE_LONG_VALUES", "false", 1);
  expect_error([&] { store().log_param(run_id_, {"p", std::string(6001, 'p')}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  unsetenv("MLFLOW_TRUNCATE_LONG_VALUES");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM params"), "0");
}

TEST_F(SqliteStoreTest, tags_upsert_and_last_duplicate_in_a_batch_wins) {
  store().set_tag(run_id_, {"t", "1"});
  store().set_tag(run_id_, {"t", "2"});
  store().log_batch(run_id_, {}, {}, {{"u", "a"}, {"u", "b"}});
  const mlflow::Run run = store().get_run(run_id_);
  EXPECT_EQ(find_tag(run, "t")->value, "2");
  EXPECT_EQ(find_tag(run, "u")->value, "b");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM tags WHERE \"key\" IN ('t', 'u')"), "2");
}

TEST_F(SqliteStoreTest, run_name_tag_renames_the_run) {
  store().set_tag(run_id_, {"mlflow.runName", "via-set-tag"});
  EXPECT_EQ(store().get_run(run_id_).info.run_name, "via-set-tag");
  store().log_batch(run_id_, {}, {}, {{"mlflow.runName", "via-batch"}});
  const mlflow::Run run = store().get_run(run_id_);
  EXPECT_EQ(run.info.run_name, "via-batch");
  EXPECT_EQ(find_tag(run, "mlflow.runName")->value, "via-batch");
  EXPECT_EQ(scalar(path_, "SELECT name FROM runs WHERE run_uuid = '" + run_id_ + "'"), "via-batch");
}

TEST_F(SqliteStoreTest, tag_key_is_validated) {
  expect_error([&] { store().set_tag(run_id_, {"bad key!", "v"}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { store().log_param(run_id_, {"/lead", "v"}); }, ErrorCode::INVALID_PARAMETER_VALUE);
  expect_error([&] { store().log_batch("bad id!", {}, {}, {}); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST_F(SqliteStoreTest, delete_tag_removes_it_and_a_missing_tag_is_resource_does_not_exist) {
  store().set_tag(run_id_, {"t1", "v"});
  store().delete_tag(run_id_, "t1");
  EXPECT_EQ(find_tag(store().get_run(run_id_), "t1"), nullptr);
  expect_error([&] { store().delete_tag(run_id_, "t1"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST,
               {"No tag with name: t1 in run with id " + run_id_});
}

// ---- batches --------------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, a_failed_batch_writes_nothing) {
  store().log_param(run_id_, {"p", "1"});
  const auto metrics_before = scalar(path_, "SELECT count(*) FROM metrics");
  // The param conflict is found in the database, after the batch's metric rows were inserted: they roll back.
  expect_error(
      [&] {
        store().log_batch(run_id_, {{"m", 1, 1, 0}}, {{"q", "1"}, {"p", "2"}}, {{"t", "v"}});
      },
      ErrorCode::INVALID_PARAMETER_VALUE);
  // An invalid item at the end fails the whole batch before anything is written.
  expect_error(
      [&] {
        store().log_batch(run_id_, {{"m", 1, 1, 0}}, {{"q", "1"}}, {{"t", "v"}, {"bad key!", "v"}});
      },
      ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM metrics"), metrics_before);
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM latest_metrics"), "0");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM params"), "1");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM tags WHERE \"key\" = 't'"), "0");
}

TEST_F(SqliteStoreTest, a_batch_of_any_size_is_accepted) {
  std::vector<Metric> metrics;
  for (int i = 0; i < 5000; ++i) metrics.push_back({"m" + std::to_string(i % 7), i * 0.5, 1000 + i, i});
  std::vector<Param> params;
  std::vector<RunTag> tags;
  for (int i = 0; i < 300; ++i) {
    params.push_back({"p" + std::to_string(i), std::to_string(i)});
    tags.push_back({"t" + std::to_string(i), std::to_string(i)});
  }
  store().log_batch(run_id_, metrics, params, tags);
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM metrics"), "5000");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM params"), "300");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM latest_metrics"), "7");
  EXPECT_EQ(scalar(path_, "SELECT step FROM latest_metrics WHERE \"key\" = 'm0'"), "4998");
  EXPECT_EQ(store().get_run(run_id_).data.tags.size(), 301u);  // plus mlflow.runName
}

// ---- search_runs ----------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, search_runs_filters_sorts_and_pages_in_the_given_experiments) {
  const auto r2 = store().create_run(experiment_id_, "u", 2000, {}, "two").info.run_id;
  const auto r3 = store().create_run(experiment_id_, "u", 3000, {}, "three").info.run_id;
  const auto other_exp = store().create_experiment("other");
  store().create_run(other_exp, "u", 4000, {}, "elsewhere");
  store().log_batch(run_id_, {{"loss", 0.9, 1, 0}}, {{"lr", "0.1"}}, {});
  store().log_batch(r2, {{"loss", 0.5, 1, 0}}, {{"lr", "0.1"}}, {});
  store().log_batch(r3, {{"loss", 0.7, 1, 0}}, {{"lr", "0.2"}}, {});
  auto names = [](const mlflow::PagedList<mlflow::Run>& page) {
    std::vector<std::string> out;
    for (const auto& r : page.items) out.push_back(r.info.run_name);
    return out;
  };
  EXPECT_EQ(names(store().search_runs({experiment_id_})), (std::vector<std::string>{"three", "two", "run"}));
  EXPECT_EQ(names(store().search_runs({experiment_id_, other_exp})).size(), 4u);
  EXPECT_EQ(names(store().search_runs({experiment_id_}, "params.lr = '0.1'", ViewType::ACTIVE_ONLY, 1000,
                                      {"metrics.loss ASC"})),
            (std::vector<std::string>{"two", "run"}));
  const auto page1 = store().search_runs({experiment_id_}, "", ViewType::ACTIVE_ONLY, 2, {"metrics.loss DESC"});
  EXPECT_EQ(names(page1), (std::vector<std::string>{"run", "three"}));
  const auto page2 =
      store().search_runs({experiment_id_}, "", ViewType::ACTIVE_ONLY, 2, {"metrics.loss DESC"}, page1.next_page_token);
  EXPECT_EQ(names(page2), (std::vector<std::string>{"two"}));
  EXPECT_TRUE(page2.next_page_token.empty());
  // The data of each run comes along.
  const auto found = store().search_runs({experiment_id_}, "metrics.loss < 0.6");
  ASSERT_EQ(found.items.size(), 1u);
  EXPECT_EQ(found.items[0].data.metrics, (std::vector<Metric>{{"loss", 0.5, 1, 0}}));
  EXPECT_EQ(found.items[0].data.params, (std::vector<Param>{{"lr", "0.1"}}));
  expect_error([&] { store().search_runs({experiment_id_}, "metrics.loss <<< 1"); },
               ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST_F(SqliteStoreTest, search_runs_view_type_selects_lifecycle) {
  const auto r2 = store().create_run(experiment_id_, "u", 2000, {}, "gone").info.run_id;
  store().delete_run(r2);
  EXPECT_EQ(store().search_runs({experiment_id_}, "", ViewType::ACTIVE_ONLY).items.size(), 1u);
  const auto deleted = store().search_runs({experiment_id_}, "", ViewType::DELETED_ONLY);
  ASSERT_EQ(deleted.items.size(), 1u);
  EXPECT_EQ(deleted.items[0].info.run_id, r2);
  EXPECT_EQ(store().search_runs({experiment_id_}, "", ViewType::ALL).items.size(), 2u);
  EXPECT_TRUE(store().search_runs({"12345", "not-a-number"}).items.empty());
}

// ---- concurrency ----------------------------------------------------------------------------------------------

TEST_F(SqliteStoreTest, four_threads_logging_into_one_run) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  constexpr int kPerBatch = 20;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int b = 0; b < kBatches; ++b) {
          std::vector<Metric> metrics;
          for (int i = 0; i < kPerBatch; ++i) {
            const int step = b * kPerBatch + i;
            metrics.push_back({"thread" + std::to_string(t), static_cast<double>(step), 1000 + step, step});
            metrics.push_back({"shared", static_cast<double>(t), 1000 + step, step});
          }
          store().log_batch(run_id_, metrics, {{"p" + std::to_string(t) + "_" + std::to_string(b), "v"}},
                            {{"shared-tag", std::to_string(t)}});
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM metrics"), std::to_string(kThreads * kBatches * kPerBatch * 2));
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM params"), std::to_string(kThreads * kBatches));
  const mlflow::Run run = store().get_run(run_id_);
  for (int t = 0; t < kThreads; ++t) {
    const Metric* m = find_metric(run, "thread" + std::to_string(t));
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->step, kBatches * kPerBatch - 1);
  }
  // The last step was logged by every thread with its own value: the greatest value wins.
  EXPECT_EQ(*find_metric(run, "shared"),
            (Metric{"shared", kThreads - 1.0, 1000 + kBatches * kPerBatch - 1, kBatches * kPerBatch - 1}));
}

TEST_F(SqliteStoreTest, two_store_instances_on_one_file) {
  SqliteStore second(uri(), dir_.file("artifacts"));
  constexpr int kBatches = 40;
  std::vector<std::string> errors(2);
  auto writer = [&](SqliteStore& s, int index) {
    try {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Metric> metrics;
        for (int i = 0; i < 10; ++i) metrics.push_back({"m", static_cast<double>(index), b * 10 + i, b * 10 + i});
        s.log_batch(run_id_, metrics, {}, {{"writer" + std::to_string(index), std::to_string(b)}});
        if (b % 10 == 0) s.create_experiment("exp-" + std::to_string(index) + "-" + std::to_string(b));
      }
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(index)] = e.what();
    }
  };
  std::thread a(writer, std::ref(store()), 0);
  std::thread b(writer, std::ref(second), 1);
  a.join();
  b.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  EXPECT_EQ(scalar(path_, "SELECT count(*) FROM metrics"), std::to_string(2 * kBatches * 10));
  // Experiment ids stay unique and dense although two connections allocated them.
  EXPECT_EQ(scalar(path_,
                   "SELECT count(DISTINCT experiment_id) = count(*) AND max(experiment_id) = count(*) - 1 "
                   "FROM experiments"),
            "1");
  const mlflow::Run run = SqliteStore(uri()).get_run(run_id_);
  EXPECT_EQ(find_tag(run, "writer0")->value, std::to_string(kBatches - 1));
  EXPECT_EQ(find_tag(run, "writer1")->value, std::to_string(kBatches - 1));
  EXPECT_EQ(*find_metric(run, "m"), (Metric{"m", 1.0, kBatches * 10 - 1, kBatches * 10 - 1}));
}

TEST_F(SqliteStoreTest, two_processes_writing_one_file) {
  constexpr int kBatches = 30;
  const pid_t child = fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    // The child opens its own store (a connection must not cross fork) and leaves without destructors.
    int code = 0;
    try {
      SqliteStore own(uri());
      for (int b = 0; b < kBatches; ++b) own.log_batch(run_id_, {{"child", 1.0, b, b}}, {}, {{"child-tag", "x"}});
    } catch (...) {
      code = 1;
    }
    _exit(code);
  }
  std::string error;
  try {
    SqliteStore own(uri());
    for (int b = 0; b < kBatches; ++b) own.log_batch(run_id_, {{"parent", 1.0, b, b}}, {}, {});
  } catch (const std::exception& e) {
    error = e.what();
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(error, "");
  EXPECT_EQ(query(path_, "SELECT \"key\", count(*) FROM metrics GROUP BY \"key\" ORDER BY \"key\""),
            (Rows{{"child", std::to_string(kBatches)}, {"parent", std::to_string(kBatches)}}));
}
