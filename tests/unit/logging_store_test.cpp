// LoggingStore over a real SqliteStore file, as open_tracking_store builds it for sqlite:/// URIs: points are
// queued and committed in batches, reads and end_run see them, errors that MLflow raises at the call still do.

#include "tracker/logging/logging_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using namespace mlflow;

using mlflow::test::TempDir;

struct Fixture {
  TempDir dir;
  std::string uri = "sqlite:///" + dir.file("m.db");
  std::vector<std::string> errors;
  std::shared_ptr<sqlite::SqliteStore> sqlite = std::make_shared<sqlite::SqliteStore>(uri);
  std::shared_ptr<logging::LoggingStore> store;
  std::unique_ptr<MlflowClient> client;

  explicit Fixture(bool asynchronous = true, std::chrono::milliseconds interval = 50ms) {
    logging::LoggerOptions o;
    o.asynchronous = asynchronous;
    o.flush_interval = interval;
    o.error_handler = [this](std::string_view line) { errors.emplace_back(line); };
    store = std::make_shared<logging::LoggingStore>(sqlite, std::make_shared<logging::StoreSink>(sqlite), o);
    client = std::make_unique<MlflowClient>(store, uri);
  }
  /// What another program reading the file sees.
  std::size_t points_in_file(const std::string& run_id, const std::string& key) {
    return sqlite::SqliteStore(uri).get_metric_history(run_id, key).size();
  }
};

TEST(LoggingStore, points_are_queued_and_committed_in_batches) {
  Fixture f(true, 10s);  // no timed commit during the test: only flush() commits
  const auto run = f.client->create_run("0");
  for (int i = 0; i < 5000; ++i) f.client->log_metric(run.info.run_id, "loss", i, 1700000000000 + i, i);
  EXPECT_GT(f.store->logger().pending(), 0u) << "log_metric returned before the point was written";
  ASSERT_TRUE(f.client->flush(10s));
  EXPECT_EQ(f.points_in_file(run.info.run_id, "loss"), 5000u);
  const auto c = f.store->logger().counters();
  EXPECT_EQ(c.written, 5000u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_TRUE(f.errors.empty());
}

TEST(LoggingStore, the_flush_interval_commits_without_a_flush) {
  Fixture f(true, 20ms);
  const auto run = f.client->create_run("0");
  f.client->log_metric(run.info.run_id, "loss", 1.0, 1700000000000, 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (f.points_in_file(run.info.run_id, "loss") == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(f.points_in_file(run.info.run_id, "loss"), 1u);
}

TEST(LoggingStore, reads_and_the_end_of_a_run_see_every_earlier_point) {
  Fixture f(true, 10s);
  const auto run = f.client->create_run("0");
  for (int i = 0; i < 100; ++i) f.client->log_metric(run.info.run_id, "m", i, 1700000000000 + i, i);
  EXPECT_EQ(f.client->get_metric_history(run.info.run_id, "m").size(), 100u);
  f.client->log_metric(run.info.run_id, "m", 100, 1700000000100, 100);
  f.client->set_terminated(run.info.run_id, RunStatus::FINISHED);
  EXPECT_EQ(f.points_in_file(run.info.run_id, "m"), 101u);
  EXPECT_EQ(f.client->get_run(run.info.run_id).data.metric("m")->step, 100);
}

TEST(LoggingStore, errors_mlflow_raises_at_the_call_still_do) {
  Fixture f;
  const auto run = f.client->create_run("0");
  f.client->log_param(run.info.run_id, "lr", "0.1");
  try {
    f.client->log_param(run.info.run_id, "lr", "0.2");
    FAIL() << "a changed param must fail at the call";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
  }
  try {
    f.client->log_metric("0123456789abcdef0123456789abcdef", "m", 1.0);
    FAIL() << "an unknown run must fail at the call";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::RESOURCE_DOES_NOT_EXIST);
  }
  f.client->log_metric(run.info.run_id, "m", 1.0);  // verified once, then cached
  f.client->delete_run(run.info.run_id);
  try {
    f.client->log_metric(run.info.run_id, "m", 2.0);
    FAIL() << "a deleted run must fail at the call";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
  }
  f.client->restore_run(run.info.run_id);
  f.client->log_metric(run.info.run_id, "m", 3.0);
  ASSERT_TRUE(f.client->flush(10s));
  EXPECT_EQ(f.points_in_file(run.info.run_id, "m"), 2u);
}

TEST(LoggingStore, a_failure_in_the_background_is_reported_and_counted_never_thrown) {
  Fixture f;
  const auto run = f.client->create_run("0");
  f.client->log_metric(run.info.run_id, "m", 1.0, 1700000000000, 0);
  ASSERT_TRUE(f.client->flush(10s));
  // Deleted behind the logger's back (another client): the queued point fails in the background.
  sqlite::SqliteStore(f.uri).delete_run(run.info.run_id);
  f.client->log_metric(run.info.run_id, "m", 2.0, 1700000000001, 1);
  EXPECT_TRUE(f.client->flush(10s));
  EXPECT_EQ(f.store->logger().counters().failed, 1u);
  ASSERT_FALSE(f.errors.empty());
  EXPECT_NE(f.errors.back().find("'m'"), std::string::npos) << f.errors.back();
}

TEST(LoggingStore, synchronous_mode_writes_at_the_call) {
  Fixture f(false);
  const auto run = f.client->create_run("0");
  f.client->log_metric(run.info.run_id, "m", 1.0, 1700000000000, 0);
  EXPECT_EQ(f.points_in_file(run.info.run_id, "m"), 1u);
  EXPECT_EQ(f.store->logger().counters().enqueued, 0u);
}

TEST(LoggingStore, open_tracking_store_puts_the_logger_in_front_of_sqlite) {
  TempDir dir;
  const auto store = open_tracking_store("sqlite:///" + dir.file("x.db"));
  auto* logging_store = logging::as_logging_store(store.get());
  ASSERT_NE(logging_store, nullptr);
  EXPECT_NE(dynamic_cast<sqlite::SqliteStore*>(&logging_store->inner()), nullptr);
}

}  // namespace
