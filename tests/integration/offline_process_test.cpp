// Offline logging with real processes: a training program (tests/helpers/offline_logger_child) and the
// mlflow-cpp command, against the fake MLflow server that the test stops and starts. Server down for a whole
// run, kill -9 of the logger at a random point, an interrupted sync run again, sync twice, two programs
// logging into one spool, a run still being written, and copying an MLflow SQLite file. Each test checks
// point by point that the server ends with exactly what was logged.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "integration/offline_support.hpp"
#include "mlflow/client.hpp"
#include "storage/spool/spool.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "support/fake_mlflow_server.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/spooled_store.hpp"

namespace {

using namespace std::chrono_literals;
using namespace mlflow;
using namespace mlflow::offline_test;

const std::string CHILD = std::string(MLFLOW_BIN_DIR) + "/offline_logger_child";
const std::string CLI = std::string(MLFLOW_BIN_DIR) + "/mlflow-cpp";

/// A temp spool directory, a fake server, and the environment the programs get.
struct World {
  TempDir dir;
  test::FakeMlflowServer server;

  std::string spool_file() const { return dir.file("spool/spool.db"); }
  std::map<std::string, std::string> env() const {
    return {{"MLFLOW_CPP_SPOOL_DIR", dir.file("spool")},
            {"MLFLOW_CPP_SERVER_WAIT_SECONDS", "1"},
            {"MLFLOW_CPP_UPLOAD_WAIT_SECONDS", "2"},
            {"MLFLOW_CPP_UPLOAD_RETRY_MAX_SECONDS", "1"},
            {"MLFLOW_CPP_LOG_FLUSH_INTERVAL_MS", "50"},
            {"MLFLOW_HTTP_REQUEST_TIMEOUT", "3"},
            {"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"},
            {"MLFLOW_TRACKING_URI", server.base_url()}};
  }
  std::unique_ptr<Child> logger(std::vector<std::string> args) {
    args.insert(args.begin(), {"--uri", server.base_url()});
    return std::make_unique<Child>(CHILD, args, env());
  }
  /// Runs `mlflow-cpp sync ...` to its end; returns the exit code, output in `out`.
  int sync(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), "sync");
    Child cli(CLI, args, env());
    const int code = cli.wait(60s);
    if (out != nullptr) *out = cli.stdout_text() + cli.stderr_text();
    return code;
  }
  std::string server_run_for(const std::string& id) {
    if (server.run(id)) return id;
    const auto runs = server_runs_for_local_id(server, id);
    return runs.size() == 1 ? runs[0].info.run_id : std::string();
  }
};

std::string run_id_of(Child& child) {
  const auto line = child.wait_for_line("RUN ", 30s);
  return line ? line->substr(4) : std::string();
}

/// Steps 0..n-1 of "loss", each once and in order, with n >= at_least; returns n (or -1 with a failure).
int check_prefix(const test::FakeMlflowServer& server, const std::string& run_id, int at_least) {
  const auto history = server.metric_history(run_id, "loss");
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto& m = history[i];
    const int n = static_cast<int>(i);
    if (m.step != n || m.value != point_value(n) || m.timestamp != point_timestamp(n)) {
      ADD_FAILURE() << "point " << i << " is step " << m.step << ": a point is missing or stored twice";
      return -1;
    }
  }
  EXPECT_GE(static_cast<int>(history.size()), at_least) << "points flushed before the kill are lost";
  return static_cast<int>(history.size());
}

TEST(OfflineProcess, server_down_for_the_whole_run_then_sync_delivers_it_once) {
  World w;
  w.server.loopback().stop();
  auto child = w.logger({"--points", "3000", "--name", "offline-whole"});
  const std::string run_id = run_id_of(*child);
  ASSERT_EQ(run_id.size(), 32u);
  ASSERT_EQ(child->wait(60s), 0) << child->stderr_text();
  const std::string err = child->stderr_text();
  EXPECT_NE(err.find("logged items (and the run itself) not yet on"), std::string::npos) << err;
  EXPECT_NE(err.find("`mlflow-cpp sync`"), std::string::npos) << err;

  restart(w.server);
  std::string out;
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  EXPECT_NE(out.find("delivered"), std::string::npos) << out;
  const std::string server_id = w.server_run_for(run_id);
  ASSERT_FALSE(server_id.empty()) << out;
  EXPECT_TRUE(has_exactly_points(w.server, server_id, "loss", 3000));
  const auto run = w.server.run(server_id);
  EXPECT_EQ(run->info.status, RunStatus::FINISHED);
  EXPECT_TRUE(run->info.end_time.has_value());
  EXPECT_EQ(run->info.run_name, "offline-whole");
  ASSERT_NE(run->data.param("points"), nullptr);
  EXPECT_EQ(run->data.param("points")->value, "3000");
  ASSERT_NE(run->data.tag("mlflow.user"), nullptr);

  // A second sync finds nothing to do and sends nothing.
  const auto batches = w.server.request_count("runs/log-batch");
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  EXPECT_NE(out.find("Nothing to sync"), std::string::npos) << out;
  EXPECT_EQ(w.server.request_count("runs/log-batch"), batches);
  EXPECT_EQ(w.server.runs().size(), 1u);
}

void kill_at_random_point_then_sync(bool server_up) {
  World w;
  if (!server_up) w.server.loopback().stop();
  std::mt19937 rng(std::random_device{}());
  auto child = w.logger({"--points", "20000", "--flush-every", "500", "--sleep-us", "20", "--end", "FINISHED"});
  const std::string run_id = run_id_of(*child);
  ASSERT_FALSE(run_id.empty()) << child->stderr_text();
  const int kill_after = 1 + static_cast<int>(rng() % 12);
  int flushed = 0;
  for (int i = 0; i < kill_after; ++i) {
    const auto line = child->wait_for_line("FLUSHED ", 30s);
    ASSERT_TRUE(line) << child->stderr_text();
    flushed = std::stoi(line->substr(8));
  }
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
  child->kill9();

  if (!server_up) restart(w.server);
  std::string out;
  ASSERT_EQ(w.sync({"--include-running"}, &out), 0) << out;
  const std::string server_id = w.server_run_for(run_id);
  ASSERT_FALSE(server_id.empty()) << out;
  const int n = check_prefix(w.server, server_id, flushed);
  EXPECT_EQ(w.server.runs().size(), 1u);
  // The spool holds nothing more for it, and a second sync adds nothing.
  ASSERT_EQ(w.sync({"--include-running"}, &out), 0) << out;
  EXPECT_EQ(static_cast<int>(w.server.metric_history(server_id, "loss").size()), n);
}

TEST(OfflineProcess, kill_9_of_the_logger_with_the_server_up_then_sync) { kill_at_random_point_then_sync(true); }

TEST(OfflineProcess, kill_9_of_the_logger_with_the_server_down_then_sync) { kill_at_random_point_then_sync(false); }

TEST(OfflineProcess, an_interrupted_sync_run_again_delivers_everything_once) {
  World w;
  w.server.loopback().stop();
  // (The fake server checks duplicates with a linear scan: keep runs to some thousands of points.)
  auto child = w.logger({"--points", "10000", "--name", "big"});
  const std::string run_id = run_id_of(*child);
  ASSERT_EQ(child->wait(120s), 0) << child->stderr_text();
  restart(w.server);

  std::mt19937 rng(std::random_device{}());
  const std::size_t kill_after = 2 + rng() % 7;
  {
    auto env = w.env();
    Child sync(CLI, {"sync", "--no-progress"}, env);
    eventually([&] { return w.server.request_count("runs/log-batch") >= kill_after; }, 30s);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    sync.kill9();
  }
  std::string out;
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  const std::string server_id = w.server_run_for(run_id);
  ASSERT_FALSE(server_id.empty());
  EXPECT_TRUE(has_exactly_points(w.server, server_id, "loss", 10000));
  EXPECT_EQ(w.server.run(server_id)->info.status, RunStatus::FINISHED);
  EXPECT_EQ(w.server.runs().size(), 1u);
}

TEST(OfflineProcess, two_programs_log_into_one_spool_at_once) {
  World w;
  w.server.loopback().stop();
  auto a = w.logger({"--points", "5000", "--flush-every", "1000", "--name", "a"});
  auto b = w.logger({"--points", "5000", "--flush-every", "1000", "--name", "b"});
  const std::string id_a = run_id_of(*a);
  const std::string id_b = run_id_of(*b);
  ASSERT_EQ(a->wait(60s), 0) << a->stderr_text();
  ASSERT_EQ(b->wait(60s), 0) << b->stderr_text();
  ASSERT_NE(id_a, id_b);
  restart(w.server);
  std::string out;
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  for (const auto& id : {id_a, id_b}) {
    const std::string server_id = w.server_run_for(id);
    ASSERT_FALSE(server_id.empty()) << id << "\n" << out;
    EXPECT_TRUE(has_exactly_points(w.server, server_id, "loss", 5000));
    EXPECT_EQ(w.server.run(server_id)->info.status, RunStatus::FINISHED);
  }
  EXPECT_EQ(w.server.runs().size(), 2u);
}

TEST(OfflineProcess, the_server_goes_away_in_the_middle_and_comes_back_before_the_end) {
  World w;
  auto child = w.logger({"--points", "6000", "--flush-every", "1000", "--sleep-us", "100"});
  const std::string run_id = run_id_of(*child);
  ASSERT_TRUE(child->wait_for_line("FLUSHED 2000", 30s)) << child->stderr_text();
  w.server.loopback().stop();
  ASSERT_TRUE(child->wait_for_line("FLUSHED 4000", 30s)) << child->stderr_text();
  restart(w.server);
  ASSERT_EQ(child->wait(60s), 0) << child->stderr_text();
  // The child's own uploader resumed into the same run before it ended.
  EXPECT_TRUE(has_exactly_points(w.server, run_id, "loss", 6000)) << child->stderr_text();
  EXPECT_EQ(w.server.run(run_id)->info.status, RunStatus::FINISHED);
  EXPECT_EQ(w.server.runs().size(), 1u);
  std::string out;
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  EXPECT_NE(out.find("Nothing to sync"), std::string::npos) << out;
}

TEST(OfflineProcess, sync_leaves_a_run_still_being_written_alone_unless_asked) {
  World w;
  w.server.loopback().stop();
  auto child = w.logger({"--points", "500", "--hold"});
  const std::string run_id = run_id_of(*child);
  ASSERT_TRUE(child->wait_for_line("DONE", 30s)) << child->stderr_text();

  std::string out;
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  EXPECT_NE(out.find("skipped"), std::string::npos) << out;
  EXPECT_NE(out.find("still being written"), std::string::npos) << out;

  restart(w.server);
  ASSERT_EQ(w.sync({"--include-running"}, &out), 0) << out;
  // The child's uploader may have delivered it first; either way, once.
  ASSERT_TRUE(eventually([&] { return !w.server_run_for(run_id).empty(); }, 10s));
  const std::string server_id = w.server_run_for(run_id);
  ASSERT_TRUE(eventually([&] { return w.server.metric_history(server_id, "loss").size() >= 500; }, 10s));
  child->kill9();
  ASSERT_EQ(w.sync({"--include-running"}, &out), 0) << out;
  EXPECT_TRUE(has_exactly_points(w.server, server_id, "loss", 500));
  EXPECT_EQ(w.server.run(server_id)->info.status, RunStatus::RUNNING) << "the program never ended it";
  EXPECT_EQ(w.server.runs().size(), 1u);
}

TEST(OfflineProcess, sync_with_the_server_still_away_fails_fast_and_keeps_everything) {
  World w;
  w.server.loopback().stop();
  for (const char* name : {"first", "second"}) {
    auto child = w.logger({"--points", "50", "--name", name});
    ASSERT_EQ(child->wait(60s), 0) << child->stderr_text();
  }
  std::string out;
  EXPECT_EQ(w.sync({}, &out), 1) << out;
  EXPECT_NE(out.find("did not answer"), std::string::npos) << out;
  EXPECT_NE(out.find("not tried"), std::string::npos) << out;  // the second run does not wait out the server again
  EXPECT_NE(out.find("2 failed"), std::string::npos) << out;
  restart(w.server);
  ASSERT_EQ(w.sync({}, &out), 0) << out;
  EXPECT_EQ(w.server.runs().size(), 2u);
}

TEST(OfflineProcess, dry_run_lists_and_sends_nothing) {
  World w;
  w.server.loopback().stop();
  auto child = w.logger({"--points", "100"});
  const std::string run_id = run_id_of(*child);
  ASSERT_EQ(child->wait(60s), 0);
  restart(w.server);
  std::string out;
  ASSERT_EQ(w.sync({"--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("would send"), std::string::npos) << out;
  EXPECT_NE(out.find(run_id), std::string::npos) << out;
  EXPECT_NE(out.find("items to send"), std::string::npos) << out;
  EXPECT_EQ(w.server.runs().size(), 0u);
  EXPECT_EQ(w.server.request_count("runs/log-batch"), 0u);
}

TEST(OfflineProcess, a_refused_run_is_reported_the_others_are_delivered_and_the_exit_code_says_so) {
  World w;
  std::string gone_id;
  std::string ok_id;
  {
    // Logged in this process while the server is away, into an experiment that is then deleted on it.
    w.server.loopback().stop();
    sync::SpooledStoreOptions o;
    o.spool_path = w.spool_file();
    o.server_wait = 500ms;
    o.upload_wait = 500ms;
    o.message_handler = [](std::string_view) {};
    auto spooled = std::make_shared<sync::SpooledStore>(w.server.base_url(), o);
    const auto exp = spooled->get_experiment_by_name("doomed");
    gone_id = spooled->create_run(exp->experiment_id, "me", 1700000000000, {}, "in-doomed").info.run_id;
    ok_id = spooled->create_run("0", "me", 1700000000000, {}, "fine").info.run_id;
    spooled->log_batch(gone_id, {Metric{"loss", point_value(0), point_timestamp(0), 0}}, {}, {});
    spooled->log_batch(ok_id, {Metric{"loss", point_value(0), point_timestamp(0), 0}}, {}, {});
    spooled->update_run_info(gone_id, RunStatus::FINISHED, 1700000001000, std::nullopt);
    spooled->update_run_info(ok_id, RunStatus::FINISHED, 1700000001000, std::nullopt);
  }
  restart(w.server);
  {
    MlflowClient admin(std::make_shared<rest::RestStore>(w.server.base_url()), w.server.base_url());
    admin.delete_experiment(admin.create_experiment("doomed"));
  }
  std::string out;
  EXPECT_EQ(w.sync({}, &out), 1) << out;
  EXPECT_NE(out.find("FAILED"), std::string::npos) << out;
  EXPECT_NE(out.find("doomed"), std::string::npos) << out;
  const std::string server_ok = w.server_run_for(ok_id);
  ASSERT_FALSE(server_ok.empty()) << out;
  EXPECT_TRUE(has_exactly_points(w.server, server_ok, "loss", 1));
  EXPECT_TRUE(w.server_run_for(gone_id).empty());
  // Still pending for a later sync, once the experiment is restored.
  spool::Spool spool(w.spool_file());
  EXPECT_EQ(spool.pending_items_total(), 1);
}

TEST(OfflineProcess, sync_from_an_mlflow_sqlite_file_copies_runs_exactly_once_and_resumes) {
  World w;
  const std::string file = w.dir.file("offline.db");
  const std::string uri = "sqlite:///" + file;
  std::string finished_id, running_id;
  {
    MlflowClient client{std::optional<std::string>(uri)};
    const auto exp = client.create_experiment("copied");
    client.set_experiment_tag(exp, "owner", "cpp-team");
    auto run = client.create_run(exp, 1700000000000, {{"team", "cpp"}}, "done-run");
    finished_id = run.info.run_id;
    client.log_param(finished_id, "lr", "0.1");
    {
      std::ofstream(w.dir.file("notes.txt")) << "trained on moons\n";
      client.log_artifact(finished_id, w.dir.file("notes.txt"), "docs");
    }
    for (int i = 0; i < 2500; ++i) client.log_metric(finished_id, "loss", point_value(i), point_timestamp(i), i);
    client.log_metric(finished_id, "odd", std::nan(""), 1700000000000, 0);
    client.set_terminated(finished_id, RunStatus::FINISHED, 1700000009000);
    running_id = client.create_run(exp, 1700000000000, {}, "still-running").info.run_id;
    client.log_metric(running_id, "loss", point_value(0), point_timestamp(0), 0);
    ASSERT_TRUE(client.flush(10s));
  }
  std::string out;
  ASSERT_EQ(w.sync({"--from", uri, "--to", w.server.base_url(), "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("would send"), std::string::npos) << out;
  EXPECT_EQ(w.server.runs().size(), 0u);

  ASSERT_EQ(w.sync({"--from", uri, "--to", w.server.base_url()}, &out), 0) << out;
  EXPECT_NE(out.find("skipped"), std::string::npos) << out;  // the RUNNING one
  const auto copied = server_runs_for_local_id(w.server, finished_id);
  ASSERT_EQ(copied.size(), 1u) << out;
  const std::string server_id = copied[0].info.run_id;
  EXPECT_TRUE(has_exactly_points(w.server, server_id, "loss", 2500));
  const auto odd = w.server.metric_history(server_id, "odd");
  ASSERT_EQ(odd.size(), 1u);
  EXPECT_TRUE(std::isnan(odd[0].value));
  const auto run = w.server.run(server_id);
  EXPECT_EQ(run->info.status, RunStatus::FINISHED);
  EXPECT_EQ(run->info.start_time, 1700000000000);
  EXPECT_EQ(run->info.end_time, 1700000009000);
  EXPECT_EQ(run->info.run_name, "done-run");
  const auto experiment = w.server.experiment(run->info.experiment_id);
  EXPECT_EQ(experiment->name, "copied");
  // The experiment is made with the source's tags (not its artifact location, a path on this machine).
  const auto owner = std::find_if(experiment->tags.begin(), experiment->tags.end(),
                                  [](const ExperimentTag& t) { return t.key == "owner"; });
  ASSERT_NE(owner, experiment->tags.end());
  EXPECT_EQ(owner->value, "cpp-team");
  ASSERT_NE(run->data.param("lr"), nullptr);
  ASSERT_NE(run->data.tag("team"), nullptr);
  // The run's files are copied into the server run's artifact root, before its end status.
  const std::string artifact_root = run->info.artifact_uri.substr(std::string("mlflow-artifacts:/").size());
  EXPECT_EQ(w.server.artifact(artifact_root + "/docs/notes.txt"), std::optional<std::string>("trained on moons\n"))
      << run->info.artifact_uri;
  EXPECT_NE(out.find("1 artifact files copied"), std::string::npos) << out;

  // Twice: nothing more.
  const auto batches = w.server.request_count("runs/log-batch");
  ASSERT_EQ(w.sync({"--from", uri, "--to", w.server.base_url()}, &out), 0) << out;
  EXPECT_EQ(w.server.request_count("runs/log-batch"), batches) << out;

  // The running one, when asked, and then only the points added since.
  ASSERT_EQ(w.sync({"--from", uri, "--to", w.server.base_url(), "--include-running"}, &out), 0) << out;
  const auto running = server_runs_for_local_id(w.server, running_id);
  ASSERT_EQ(running.size(), 1u) << out;
  {
    MlflowClient client{std::optional<std::string>(uri)};
    for (int i = 1; i < 1200; ++i) client.log_metric(running_id, "loss", point_value(i), point_timestamp(i), i);
    client.set_terminated(running_id, RunStatus::KILLED, 1700000002000);
  }
  ASSERT_EQ(w.sync({"--from", uri, "--to", w.server.base_url()}, &out), 0) << out;
  EXPECT_TRUE(has_exactly_points(w.server, running[0].info.run_id, "loss", 1200));
  EXPECT_EQ(w.server.run(running[0].info.run_id)->info.status, RunStatus::KILLED);
  EXPECT_EQ(w.server.runs().size(), 2u);
}

TEST(OfflineProcess, kill_9_of_a_program_logging_into_a_sqlite_file_keeps_the_file_whole) {
  World w;
  const std::string file = w.dir.file("crash.db");
  std::mt19937 rng(std::random_device{}());
  auto env = w.env();
  Child child(CHILD, {"--uri", "sqlite:///" + file, "--points", "50000", "--flush-every", "500", "--sleep-us", "10"},
              env);
  const std::string run_id = run_id_of(child);
  ASSERT_FALSE(run_id.empty()) << child.stderr_text();
  const int kill_after = 1 + static_cast<int>(rng() % 10);
  int flushed = 0;
  for (int i = 0; i < kill_after; ++i) {
    const auto line = child.wait_for_line("FLUSHED ", 30s);
    ASSERT_TRUE(line) << child.stderr_text();
    flushed = std::stoi(line->substr(8));
  }
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
  child.kill9();

  sqlite::SqliteStore store("sqlite:///" + file);  // opening rolls back what the kill left half-done
  const auto history = store.get_metric_history(run_id, "loss");
  ASSERT_GE(static_cast<int>(history.size()), flushed) << "points flushed before the kill are lost";
  for (std::size_t i = 0; i < history.size(); ++i) {
    ASSERT_EQ(history[i].step, static_cast<std::int64_t>(i)) << "a point is missing or stored twice";
    ASSERT_EQ(history[i].value, point_value(static_cast<int>(i)));
  }
  sqlite::Database db(file);
  sqlite::Statement check(db, "PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.get_text(0), "ok");
}

TEST(OfflineProcess, status_reports_what_waits_in_the_spool) {
  World w;
  w.server.loopback().stop();
  auto child = w.logger({"--points", "250", "--name", "waiting"});
  const std::string run_id = run_id_of(*child);
  ASSERT_EQ(child->wait(60s), 0);
  Child status(CLI, {"status"}, w.env());
  ASSERT_EQ(status.wait(30s), 0) << status.stderr_text();
  const std::string out = status.stdout_text();
  EXPECT_NE(out.find(run_id), std::string::npos) << out;
  EXPECT_NE(out.find("waiting"), std::string::npos) << out;
  EXPECT_NE(out.find("not on the server yet"), std::string::npos) << out;
  EXPECT_NE(out.find("`mlflow-cpp sync` delivers them"), std::string::npos) << out;
}

}  // namespace
