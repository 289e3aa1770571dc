// The bad-input matrix (issue 8): every kind of bad input a training program, a file or a server can produce,
// each with its asserted outcome — a clear MlflowError or MLflow's documented behaviour — never a crash or a
// hang, and nothing logged before it is lost. Local store: a real sqlite:/// file through MlflowClient (the
// asynchronous logger included). Server: RestStore against the fake MLflow server or a loopback server
// answering garbage, and a client on the spool (logging -> spool -> uploader) for "nothing is lost".

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "mlflow/validation.hpp"
#include "storage/spool/spool.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "support/fake_mlflow_server.hpp"
#include "support/loopback_server.hpp"
#include "support/test_env.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/spooled_store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace mlflow;

constexpr std::int64_t T0 = 1700000000000;
constexpr std::int64_t I64_MAX = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t I64_MIN = std::numeric_limits<std::int64_t>::min();
constexpr double DBL_MAX_ = std::numeric_limits<double>::max();

using mlflow::test::read_file;
using mlflow::test::ScopedEnv;
using mlflow::test::TempDir;
using mlflow::test::write_file;

std::string sqlite_uri(const std::string& absolute_path) { return "sqlite:///" + absolute_path; }

/// The message of the MlflowError with `code` that f must throw (expect_error records a failure otherwise).
std::string error_of(const std::function<void()>& f, ErrorCode code) { return mlflow::test::expect_error(f, code).what(); }

std::vector<Metric> points(const std::string& key, std::int64_t n, std::int64_t first_step = 0) {
  std::vector<Metric> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    out.push_back({key, static_cast<double>(i) * 0.5, T0 + i, first_step + i});
  }
  return out;
}

/// A client on a fresh MLflow-format file, with one run in the Default experiment and a few things logged.
struct LocalRun {
  TempDir dir;
  std::string path = dir.file("mlflow.db");
  std::unique_ptr<MlflowClient> client = std::make_unique<MlflowClient>(sqlite_uri(path));
  std::string run_id;

  LocalRun() {
    run_id = client->create_run("0", T0).info.run_id;
    client->log_metric(run_id, "kept", 1.5, T0, 0);
    client->log_param(run_id, "kept_param", "1");
    client->set_tag(run_id, "kept_tag", "yes");
  }

  /// What was logged in the constructor is all still there.
  void expect_kept() const {
    const mlflow::Run run = client->get_run(run_id);
    ASSERT_NE(run.data.metric("kept"), nullptr);
    EXPECT_EQ(run.data.metric("kept")->value, 1.5);
    ASSERT_NE(run.data.param("kept_param"), nullptr);
    EXPECT_EQ(run.data.param("kept_param")->value, "1");
    ASSERT_NE(run.data.tag("kept_tag"), nullptr);
    EXPECT_EQ(client->get_metric_history(run_id, "kept").size(), 1u);
  }
};

// =============================================================================================================
// Keys and values

TEST(BadInput, invalid_keys_fail_at_the_call_and_keep_what_was_logged) {
  LocalRun r;
  const std::vector<std::string> bad_keys = {
      "bad key!", "", "/absolute", "trailing/", "a//b", "./a", "a/../b", "..", "tab\tkey", "semi;colon",
      std::string("nul\0key", 7), "\xff\xfe", "caf\xc3", "quote'key", "new\nline"};
  for (const std::string& key : bad_keys) {
    SCOPED_TRACE("key '" + key + "'");
    error_of([&] { r.client->log_metric(r.run_id, key, 2.0, T0, 1); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->log_param(r.run_id, key, "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->set_tag(r.run_id, key, "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
    // One bad key refuses the whole batch, before anything of it is written.
    error_of([&] { r.client->log_batch(r.run_id, {{"fine", 1.0, T0, 0}, {key, 1.0, T0, 0}}); },
             ErrorCode::INVALID_PARAMETER_VALUE);
  }
  // What MLflow accepts: Unicode letters, spaces, colons, slashes, dots and dashes.
  r.client->log_metric(r.run_id, "caf\xc3\xa9 train/loss:v1.2-x", 3.0, T0, 0);
  r.client->flush();
  r.expect_kept();
  const mlflow::Run run = r.client->get_run(r.run_id);
  EXPECT_EQ(run.data.metrics.size(), 2u);
  EXPECT_EQ(run.data.metric("fine"), nullptr);
  ASSERT_NE(run.data.metric("caf\xc3\xa9 train/loss:v1.2-x"), nullptr);
}

TEST(BadInput, over_long_keys_are_refused_and_the_limit_itself_is_accepted) {
  LocalRun r;
  const std::string at_limit(validation::MAX_ENTITY_KEY_LENGTH, 'k');
  const std::string over_limit(validation::MAX_ENTITY_KEY_LENGTH + 1, 'k');
  std::string unicode_at_limit;  // 250 code points, 500 bytes: the limit counts characters, as Python's len()
  for (std::size_t i = 0; i < validation::MAX_ENTITY_KEY_LENGTH; ++i) unicode_at_limit += "\xc3\xa9";

  const std::string message =
      error_of([&] { r.client->log_metric(r.run_id, over_limit, 1.0, T0, 0); }, ErrorCode::INVALID_PARAMETER_VALUE);
  EXPECT_NE(message.find("250"), std::string::npos) << message;
  error_of([&] { r.client->log_param(r.run_id, over_limit, "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  error_of([&] { r.client->set_tag(r.run_id, over_limit, "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);
  error_of([&] { r.client->log_param(r.run_id, unicode_at_limit + "x", "v"); }, ErrorCode::INVALID_PARAMETER_VALUE);

  r.client->log_metric(r.run_id, at_limit, 1.0, T0, 0);
  r.client->log_param(r.run_id, at_limit, "v");
  r.client->set_tag(r.run_id, unicode_at_limit, "v");
  const mlflow::Run run = r.client->get_run(r.run_id);
  EXPECT_NE(run.data.metric(at_limit), nullptr);
  EXPECT_NE(run.data.param(at_limit), nullptr);
  EXPECT_NE(run.data.tag(unicode_at_limit), nullptr);
  r.expect_kept();
}

TEST(BadInput, over_long_values_are_cut_to_mlflow_limits_or_refused_when_truncation_is_off) {
  LocalRun r;
  std::string long_param;  // 6001 three-byte characters: cut at a character boundary, never inside one
  for (std::size_t i = 0; i <= validation::MAX_PARAM_VAL_LENGTH; ++i) long_param += "\xe2\x82\xac";
  const std::string long_tag(validation::MAX_TAG_VAL_LENGTH + 100, 't');
  r.client->log_param(r.run_id, "long_param", long_param);
  r.client->set_tag(r.run_id, "long_tag", long_tag);
  const mlflow::Run run = r.client->get_run(r.run_id);
  ASSERT_NE(run.data.param("long_param"), nullptr);
  EXPECT_EQ(run.data.param("long_param")->value, long_param.substr(0, 3 * validation::MAX_PARAM_VAL_LENGTH));
  ASSERT_NE(run.data.tag("long_tag"), nullptr);
  EXPECT_EQ(run.data.tag("long_tag")->value, long_tag.substr(0, validation::MAX_TAG_VAL_LENGTH));

  {
    ScopedEnv strict("MLFLOW_TRUNCATE_LONG_VALUES", "false");
    error_of([&] { r.client->log_param(r.run_id, "long_param2", long_param); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->set_tag(r.run_id, "long_tag2", long_tag); }, ErrorCode::INVALID_PARAMETER_VALUE);
  }
  {
    ScopedEnv nonsense("MLFLOW_TRUNCATE_LONG_VALUES", "maybe");
    const std::string message = error_of([&] { r.client->log_param(r.run_id, "p3", long_param); },
                                         ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(message.find("MLFLOW_TRUNCATE_LONG_VALUES"), std::string::npos) << message;
  }
  // Experiment tags and names are never truncated (as in MLflow).
  error_of([&] { r.client->create_experiment(std::string(validation::MAX_EXPERIMENT_NAME_LENGTH + 1, 'e')); },
           ErrorCode::INVALID_PARAMETER_VALUE);
  error_of([&] {
    r.client->set_experiment_tag("0", "big", std::string(validation::MAX_EXPERIMENT_TAG_VAL_LENGTH + 1, 'v'));
  }, ErrorCode::INVALID_PARAMETER_VALUE);
  const mlflow::Run after = r.client->get_run(r.run_id);
  EXPECT_EQ(after.data.param("long_param2"), nullptr);
  EXPECT_EQ(after.data.tag("long_tag2"), nullptr);
  r.expect_kept();
}

TEST(BadInput, text_that_is_not_utf8_is_refused_at_the_call) {
  LocalRun r;
  // Invalid byte, truncated sequence, overlong encoding of '/', UTF-16 surrogate, beyond U+10FFFF.
  const std::vector<std::string> bad_texts = {"\xff", "abc\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
  for (const std::string& text : bad_texts) {
    SCOPED_TRACE(::testing::PrintToString(text));
    const std::string message =
        error_of([&] { r.client->log_param(r.run_id, "p", text); }, ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
    error_of([&] { r.client->set_tag(r.run_id, "t", text); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->log_batch(r.run_id, {}, {}, {{"t", text}}); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->create_experiment("exp" + text); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->set_experiment_tag("0", "t", text); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->create_run("0", T0, {}, "run" + text); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->create_run("0", T0, {{"t", text}}); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->update_run(r.run_id, std::nullopt, "name" + text); },
             ErrorCode::INVALID_PARAMETER_VALUE);
  }
  // Valid UTF-8 of every length (2, 3 and 4 bytes) is stored exactly.
  const std::string fine = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  r.client->log_param(r.run_id, "p", fine);
  const mlflow::Run run = r.client->get_run(r.run_id);
  ASSERT_NE(run.data.param("p"), nullptr);
  EXPECT_EQ(run.data.param("p")->value, fine);
  EXPECT_EQ(run.data.tag("t"), nullptr);
  // Only the one run: no run was created by the refused calls.
  EXPECT_EQ(r.client->search_runs({"0"}).items.size(), 1u);
  r.expect_kept();
}

// =============================================================================================================
// Numbers

TEST(BadInput, nan_and_infinities_are_stored_as_mlflow_stores_them) {
  LocalRun r;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const double tiny = std::numeric_limits<double>::denorm_min();
  r.client->log_batch(r.run_id, {{"v", nan, T0, 0}, {"v", inf, T0, 1}, {"v", -inf, T0, 2}, {"v", DBL_MAX_, T0, 3},
                                 {"v", tiny, T0, 4}, {"v", -0.0, T0, 5}});
  const auto history = r.client->get_metric_history(r.run_id, "v");
  ASSERT_EQ(history.size(), 6u);
  std::map<std::int64_t, double> by_step;
  for (const auto& m : history) by_step[m.step] = m.value;
  EXPECT_TRUE(std::isnan(by_step[0]));
  // MLflow's SQL store keeps +-Inf as +-DBL_MAX and returns that (protocol.md 1.2).
  EXPECT_EQ(by_step[1], DBL_MAX_);
  EXPECT_EQ(by_step[2], std::numeric_limits<double>::lowest());
  EXPECT_EQ(by_step[3], DBL_MAX_);
  EXPECT_EQ(by_step[4], tiny);
  EXPECT_EQ(by_step[5], 0.0);
  // latest_metrics follows MLflow's rule (max step, then timestamp, then value): step 5.
  EXPECT_EQ(r.client->get_run(r.run_id).data.metric("v")->step, 5);
  r.expect_kept();
}

TEST(BadInput, steps_and_timestamps_at_the_int64_limits_are_kept_and_negative_timestamps_refused) {
  LocalRun r;
  r.client->log_batch(r.run_id, {{"s", 1.0, T0, I64_MIN}, {"s", 2.0, T0, -1}, {"s", 3.0, T0, I64_MAX},
                                 {"t", 1.0, 0, 0}, {"t", 2.0, I64_MAX, 1}});
  std::map<std::int64_t, double> steps;
  for (const auto& m : r.client->get_metric_history(r.run_id, "s")) steps[m.step] = m.value;
  EXPECT_EQ(steps, (std::map<std::int64_t, double>{{I64_MIN, 1.0}, {-1, 2.0}, {I64_MAX, 3.0}}));
  std::map<std::int64_t, std::int64_t> timestamps;
  for (const auto& m : r.client->get_metric_history(r.run_id, "t")) timestamps[m.step] = m.timestamp;
  EXPECT_EQ(timestamps, (std::map<std::int64_t, std::int64_t>{{0, 0}, {1, I64_MAX}}));

  for (const std::int64_t bad : {std::int64_t{-1}, I64_MIN}) {
    const std::string message =
        error_of([&] { r.client->log_metric(r.run_id, "neg", 1.0, bad, 0); }, ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(message.find("imestamp"), std::string::npos) << message;
    error_of([&] { r.client->log_batch(r.run_id, {{"neg", 1.0, T0, 0}, {"neg", 1.0, bad, 1}}); },
             ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->create_run("0", bad); }, ErrorCode::INVALID_PARAMETER_VALUE);
  }
  EXPECT_TRUE(r.client->get_metric_history(r.run_id, "neg").empty());
  r.expect_kept();
}

TEST(BadInput, a_million_points_in_one_call_reach_the_sqlite_store_whole) {
  LocalRun r;
  constexpr std::int64_t n = 1'000'000;
  r.client->log_batch(r.run_id, points("big", n));
  ASSERT_TRUE(r.client->flush(std::chrono::minutes(5)));
  const auto history = r.client->get_metric_history(r.run_id, "big");
  ASSERT_EQ(history.size(), static_cast<std::size_t>(n));
  std::vector<bool> seen(n, false);
  for (const auto& m : history) {
    ASSERT_GE(m.step, 0);
    ASSERT_LT(m.step, n);
    ASSERT_FALSE(seen[static_cast<std::size_t>(m.step)]) << "step " << m.step << " twice";
    seen[static_cast<std::size_t>(m.step)] = true;
    ASSERT_EQ(m.value, static_cast<double>(m.step) * 0.5);
    ASSERT_EQ(m.timestamp, T0 + m.step);
  }
  EXPECT_EQ(r.client->get_run(r.run_id).data.metric("big")->step, n - 1);
  r.expect_kept();
}

// =============================================================================================================
// Ids and run states

TEST(BadInput, unknown_and_malformed_ids_are_clear_errors) {
  LocalRun r;
  const std::string unknown = "0123456789abcdef0123456789abcdef";
  error_of([&] { r.client->get_run(unknown); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { r.client->log_metric(unknown, "m", 1.0, T0, 0); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { r.client->log_param(unknown, "p", "1"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { r.client->set_tag(unknown, "t", "1"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { r.client->set_terminated(unknown); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { r.client->get_experiment("999"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { r.client->create_run("999", T0); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  for (const std::string& bad : std::vector<std::string>{"bad id!", "", "../x", "-leading", std::string(300, 'a')}) {
    SCOPED_TRACE(bad);
    error_of([&] { r.client->log_metric(bad, "m", 1.0, T0, 0); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->get_run(bad); }, ErrorCode::INVALID_PARAMETER_VALUE);
    error_of([&] { r.client->create_run(bad, T0); }, ErrorCode::INVALID_PARAMETER_VALUE);
  }
  EXPECT_EQ(r.client->search_runs({"0"}).items.size(), 1u);
  r.expect_kept();
}

TEST(BadInput, a_finished_run_still_takes_logging_as_mlflow_allows_and_a_deleted_one_refuses_it) {
  LocalRun r;
  r.client->set_terminated(r.run_id, RunStatus::FINISHED, T0 + 100);
  // MLflow's stores only check the lifecycle stage (deleted or not), not the status: logging to an ended run
  // is accepted and leaves the status and end time as they are.
  r.client->log_metric(r.run_id, "late", 7.0, T0 + 200, 1);
  r.client->log_param(r.run_id, "late_param", "x");
  r.client->set_tag(r.run_id, "late_tag", "y");
  mlflow::Run run = r.client->get_run(r.run_id);
  EXPECT_EQ(run.info.status, RunStatus::FINISHED);
  EXPECT_EQ(run.info.end_time, T0 + 100);
  ASSERT_NE(run.data.metric("late"), nullptr);
  EXPECT_NE(run.data.param("late_param"), nullptr);

  r.client->delete_run(r.run_id);
  for (auto& call : std::vector<std::function<void()>>{
           [&] { r.client->log_metric(r.run_id, "after_delete", 1.0, T0, 0); },
           [&] { r.client->log_param(r.run_id, "after_delete", "1"); },
           [&] { r.client->set_tag(r.run_id, "after_delete", "1"); }}) {
    const std::string message = error_of(call, ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(message.find("deleted"), std::string::npos) << message;
  }
  r.client->restore_run(r.run_id);
  run = r.client->get_run(r.run_id);
  EXPECT_EQ(run.data.metric("after_delete"), nullptr);
  EXPECT_EQ(run.data.param("after_delete"), nullptr);
  r.expect_kept();
}

// =============================================================================================================
// Files that are not what they should be

/// A small MLflow-format file with one run, metrics spread over many pages. Returns the run id.
std::string make_store_file(const std::string& path, std::int64_t points_count) {
  sqlite::SqliteStore store(sqlite_uri(path));
  const std::string run_id = store.create_run("0", "me", T0, {}, "r").info.run_id;
  store.log_batch(run_id, points("m", points_count), {{"p", "1"}}, {});
  return run_id;
}

TEST(BadInput, a_file_of_garbage_is_refused_and_left_untouched) {
  TempDir dir;
  const std::string path = dir.file("garbage.db");
  std::string garbage(8192, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919 + 13) % 251);
  write_file(path, garbage);
  const std::string message = error_of([&] { MlflowClient client(sqlite_uri(path)); }, ErrorCode::INVALID_STATE);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("not an SQLite database"), std::string::npos) << message;
  EXPECT_EQ(read_file(path), garbage);
  EXPECT_FALSE(fs::exists(path + "-journal"));

  write_file(path, "name,value\nloss,0.5\n");  // a CSV file
  error_of([&] { sqlite::SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE);
  EXPECT_EQ(read_file(path), "name,value\nloss,0.5\n");
}

TEST(BadInput, a_truncated_or_damaged_store_file_is_a_clear_error_never_a_crash) {
  TempDir dir;
  const std::string path = dir.file("mlflow.db");
  const std::string run_id = make_store_file(path, 20000);
  const std::string whole = read_file(path);
  ASSERT_GT(whole.size(), 64u * 1024);

  // Cut in half (a copy interrupted, a full disk during a copy): what still reads is served, the rest is
  // INVALID_STATE ("database disk image is malformed") naming the file.
  write_file(path, whole.substr(0, whole.size() / 2));
  {
    std::optional<sqlite::SqliteStore> store;
    try {
      store.emplace(sqlite_uri(path));
    } catch (const MlflowError& e) {
      EXPECT_EQ(e.error_code(), ErrorCode::INVALID_STATE) << e.what();
    }
    if (store) {
      const std::string message =
          error_of([&] { store->get_metric_history(run_id, "m"); }, ErrorCode::INVALID_STATE);
      EXPECT_NE(message.find(path), std::string::npos) << message;
    }
  }

  // Pages in the middle overwritten: reads that touch them fail cleanly, the rest of the file keeps working.
  std::string damaged = whole;
  for (std::size_t i = whole.size() / 3; i < whole.size() / 3 + 16384; ++i) damaged[i] = static_cast<char>(0xA5);
  write_file(path, damaged);
  {
    std::optional<sqlite::SqliteStore> store;
    try {
      store.emplace(sqlite_uri(path));
    } catch (const MlflowError& e) {
      EXPECT_EQ(e.error_code(), ErrorCode::INVALID_STATE) << e.what();
    }
    if (store) error_of([&] { store->get_metric_history(run_id, "m"); }, ErrorCode::INVALID_STATE);
  }
}

TEST(BadInput, a_file_made_by_another_program_is_refused_and_left_untouched) {
  TempDir dir;
  // An SQLite database of some other application.
  const std::string other = dir.file("other.db");
  {
    sqlite::Database db(other);
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello');");
  }
  const std::string before = read_file(other);
  const std::string message = error_of([&] { MlflowClient client(sqlite_uri(other)); }, ErrorCode::INVALID_STATE);
  EXPECT_NE(message.find(other), std::string::npos) << message;
  EXPECT_EQ(read_file(other), before) << "the foreign file was modified";

  // mlflow-cpp's own spool file given as a tracking store.
  const std::string spool_path = dir.file("spool.db");
  { spool::Spool spool(spool_path); }
  const std::string spool_before = read_file(spool_path);
  error_of([&] { sqlite::SqliteStore store(sqlite_uri(spool_path)); }, ErrorCode::INVALID_STATE);
  EXPECT_EQ(read_file(spool_path), spool_before);

  // The other way round: an MLflow tracking store, or another program's database, given as the spool.
  const std::string store_path = dir.file("mlflow.db");
  make_store_file(store_path, 10);
  const std::string store_before = read_file(store_path);
  error_of([&] { spool::Spool spool(store_path); }, ErrorCode::INVALID_STATE);
  EXPECT_EQ(read_file(store_path), store_before) << "the tracking store was modified by the spool";
  error_of([&] { spool::Spool spool(other); }, ErrorCode::INVALID_STATE);
  EXPECT_EQ(read_file(other), before);

  // A directory, and a file in a directory that does not exist.
  error_of([&] { MlflowClient client(sqlite_uri(dir.path().string())); }, ErrorCode::INVALID_PARAMETER_VALUE);
  error_of([&] { MlflowClient client(sqlite_uri(dir.file("missing/mlflow.db"))); }, ErrorCode::IO_ERROR);
}

// =============================================================================================================
// A full disk

/// Runs `body` in a child process and returns its exit code; what it writes to `report` comes back in `out`.
int in_child(const std::function<int(int report)>& body, std::string& out) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    int code = 99;
    try {
      code = body(pipe_fds[1]);
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  ::close(pipe_fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void report(int fd, const std::string& text) {
  const ssize_t ignored = ::write(fd, text.data(), text.size());
  (void)ignored;
}

/// Logs batches of 1000 points into `path` until a write fails. Exit 0 with "<code>\n<message>" reported when
/// an MlflowError came, 3 when the disk never filled up.
int log_until_full(const std::string& path, const std::string& run_id, int fd) {
  sqlite::SqliteStore store(sqlite_uri(path));
  for (int batch = 0; batch < 2000; ++batch) {
    try {
      store.log_batch(run_id, points("fill", 1000, 1000 + std::int64_t{batch} * 1000), {}, {});
    } catch (const MlflowError& e) {
      report(fd, std::string(to_string(e.error_code())) + "\n" + e.what());
      return 0;
    }
  }
  return 3;
}

/// After the failure: the file is intact, the points logged before the full disk are all there, the failed
/// batch left nothing half-written, and the store takes new points once there is room again. Returns what is
/// wrong, or "" (it also runs in a child process, where gtest assertions would not reach the parent).
std::string problems_after_full_disk(const std::string& path, const std::string& run_id, std::int64_t before) {
  std::string problems;
  {
    sqlite::Database db(path);
    sqlite::Statement check(db, "PRAGMA integrity_check");
    if (!check.step() || check.get_text(0) != "ok") problems += "integrity_check failed; ";
  }
  sqlite::SqliteStore store(sqlite_uri(path));
  if (store.get_metric_history(run_id, "m").size() != static_cast<std::size_t>(before)) {
    problems += "points logged before the full disk were lost; ";
  }
  if (store.get_metric_history(run_id, "fill").size() % 1000 != 0) problems += "a batch was half written; ";
  if (store.get_run(run_id).data.param("p") == nullptr) problems += "the param was lost; ";
  store.log_batch(run_id, {{"after", 1.0, T0, 0}}, {}, {});
  if (store.get_metric_history(run_id, "after").size() != 1) problems += "no new point after the failure; ";
  return problems;
}

TEST(BadInput, a_write_error_from_a_full_disk_is_clear_and_loses_nothing_committed) {
  // The file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes every write past it fail with EFBIG, as a full
  // disk fails with ENOSPC; it needs no privileges and no special filesystem.
  TempDir dir;
  const std::string path = dir.file("mlflow.db");
  const std::string run_id = make_store_file(path, 500);
  const auto size = fs::file_size(path);
  std::string out;
  const int code = in_child([&](int fd) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{static_cast<rlim_t>(size + 256 * 1024), static_cast<rlim_t>(size + 256 * 1024)};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 4;
    return log_until_full(path, run_id, fd);
  }, out);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out.substr(0, out.find('\n')), "IO_ERROR") << out;
  EXPECT_NE(out.find(path), std::string::npos) << out;
  EXPECT_NE(out.find("free space"), std::string::npos) << "the message says what to check: " << out;
  EXPECT_EQ(problems_after_full_disk(path, run_id, 500), "");
}

TEST(BadInput, a_really_full_filesystem_is_clear_and_loses_nothing_committed) {
  // A 1 MiB tmpfs in a private mount namespace of a child process (needs root; skipped where mounting is not
  // allowed, e.g. unprivileged containers — the RLIMIT_FSIZE test above covers the same path there).
  TempDir dir;
  const std::string mount_point = dir.file("small");
  fs::create_directories(mount_point);
  const std::string path = mount_point + "/mlflow.db";
  std::string out;
  const int code = in_child([&](int fd) {
    if (::unshare(CLONE_NEWNS) != 0) return 77;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
    if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) return 77;
    const std::string run_id = make_store_file(path, 500);
    if (log_until_full(path, run_id, fd) != 0) return 3;
    // The file lives only in this namespace: check it here and report.
    const std::string problems = problems_after_full_disk(path, run_id, 500);
    report(fd, "\n--\n" + problems);
    return problems.empty() ? 0 : 5;
  }, out);
  if (code == 77) GTEST_SKIP() << "mounting a tmpfs is not permitted here";
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out.substr(0, out.find('\n')), "IO_ERROR") << out;
  EXPECT_NE(out.find("full"), std::string::npos) << out;
  EXPECT_NE(out.find("free space"), std::string::npos) << out;
}

TEST(BadInput, a_full_disk_under_the_spool_is_clear_and_keeps_what_was_spooled) {
  TempDir dir;
  const std::string path = dir.file("spool.db");
  std::int64_t run_key = 0;
  {
    spool::Spool spool(path);
    spool::RunRecord run;
    run.local_run_id = spool::new_local_id();
    run.target_uri = "http://127.0.0.1:1";
    run.start_time = T0;
    run_key = spool.add_run(run);
    std::vector<spool::ItemView> items;
    for (int i = 0; i < 100; ++i) items.push_back({run_key, spool::ItemKind::metric, "m", {}, 1.0 * i, T0, i});
    spool.append(items);
  }
  std::string out;
  const int code = in_child([&](int fd) {
    ::signal(SIGXFSZ, SIG_IGN);
    spool::Spool spool(path);
    const auto used = fs::file_size(path) + (fs::exists(path + "-wal") ? fs::file_size(path + "-wal") : 0);
    const rlimit limit{static_cast<rlim_t>(used + 256 * 1024), static_cast<rlim_t>(used + 256 * 1024)};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 4;
    const std::string key(200, 'k');
    for (int batch = 0; batch < 2000; ++batch) {
      try {
        std::vector<spool::ItemView> items;
        for (int i = 0; i < 1000; ++i) items.push_back({run_key, spool::ItemKind::metric, key, {}, 1.0, T0, i});
        spool.append(items);
      } catch (const MlflowError& e) {
        report(fd, std::string(to_string(e.error_code())) + "\n" + e.what());
        return 0;
      }
    }
    return 3;
  }, out);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out.substr(0, out.find('\n')), "IO_ERROR") << out;
  spool::Spool spool(path);
  const auto items = spool.read_items(run_key, 0, 1'000'000);
  std::size_t first = 0;
  for (const auto& item : items) first += item.key == "m" ? 1 : 0;
  EXPECT_EQ(first, 100u) << "items spooled before the full disk were lost";
  EXPECT_EQ((items.size() - first) % 1000, 0u) << "a batch was half written";
}

// =============================================================================================================
// The server side: the fake MLflow server through RestStore

transport::Options fast_transport() {
  transport::Options o;
  o.request_timeout = 1500ms;
  o.total_timeout = 4s;
  o.max_retries = 1;
  o.backoff_factor = 0.01;
  o.backoff_jitter = 0.0;
  return o;
}

TEST(BadInput, the_rest_store_mirrors_the_server_for_numbers_ids_and_ended_runs) {
  test::FakeMlflowServer server;
  rest::RestStore store(server.base_url(), fast_transport());
  const std::string run_id = store.create_run("0", "me", T0, {}, "r").info.run_id;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  store.log_batch(run_id, {{"v", nan, T0, 0}, {"v", inf, T0, 1}, {"v", -inf, T0, 2}, {"s", 1.0, I64_MAX, I64_MIN},
                           {"s", 2.0, 0, I64_MAX}}, {}, {});
  std::map<std::int64_t, double> v;
  for (const auto& m : store.get_metric_history(run_id, "v")) v[m.step] = m.value;
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], DBL_MAX_);  // the server's SQL store answers +-DBL_MAX for +-Inf
  EXPECT_EQ(v[2], std::numeric_limits<double>::lowest());
  std::map<std::int64_t, std::int64_t> s;
  for (const auto& m : store.get_metric_history(run_id, "s")) s[m.step] = m.timestamp;
  EXPECT_EQ(s, (std::map<std::int64_t, std::int64_t>{{I64_MIN, I64_MAX}, {I64_MAX, 0}}));

  const std::string unknown = "0123456789abcdef0123456789abcdef";
  error_of([&] { store.get_run(unknown); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { store.log_batch(unknown, {{"m", 1.0, T0, 0}}, {}, {}); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { store.get_experiment("999"); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);
  error_of([&] { store.create_run("999", "me", T0, {}, ""); }, ErrorCode::RESOURCE_DOES_NOT_EXIST);

  store.update_run_info(run_id, RunStatus::FINISHED, T0 + 100, std::nullopt);
  store.log_batch(run_id, {{"late", 1.0, T0 + 200, 0}}, {{"late_param", "x"}}, {});
  const auto on_server = server.run(run_id);
  ASSERT_TRUE(on_server);
  EXPECT_EQ(on_server->info.status, RunStatus::FINISHED);
  EXPECT_EQ(on_server->info.end_time, T0 + 100);
  EXPECT_NE(on_server->data.metric("late"), nullptr);
  store.delete_run(run_id);
  error_of([&] { store.log_batch(run_id, {{"m", 1.0, T0, 0}}, {}, {}); }, ErrorCode::INVALID_PARAMETER_VALUE);
}

TEST(BadInput, a_large_batch_reaches_the_server_in_legal_requests) {
  test::FakeMlflowServer server;
  transport::Options options = fast_transport();
  options.request_timeout = 30s;  // a sanitized fake server takes its time over 1000 points
  options.total_timeout = 60s;
  rest::RestStore store(server.base_url(), options);
  const std::string run_id = store.create_run("0", "me", T0, {}, "r").info.run_id;
  // 100 requests: enough to show the split and the order; the million points go through the SQLite test
  // above (the fake server's JSON handling under the sanitizers makes a million here take minutes).
  constexpr std::int64_t n = 100'000;
  store.log_batch(run_id, points("big", n), {}, {});
  EXPECT_EQ(server.metric_count(run_id), static_cast<std::size_t>(n));
  const auto batches = server.requests_to("runs/log-batch");
  EXPECT_EQ(batches.size(), static_cast<std::size_t>(n / validation::MAX_METRICS_PER_BATCH));
  const auto history = server.metric_history(run_id, "big");
  ASSERT_EQ(history.size(), static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(history[static_cast<std::size_t>(i)].step, i);  // in order
  }
}

// =============================================================================================================
// A server answering garbage, an HTML page, a huge body, or nothing at all

/// A loopback server whose every answer is `response`.
struct OddServer {
  explicit OddServer(test::Response response)
      : server([response](const test::RecordedRequest&) { return response; }) {}
  test::LoopbackServer server;
};

test::Response answer(int status, std::string body, std::string content_type = "application/json") {
  test::Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

/// Every kind of call against a server answering `response`: each must end in an MlflowError with `code`
/// within the time budget. Returns the message of get_experiment's error.
std::string expect_every_call_fails(const test::Response& response, ErrorCode code,
                                    const transport::Options& options = fast_transport()) {
  OddServer odd(response);
  rest::RestStore store(odd.server.base_url(), options);
  const auto started = std::chrono::steady_clock::now();
  const std::string message = error_of([&] { store.get_experiment("1"); }, code);
  error_of([&] { store.create_run("0", "me", T0, {}, ""); }, code);
  error_of([&] { store.log_batch("0123456789abcdef0123456789abcdef", {{"m", 1.0, T0, 0}}, {}, {}); }, code);
  error_of([&] { store.search_runs({"0"}); }, code);
  error_of([&] { store.get_metric_history("0123456789abcdef0123456789abcdef", "m"); }, code);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5 * options.total_timeout);
  EXPECT_LT(message.size(), 2000u) << "the message quotes only the start of the body";
  return message;
}

TEST(BadInput, a_server_answering_garbage_is_a_clear_error) {
  std::string message = expect_every_call_fails(answer(200, "\x01\x02garbage{\""),
                                                ErrorCode::INTERNAL_ERROR);
  EXPECT_NE(message.find("Malformed answer"), std::string::npos) << message;
  // JSON, but not an object; an object whose fields have the wrong types.
  message = expect_every_call_fails(answer(200, "[1, 2, 3]"), ErrorCode::INTERNAL_ERROR);
  EXPECT_NE(message.find("expected a JSON object"), std::string::npos) << message;
  OddServer wrong_types(answer(200, R"({"experiment": {"experiment_id": [1], "creation_time": "soon"}})"));
  rest::RestStore store(wrong_types.server.base_url(), fast_transport());
  error_of([&] { store.get_experiment("1"); }, ErrorCode::INTERNAL_ERROR);
  // Non-JSON error answers keep the HTTP status meaning.
  expect_every_call_fails(answer(500, "Internal Server Error", "text/plain"), ErrorCode::INTERNAL_ERROR);
}

TEST(BadInput, a_server_answering_an_html_page_is_told_apart_from_mlflow) {
  const std::string page = "<!doctype html><html><head><title>Login</title></head><body>Sign in</body></html>";
  std::string message = expect_every_call_fails(answer(200, page, "text/html"), ErrorCode::INTERNAL_ERROR);
  EXPECT_NE(message.find("HTML"), std::string::npos) << message;
  message = expect_every_call_fails(answer(404, page, "text/html"), ErrorCode::ENDPOINT_NOT_FOUND);
  EXPECT_NE(message.find("does not look like an MLflow tracking server"), std::string::npos) << message;
}

TEST(BadInput, a_ten_megabyte_answer_is_read_or_refused_cleanly) {
  constexpr std::size_t ten_mb = 10u << 20;
  // Moving 10 MB through a sanitized client and server on a busy machine may take seconds: the deadlines here
  // are about not hanging, not about speed.
  transport::Options slow_ok = fast_transport();
  slow_ok.request_timeout = 30s;
  slow_ok.total_timeout = 30s;
  slow_ok.max_retries = 0;
  // A valid answer that is simply big (a run with huge tags, a long history): decoded in full.
  const std::string big_value(ten_mb, 'x');
  OddServer big(answer(200, R"({"experiment": {"experiment_id": "1", "name": "e", "tags": [{"key": "big", "value": ")" +
                                big_value + R"("}]}})"));
  rest::RestStore store(big.server.base_url(), slow_ok);
  const Experiment e = store.get_experiment("1");
  ASSERT_EQ(e.tags.size(), 1u);
  EXPECT_EQ(e.tags[0].value.size(), ten_mb);
  // Ten megabytes of garbage, as a success and as an error: a short message, no copy of the body in it.
  expect_every_call_fails(answer(200, std::string(ten_mb, '<')), ErrorCode::INTERNAL_ERROR, slow_ok);
  expect_every_call_fails(answer(502, std::string(ten_mb, 'z'), "text/plain"), ErrorCode::TEMPORARILY_UNAVAILABLE,
                          slow_ok);
}

TEST(BadInput, a_server_answering_nothing_is_a_bounded_clear_error) {
  // 200 with an empty body.
  std::string message = expect_every_call_fails(answer(200, ""), ErrorCode::INTERNAL_ERROR);
  EXPECT_NE(message.find("empty body"), std::string::npos) << message;

  // The connection is reset before any answer, every time.
  {
    test::LoopbackServer server([](const test::RecordedRequest&) { return test::Response{}; });
    for (int i = 0; i < 50; ++i) server.push_fault(test::Fault::reset_before_response);
    rest::RestStore store(server.base_url(), fast_transport());
    const auto started = std::chrono::steady_clock::now();
    try {
      store.get_experiment("1");
      ADD_FAILURE() << "no error";
    } catch (const MlflowError& e) {
      EXPECT_TRUE(e.error_code() == ErrorCode::TEMPORARILY_UNAVAILABLE || e.error_code() == ErrorCode::IO_ERROR)
          << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  }

  // A socket that takes the connection and never says anything: the request deadline ends the wait.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  {
    rest::RestStore store("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), fast_transport());
    const auto started = std::chrono::steady_clock::now();
    try {
      store.log_batch("0123456789abcdef0123456789abcdef", {{"m", 1.0, T0, 0}}, {}, {});
      ADD_FAILURE() << "no error";
    } catch (const MlflowError& e) {
      EXPECT_TRUE(e.error_code() == ErrorCode::DEADLINE_EXCEEDED ||
                  e.error_code() == ErrorCode::TEMPORARILY_UNAVAILABLE)
          << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  }
  ::close(listener);
}

// =============================================================================================================
// Logging for a server (logging -> spool -> uploader): whatever the server answers, nothing is lost

TEST(BadInput, logging_through_the_spool_loses_nothing_while_the_server_answers_garbage) {
  TempDir dir;
  test::FakeMlflowServer server;
  sync::SpooledStoreOptions o;
  o.spool_path = dir.file("spool.db");
  o.server_wait = 1000ms;
  o.upload_wait = 3000ms;
  o.retry_min = 20ms;
  o.retry_max = 200ms;
  o.upload_request_timeout = 2000ms;
  o.transport = fast_transport();
  o.transport.max_retries = 0;
  std::mutex mutex;
  std::vector<std::string> said;
  o.message_handler = [&](std::string_view line) {
    std::lock_guard lock(mutex);
    said.emplace_back(line);
  };
  auto spooled = std::make_shared<sync::SpooledStore>(server.base_url(), o);
  logging::LoggerOptions lo;
  lo.flush_interval = 20ms;
  lo.error_handler = o.message_handler;
  std::weak_ptr<sync::SpooledStore> weak = spooled;
  auto store = std::make_shared<logging::LoggingStore>(spooled, spooled, lo, [weak](std::chrono::milliseconds t) {
    auto s = weak.lock();
    return s ? s->wait_uploaded(t) : true;
  }, /*verify_runs=*/false);
  MlflowClient client(store, server.base_url());

  const std::string run_id = client.create_run("0", T0).info.run_id;
  for (int i = 0; i < 100; ++i) client.log_metric(run_id, "m", i, T0 + i, i);
  ASSERT_TRUE(client.flush(10s));

  // Now every answer is wrong in another way: garbage, an HTML page, a cut-off body, a reset, a 500.
  const std::vector<test::Fault> faults = {test::Fault::malformed_json, test::Fault::html_404,
                                           test::Fault::reset_before_response, test::Fault::status_500,
                                           test::Fault::reset_mid_response};
  for (int round = 0; round < 4; ++round) {
    for (const auto fault : faults) server.loopback().push_fault(fault);
  }
  for (int i = 100; i < 300; ++i) {
    client.log_metric(run_id, "m", i, T0 + i, i);
    if (i % 50 == 0) client.flush(200ms);  // several uploads, so that the faults meet several requests
  }
  // The uploader keeps retrying through every wrong answer (none of them is the server refusing the data) and
  // delivers the rest once the server answers properly again.
  // flush() returns early when an upload attempt made after the call fails: ask again until all is there.
  bool delivered = false;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!delivered && std::chrono::steady_clock::now() < deadline) delivered = client.flush(5s);
  EXPECT_EQ(server.loopback().pending_faults(), 0u) << "the uploader gave up before the faults were over";
  ASSERT_TRUE(delivered) << [&] {
    std::lock_guard lock(mutex);
    std::string all;
    for (const auto& line : said) all += line + "\n";
    return all;
  }();
  for (int i = 300; i < 400; ++i) client.log_metric(run_id, "m", i, T0 + i, i);
  ASSERT_TRUE(client.flush(10s));
  std::string server_run = run_id;
  if (!server.run(run_id)) {
    for (const auto& run : server.runs()) server_run = run.info.run_id;
  }
  const auto history = server.metric_history(server_run, "m");
  std::map<std::int64_t, int> count;
  for (const auto& m : history) ++count[m.step];
  EXPECT_EQ(count.size(), 400u) << "points were lost";
  for (const auto& [step, times] : count) EXPECT_EQ(times, 1) << "step " << step << " arrived " << times << " times";
  EXPECT_EQ(server.runs().size(), 1u);
}

}  // namespace
