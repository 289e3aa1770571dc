// The mlflow-cpp executable run as a child process, the way a user or a script runs it: its output
// (tables and JSON), its exit codes, and its effect on a real store.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "mlflow/mlflow.hpp"
#include "storage/spool/spool.hpp"
#include "support/fake_mlflow_server.hpp"
#include "support/test_env.hpp"
#include "tracker/rest/rest_store.hpp"

extern char** environ;

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string kCli = std::string(MLFLOW_BIN_DIR) + "/mlflow-cpp";

using mlflow::test::TempDir;

/// Where children spool when a test does not say: never the user's ~/.local/share/mlflow-cpp.
const fs::path& scratch_spool_dir() {
  static TempDir dir;
  return dir.path();
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Environment changes for the child: a value sets the variable, std::nullopt removes it.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

// Runs mlflow-cpp with args; stdout and stderr are pipes (so it is never a terminal). Bounded: a child
// that outlives the deadline is killed and the test fails.
CliResult run_cli(const std::vector<std::string>& args, const EnvChanges& env_changes = {},
                  const fs::path& cwd = {}) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  // A test never reaches for the user's tracking server or spool by accident.
  env.erase("MLFLOW_TRACKING_URI");
  for (const char* name : {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                           "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH"})
    env.erase(name);
  env["MLFLOW_CPP_SPOOL_DIR"] = (scratch_spool_dir() / "spool").string();
  for (const auto& [name, value] : env_changes) {
    if (value) env[name] = *value;
    else env.erase(name);
  }

  // Everything that allocates happens before fork: the child only makes async-signal-safe calls.
  std::vector<std::string> argv_storage{kCli};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (const auto& [name, value] : env) env_storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::string cwd_string = cwd.string();

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    if (!cwd_string.empty() && ::chdir(cwd_string.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  CliResult result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0) ::close(fd.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw std::runtime_error("mlflow-cpp did not finish within 60 s; stderr: " + result.err);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

json::value parse_json(const CliResult& result) {
  try {
    return json::parse(result.out);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("stdout is not JSON (") + e.what() + "):\n" + result.out);
  }
}

std::string describe(const CliResult& result) {
  return "exit " + std::to_string(result.exit_code) + "\n--- stdout\n" + result.out + "--- stderr\n" + result.err;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// The first line of `text` that starts with `start` ("" when there is none).
std::string line_starting(const std::string& text, const std::string& start) {
  for (const auto& line : lines_of(text))
    if (line.rfind(start, 0) == 0) return line;
  return {};
}

/// The detail of check `name` in the --json report of doctor ("" when there is no such check).
std::string check_detail(const json::value& report, const std::string& name) {
  for (const auto& check : report.at("checks").as_array())
    if (check.at("check").as_string() == name) return std::string(check.at("detail").as_string());
  return {};
}

// ---------------------------------------------------------------------------------------------------
// What every store must answer the same way. The fixture fills a store through the public client:
//   alpha: "first" (FINISHED; lr=0.01; loss 0.9 0.7 0.5 0.3 0.2 at steps 0..4, then NaN at 5 via `odd`),
//          "second" (RUNNING; loss 0.5)
//   beta:  "third"
// ---------------------------------------------------------------------------------------------------
class CliStoreTest : public ::testing::Test {
 protected:
  void fill(mlflow::MlflowClient& client) {
    alpha_id_ = client.create_experiment("alpha");
    beta_id_ = client.create_experiment("beta");
    const std::int64_t t0 = 1'700'000'000'000;
    auto first = client.create_run(alpha_id_, t0, {{"team", "vision"}}, "first");
    first_id_ = first.info.run_id;
    client.log_param(first_id_, "lr", "0.01");
    const double losses[] = {0.9, 0.7, 0.5, 0.3, 0.2};
    for (int step = 0; step < 5; ++step) client.log_metric(first_id_, "loss", losses[step], t0 + 1000 * step, step);
    client.log_metric(first_id_, "odd", 1.5, t0, 0);
    client.log_metric(first_id_, "odd", std::numeric_limits<double>::quiet_NaN(), t0 + 1, 1);
    client.set_terminated(first_id_, mlflow::RunStatus::FINISHED, t0 + 65'000);
    auto second = client.create_run(alpha_id_, t0 + 100'000, {}, "second");
    second_id_ = second.info.run_id;
    client.log_metric(second_id_, "loss", 0.5, t0 + 100'000, 0);
    auto third = client.create_run(beta_id_, t0 + 200'000, {}, "third");
    third_id_ = third.info.run_id;
  }

  /// Extra environment for every call (the tracking URI comes through --tracking-uri).
  virtual EnvChanges env() { return {{"MLFLOW_CPP_SPOOL_DIR", (dir_.path() / "spool").string()}}; }
  virtual std::string uri() = 0;
  virtual mlflow::MlflowClient& client() = 0;

  CliResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--tracking-uri", uri()});
    return run_cli(args, env());
  }

  std::set<std::string> run_ids(const json::value& listing) {
    std::set<std::string> ids;
    for (const auto& run : listing.at("runs").as_array())
      ids.insert(std::string(run.at("info").at("run_id").as_string()));
    return ids;
  }

  void check_experiments_list();
  void check_experiments_create_delete_restore();
  void check_runs_list();
  void check_runs_show();
  void check_runs_delete_restore();
  void check_metrics_history();

  TempDir dir_;
  std::string alpha_id_, beta_id_, first_id_, second_id_, third_id_;
};

void CliStoreTest::check_experiments_list() {
  auto table = cli({"experiments", "list"});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  const auto lines = lines_of(table.out);
  ASSERT_GE(lines.size(), 3u) << table.out;
  EXPECT_TRUE(lines[0].rfind("ID", 0) == 0 || contains(lines[0], "ID  NAME")) << table.out;
  EXPECT_TRUE(contains(table.out, "alpha")) << table.out;
  EXPECT_TRUE(contains(table.out, "beta")) << table.out;

  auto listing = cli({"experiments", "list", "--json"});
  ASSERT_EQ(listing.exit_code, 0) << describe(listing);
  std::map<std::string, std::string> by_name;
  const json::value listed = parse_json(listing);
  for (const auto& experiment : listed.at("experiments").as_array())
    by_name[std::string(experiment.at("name").as_string())] = std::string(experiment.at("experiment_id").as_string());
  EXPECT_EQ(by_name["alpha"], alpha_id_);
  EXPECT_EQ(by_name["beta"], beta_id_);

  auto limited = cli({"--json", "experiments", "list", "--max", "1"});
  ASSERT_EQ(limited.exit_code, 0) << describe(limited);
  EXPECT_EQ(parse_json(limited).at("experiments").as_array().size(), 1u);

  auto filtered = cli({"experiments", "list", "--json", "--filter", "name = 'beta'"});
  ASSERT_EQ(filtered.exit_code, 0) << describe(filtered);
  const json::value filtered_json = parse_json(filtered);
  const auto& only = filtered_json.at("experiments").as_array();
  ASSERT_EQ(only.size(), 1u) << filtered.out;
  EXPECT_EQ(only[0].at("name").as_string(), "beta");
}

void CliStoreTest::check_experiments_create_delete_restore() {
  auto created = cli({"experiments", "create", "gamma", "--tag", "owner=cli"});
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  const auto gamma = client().get_experiment_by_name("gamma");
  ASSERT_TRUE(gamma.has_value());
  EXPECT_TRUE(contains(created.out, gamma->experiment_id)) << created.out;
  bool tagged = false;
  for (const auto& tag : gamma->tags) tagged |= tag.key == "owner" && tag.value == "cli";
  EXPECT_TRUE(tagged);

  auto created_json = cli({"experiments", "create", "delta", "--json"});
  ASSERT_EQ(created_json.exit_code, 0) << describe(created_json);
  EXPECT_EQ(parse_json(created_json).at("experiment_id").as_string(),
            client().get_experiment_by_name("delta")->experiment_id);

  auto duplicate = cli({"experiments", "create", "gamma"});
  EXPECT_EQ(duplicate.exit_code, 1) << describe(duplicate);
  EXPECT_TRUE(contains(duplicate.err, "RESOURCE_ALREADY_EXISTS")) << duplicate.err;

  auto bad_tag = cli({"experiments", "create", "epsilon", "--tag", "no-equals-sign"});
  EXPECT_EQ(bad_tag.exit_code, 2) << describe(bad_tag);
  EXPECT_FALSE(client().get_experiment_by_name("epsilon").has_value());

  auto deleted = cli({"experiments", "delete", "gamma"});  // by name
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  EXPECT_EQ(client().get_experiment(gamma->experiment_id).lifecycle_stage, "deleted");
  EXPECT_FALSE(contains(cli({"experiments", "list"}).out, "gamma"));
  EXPECT_TRUE(contains(cli({"experiments", "list", "--view", "deleted"}).out, "gamma"));

  auto restored = cli({"experiments", "restore", gamma->experiment_id, "--json"});  // by id
  ASSERT_EQ(restored.exit_code, 0) << describe(restored);
  EXPECT_EQ(parse_json(restored).at("lifecycle_stage").as_string(), "active");
  EXPECT_EQ(client().get_experiment(gamma->experiment_id).lifecycle_stage, "active");

  auto missing = cli({"experiments", "delete", "no-such-experiment"});
  EXPECT_EQ(missing.exit_code, 3) << describe(missing);
  EXPECT_TRUE(contains(missing.err, "no-such-experiment")) << missing.err;
}

void CliStoreTest::check_runs_list() {
  auto all = cli({"runs", "list", "--json"});
  ASSERT_EQ(all.exit_code, 0) << describe(all);
  EXPECT_EQ(run_ids(parse_json(all)), (std::set<std::string>{first_id_, second_id_, third_id_}));

  auto table = cli({"runs", "list", "--experiment", "alpha"});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  const auto lines = lines_of(table.out);
  ASSERT_EQ(lines.size(), 3u) << table.out;  // header + 2 runs
  EXPECT_TRUE(contains(lines[0], "RUN ID")) << table.out;
  // Newest first, as MLflow orders by default.
  EXPECT_TRUE(contains(lines[1], second_id_) && contains(lines[1], "RUNNING")) << table.out;
  EXPECT_TRUE(contains(lines[2], first_id_) && contains(lines[2], "FINISHED")) << table.out;
  EXPECT_TRUE(contains(lines[2], "1m 05s")) << table.out;  // duration column
  // Aligned: every row starts its second column where the header does.
  const auto name_column = lines[0].find("NAME");
  EXPECT_EQ(lines[1].find("second"), name_column) << table.out;
  EXPECT_EQ(lines[2].find("first"), name_column) << table.out;

  auto by_id = cli({"runs", "list", "--experiment", beta_id_, "--json"});
  ASSERT_EQ(by_id.exit_code, 0) << describe(by_id);
  EXPECT_EQ(run_ids(parse_json(by_id)), (std::set<std::string>{third_id_}));

  auto filtered = cli({"runs", "list", "-e", "alpha", "--filter", "metrics.loss < 0.3", "--json"});
  ASSERT_EQ(filtered.exit_code, 0) << describe(filtered);
  EXPECT_EQ(run_ids(parse_json(filtered)), (std::set<std::string>{first_id_}));

  auto ordered = cli({"runs", "list", "-e", "alpha", "--order-by", "metrics.loss ASC", "--json"});
  ASSERT_EQ(ordered.exit_code, 0) << describe(ordered);
  const json::value ordered_json = parse_json(ordered);
  const auto& runs = ordered_json.at("runs").as_array();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].at("info").at("run_id").as_string(), first_id_);
  EXPECT_EQ(runs[1].at("info").at("run_id").as_string(), second_id_);

  auto limited = cli({"runs", "list", "--max", "1", "--json"});
  ASSERT_EQ(limited.exit_code, 0) << describe(limited);
  EXPECT_EQ(parse_json(limited).at("runs").as_array().size(), 1u);

  auto unknown = cli({"runs", "list", "--experiment", "nope"});
  EXPECT_EQ(unknown.exit_code, 3) << describe(unknown);

  auto bad_filter = cli({"runs", "list", "--filter", "metrics.loss <<< oops"});
  EXPECT_EQ(bad_filter.exit_code, 1) << describe(bad_filter);
  EXPECT_TRUE(contains(bad_filter.err, "INVALID_PARAMETER_VALUE")) << bad_filter.err;
}

void CliStoreTest::check_runs_show() {
  auto table = cli({"runs", "show", first_id_});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  for (const char* part : {"first", "FINISHED", "alpha", "Params (1)", "lr", "0.01", "loss", "0.2", "team", "vision"})
    EXPECT_TRUE(contains(table.out, part)) << part << " missing from\n" << table.out;

  auto shown = cli({"runs", "show", first_id_, "--json"});
  ASSERT_EQ(shown.exit_code, 0) << describe(shown);
  const auto run = parse_json(shown).at("run");
  EXPECT_EQ(run.at("info").at("run_id").as_string(), first_id_);
  EXPECT_EQ(run.at("info").at("run_name").as_string(), "first");
  EXPECT_EQ(run.at("info").at("status").as_string(), "FINISHED");
  EXPECT_EQ(run.at("info").at("start_time").as_int64(), 1'700'000'000'000);
  EXPECT_EQ(run.at("info").at("end_time").as_int64(), 1'700'000'065'000);
  bool saw_lr = false, saw_loss = false;
  for (const auto& param : run.at("data").at("params").as_array())
    saw_lr |= param.at("key") == "lr" && param.at("value") == "0.01";
  for (const auto& metric : run.at("data").at("metrics").as_array())
    saw_loss |= metric.at("key") == "loss" && metric.at("value").as_double() == 0.2 && metric.at("step") == 4;
  EXPECT_TRUE(saw_lr) << shown.out;
  EXPECT_TRUE(saw_loss) << shown.out;

  auto missing = cli({"runs", "show", "0123456789abcdef0123456789abcdef"});
  EXPECT_EQ(missing.exit_code, 3) << describe(missing);
  EXPECT_TRUE(contains(missing.err, "RESOURCE_DOES_NOT_EXIST")) << missing.err;
}

void CliStoreTest::check_runs_delete_restore() {
  auto deleted = cli({"runs", "delete", second_id_});
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  EXPECT_TRUE(contains(deleted.out, second_id_)) << deleted.out;
  EXPECT_EQ(client().get_run(second_id_).info.lifecycle_stage, "deleted");
  EXPECT_FALSE(contains(cli({"runs", "list"}).out, second_id_));
  auto deleted_view = cli({"runs", "list", "--view", "deleted", "--json"});
  EXPECT_EQ(run_ids(parse_json(deleted_view)), (std::set<std::string>{second_id_})) << deleted_view.out;

  auto restored = cli({"runs", "restore", second_id_, "--json"});
  ASSERT_EQ(restored.exit_code, 0) << describe(restored);
  EXPECT_EQ(parse_json(restored).at("lifecycle_stage").as_string(), "active");
  EXPECT_EQ(client().get_run(second_id_).info.lifecycle_stage, "active");

  auto missing = cli({"runs", "delete", "0123456789abcdef0123456789abcdef"});
  EXPECT_EQ(missing.exit_code, 3) << describe(missing);
}

void CliStoreTest::check_metrics_history() {
  auto table = cli({"metrics", "history", first_id_, "loss"});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  const auto lines = lines_of(table.out);
  ASSERT_EQ(lines.size(), 6u) << table.out;  // header + 5 points, and no chart: stdout is a pipe
  EXPECT_TRUE(contains(lines[0], "STEP") && contains(lines[0], "TIMESTAMP") && contains(lines[0], "VALUE"));
  const std::string when = "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}";
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(" *0  " + when + " +0\\.9"))) << table.out;
  EXPECT_TRUE(std::regex_match(lines[5], std::regex(" *4  " + when + " +0\\.2"))) << table.out;
  EXPECT_FALSE(contains(table.out, "(step)")) << table.out;

  auto chart = cli({"metrics", "history", first_id_, "loss", "--chart"});
  ASSERT_EQ(chart.exit_code, 0) << describe(chart);
  EXPECT_TRUE(contains(chart.out, "(step)")) << chart.out;
  // Five points, five stars; the highest value labels the top row, the lowest the bottom one.
  EXPECT_EQ(std::count(chart.out.begin(), chart.out.end(), '*'), 5) << chart.out;
  EXPECT_TRUE(std::regex_search(chart.out, std::regex("\n0\\.9 \\|\\*"))) << chart.out;
  EXPECT_TRUE(std::regex_search(chart.out, std::regex("\n0\\.2 \\|.*\\*\n"))) << chart.out;

  auto history = cli({"--json", "metrics", "history", first_id_, "odd"});
  ASSERT_EQ(history.exit_code, 0) << describe(history);
  const json::value history_json = parse_json(history);
  const auto& points = history_json.at("metrics").as_array();
  ASSERT_EQ(points.size(), 2u) << history.out;
  EXPECT_EQ(points[0].at("value").as_double(), 1.5);
  EXPECT_EQ(points[1].at("value").as_string(), "NaN");  // as MLflow's REST API writes it
  EXPECT_EQ(points[1].at("step").as_int64(), 1);
  EXPECT_EQ(points[1].at("timestamp").as_int64(), 1'700'000'000'001);

  auto no_key = cli({"metrics", "history", first_id_, "accuracy"});
  EXPECT_EQ(no_key.exit_code, 3) << describe(no_key);
  EXPECT_TRUE(contains(no_key.err, "accuracy") && contains(no_key.err, "loss")) << no_key.err;

  auto no_run = cli({"metrics", "history", "0123456789abcdef0123456789abcdef", "loss"});
  EXPECT_EQ(no_run.exit_code, 3) << describe(no_run);
}

// ---------------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------------
class CliSqliteTest : public CliStoreTest {
 protected:
  void SetUp() override {
    db_ = dir_.path() / "store.db";
    client_ = std::make_unique<mlflow::MlflowClient>(uri());
    fill(*client_);
  }
  std::string uri() override { return "sqlite:///" + db_.string(); }  // db_ is absolute: sqlite:////...
  mlflow::MlflowClient& client() override { return *client_; }

  fs::path db_;
  std::unique_ptr<mlflow::MlflowClient> client_;
};

TEST_F(CliSqliteTest, ExperimentsList) { check_experiments_list(); }
TEST_F(CliSqliteTest, ExperimentsCreateDeleteRestore) { check_experiments_create_delete_restore(); }
TEST_F(CliSqliteTest, RunsList) { check_runs_list(); }
TEST_F(CliSqliteTest, RunsShow) { check_runs_show(); }
TEST_F(CliSqliteTest, RunsDeleteRestore) { check_runs_delete_restore(); }
TEST_F(CliSqliteTest, MetricsHistory) { check_metrics_history(); }

TEST_F(CliSqliteTest, TrackingUriComesFromFlagThenEnvironmentThenDefault) {
  // The environment variable is used when there is no flag...
  auto from_env = run_cli({"experiments", "list"}, {{"MLFLOW_TRACKING_URI", uri()}});
  ASSERT_EQ(from_env.exit_code, 0) << describe(from_env);
  EXPECT_TRUE(contains(from_env.out, "alpha")) << from_env.out;

  // ...the flag wins over it...
  TempDir other;
  const std::string other_uri = "sqlite:///" + (other.path() / "other.db").string();
  auto from_flag = run_cli({"--tracking-uri", other_uri, "experiments", "list"}, {{"MLFLOW_TRACKING_URI", uri()}});
  ASSERT_EQ(from_flag.exit_code, 0) << describe(from_flag);
  EXPECT_FALSE(contains(from_flag.out, "alpha")) << from_flag.out;
  EXPECT_TRUE(fs::exists(other.path() / "other.db"));

  // ...and without either, sqlite:///mlflow.db in the working directory, as MLflow does.
  TempDir cwd;
  auto by_default = run_cli({"experiments", "list"}, {}, cwd.path());
  ASSERT_EQ(by_default.exit_code, 0) << describe(by_default);
  EXPECT_TRUE(fs::exists(cwd.path() / "mlflow.db"));
  EXPECT_FALSE(contains(by_default.out, "alpha"));
}

TEST_F(CliSqliteTest, StatusWithoutSpoolSaysNothingIsPending) {
  auto status = cli({"status"});
  ASSERT_EQ(status.exit_code, 0) << describe(status);
  EXPECT_TRUE(contains(status.out, "Nothing pending")) << status.out;
  EXPECT_TRUE(contains(status.out, (dir_.path() / "spool" / "spool.db").string())) << status.out;

  auto as_json = cli({"status", "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  EXPECT_EQ(parse_json(as_json).at("exists").as_bool(), false);
}

TEST_F(CliSqliteTest, DoctorPassesOnAGoodStore) {
  auto doctor = cli({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << describe(doctor);
  const auto lines = lines_of(doctor.out);
  ASSERT_EQ(lines.size(), 3u) << doctor.out;  // tracking URI, file, schema
  for (const auto& line : lines) EXPECT_EQ(line.rfind("OK", 0), 0u) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, db_.string())) << doctor.out;

  auto as_json = cli({"doctor", "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  const auto report = parse_json(as_json);
  EXPECT_TRUE(report.at("ok").as_bool());
  EXPECT_EQ(report.at("checks").as_array().size(), 3u);
}

TEST_F(CliSqliteTest, DoctorDoesNotCreateAMissingFile) {
  const fs::path missing = dir_.path() / "new.db";
  auto doctor = run_cli({"--tracking-uri", "sqlite:///" + missing.string(), "doctor"}, env());
  EXPECT_EQ(doctor.exit_code, 0) << describe(doctor);
  EXPECT_TRUE(contains(doctor.out, "will be created")) << doctor.out;
  EXPECT_FALSE(fs::exists(missing));

  auto no_dir = run_cli({"--tracking-uri", "sqlite:///" + (dir_.path() / "absent" / "x.db").string(), "doctor"}, env());
  EXPECT_EQ(no_dir.exit_code, 1) << describe(no_dir);
  EXPECT_TRUE(contains(no_dir.out, "FAIL") && contains(no_dir.out, "fix:")) << no_dir.out;
}

TEST_F(CliSqliteTest, DoctorFailsOnAFileThatIsNotAnMlflowStore) {
  const fs::path foreign = dir_.path() / "notes.db";
  { std::ofstream(foreign) << "this is not a database, just text that is long enough to have a header page\n"; }
  const auto before = fs::file_size(foreign);
  auto doctor = run_cli({"--tracking-uri", "sqlite:///" + foreign.string(), "doctor"}, env());
  EXPECT_EQ(doctor.exit_code, 1) << describe(doctor);
  const auto lines = lines_of(doctor.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("FAIL", 0), 0u) << doctor.out;
  EXPECT_TRUE(contains(lines.back(), "schema") && contains(lines.back(), "fix:")) << doctor.out;
  EXPECT_EQ(fs::file_size(foreign), before);
}

TEST_F(CliSqliteTest, DoctorFailsOnAnUnsupportedScheme) {
  auto doctor = run_cli({"--tracking-uri", "ftp://example.com/x", "doctor"}, env());
  EXPECT_EQ(doctor.exit_code, 1) << describe(doctor);
  EXPECT_TRUE(contains(doctor.out, "FAIL") && contains(doctor.out, "sqlite:///")) << doctor.out;
}

TEST_F(CliSqliteTest, UnsupportedTrackingUriIsAnError) {
  auto listed = run_cli({"--tracking-uri", "ftp://example.com/x", "runs", "list"}, env());
  EXPECT_EQ(listed.exit_code, 1) << describe(listed);
  EXPECT_TRUE(contains(listed.err, "ftp://example.com/x")) << listed.err;
}

// ---------------------------------------------------------------------------------------------------
// An MLflow server (the loopback fake, imitating MLflow 2.17.2 unless said otherwise)
// ---------------------------------------------------------------------------------------------------
class CliHttpTest : public CliStoreTest {
 protected:
  void SetUp() override {
    // Filled through the REST store itself, so that the data is on the server when the CLI looks.
    client_ = std::make_unique<mlflow::MlflowClient>(std::make_shared<mlflow::rest::RestStore>(uri()), uri());
    fill(*client_);
  }
  std::string uri() override { return fake_.base_url(); }
  mlflow::MlflowClient& client() override { return *client_; }

  mlflow::test::FakeMlflowServer fake_;
  std::unique_ptr<mlflow::MlflowClient> client_;
};

TEST_F(CliHttpTest, ExperimentsList) { check_experiments_list(); }
TEST_F(CliHttpTest, ExperimentsCreateDeleteRestore) { check_experiments_create_delete_restore(); }
TEST_F(CliHttpTest, RunsList) { check_runs_list(); }
TEST_F(CliHttpTest, RunsShow) { check_runs_show(); }
TEST_F(CliHttpTest, RunsDeleteRestore) { check_runs_delete_restore(); }
TEST_F(CliHttpTest, MetricsHistory) { check_metrics_history(); }

TEST_F(CliHttpTest, TrackingUriFromTheEnvironment) {
  auto listed = run_cli({"runs", "list", "--json"}, {{"MLFLOW_TRACKING_URI", uri()}});
  ASSERT_EQ(listed.exit_code, 0) << describe(listed);
  EXPECT_EQ(run_ids(parse_json(listed)), (std::set<std::string>{first_id_, second_id_, third_id_}));
  EXPECT_GT(fake_.request_count("runs/search"), 0u);
}

TEST_F(CliHttpTest, DoctorPassesAgainstAnMlflowServer) {
  auto doctor = cli({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << describe(doctor);
  const auto lines = lines_of(doctor.out);
  ASSERT_EQ(lines.size(), 4u) << doctor.out;  // tracking URI, reachable, MLflow version, auth
  for (const auto& line : lines) EXPECT_EQ(line.rfind("OK", 0), 0u) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, "MLflow 2.17.2")) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, "no credentials")) << doctor.out;
  EXPECT_EQ(fake_.request_count("GET", "/version"), 1u);

  auto as_json = cli({"doctor", "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  const auto report = parse_json(as_json);
  EXPECT_TRUE(report.at("ok").as_bool());
  EXPECT_EQ(report.at("tracking_uri").as_string(), uri());
}

TEST(CliDoctor, ReportsTheVersionOfAnMlflow3Server) {
  mlflow::test::FakeMlflowOptions options;
  options.flavor = mlflow::test::MlflowFlavor::v3_3;
  mlflow::test::FakeMlflowServer fake(options);
  auto doctor = run_cli({"--tracking-uri", fake.base_url(), "doctor"});
  EXPECT_EQ(doctor.exit_code, 0) << describe(doctor);
  EXPECT_TRUE(contains(doctor.out, "MLflow 3.3.2.dev0")) << doctor.out;
}

TEST(CliDoctor, FailsWhenNothingListens) {
  mlflow::test::FakeMlflowServer fake;
  const std::string uri = fake.base_url();
  fake.loopback().stop();
  const auto started = std::chrono::steady_clock::now();
  auto doctor = run_cli({"--tracking-uri", uri, "doctor", "--timeout", "5"});
  EXPECT_EQ(doctor.exit_code, 1) << describe(doctor);
  const auto lines = lines_of(doctor.out);
  ASSERT_EQ(lines.size(), 2u) << doctor.out;
  EXPECT_EQ(lines[1].rfind("FAIL  reachable", 0), 0u) << doctor.out;
  EXPECT_TRUE(contains(lines[1], "refused") && contains(lines[1], "fix:")) << doctor.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));

  // Commands that need the server fail with the store's error, not a usage error.
  auto listed = run_cli({"--tracking-uri", uri, "experiments", "list"},
                        {{"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"}, {"MLFLOW_HTTP_REQUEST_TIMEOUT", "5"}});
  EXPECT_EQ(listed.exit_code, 1) << describe(listed);
  EXPECT_TRUE(contains(listed.err, "refused")) << listed.err;
}

TEST(CliDoctor, FailsOnSomethingThatIsNotMlflow) {
  mlflow::test::FakeMlflowServer fake;
  fake.loopback().push_fault(mlflow::test::Fault::html_404);  // /version answered by a plain web server
  auto doctor = run_cli({"--tracking-uri", fake.base_url(), "doctor"});
  EXPECT_EQ(doctor.exit_code, 1) << describe(doctor);
  EXPECT_TRUE(contains(doctor.out, "FAIL  MLflow version")) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, "404") && contains(doctor.out, "does not look like an MLflow")) << doctor.out;
}

TEST(CliDoctor, ChecksBasicAuthCredentials) {
  mlflow::test::FakeMlflowOptions options;
  options.basic_auth = std::make_pair(std::string("alice"), std::string("s3cret"));
  mlflow::test::FakeMlflowServer fake(options);
  auto none = run_cli({"--tracking-uri", fake.base_url(), "doctor"});
  EXPECT_EQ(none.exit_code, 1) << describe(none);
  EXPECT_TRUE(contains(none.out, "FAIL  auth") && contains(none.out, "401") &&
              contains(none.out, "MLFLOW_TRACKING_USERNAME"))
      << none.out;

  auto wrong = run_cli({"--tracking-uri", fake.base_url(), "doctor"},
                       {{"MLFLOW_TRACKING_USERNAME", "alice"}, {"MLFLOW_TRACKING_PASSWORD", "guess"}});
  EXPECT_EQ(wrong.exit_code, 1) << describe(wrong);
  EXPECT_TRUE(contains(wrong.out, "FAIL  auth") && contains(wrong.out, "rejected")) << wrong.out;
  EXPECT_FALSE(contains(wrong.out + wrong.err, "guess"));

  auto right = run_cli({"--tracking-uri", fake.base_url(), "doctor"},
                       {{"MLFLOW_TRACKING_USERNAME", "alice"}, {"MLFLOW_TRACKING_PASSWORD", "s3cret"}});
  EXPECT_EQ(right.exit_code, 0) << describe(right);
  EXPECT_TRUE(contains(right.out, "basic auth as 'alice'")) << right.out;
  EXPECT_FALSE(contains(right.out + right.err, "s3cret"));
}

TEST(CliDoctor, ChecksABearerToken) {
  mlflow::test::FakeMlflowOptions options;
  options.bearer_token = "tok-123";
  mlflow::test::FakeMlflowServer fake(options);
  auto wrong = run_cli({"--tracking-uri", fake.base_url(), "doctor"}, {{"MLFLOW_TRACKING_TOKEN", "tok-999"}});
  EXPECT_EQ(wrong.exit_code, 1) << describe(wrong);
  EXPECT_TRUE(contains(wrong.out, "FAIL  auth")) << wrong.out;
  EXPECT_FALSE(contains(wrong.out + wrong.err, "tok-999"));

  auto right = run_cli({"--tracking-uri", fake.base_url(), "doctor"}, {{"MLFLOW_TRACKING_TOKEN", "tok-123"}});
  EXPECT_EQ(right.exit_code, 0) << describe(right);
  EXPECT_TRUE(contains(right.out, "bearer token")) << right.out;
}

TEST(CliDoctor, ChecksTls) {
  mlflow::test::FakeMlflowOptions options;
  options.tls = true;
  mlflow::test::FakeMlflowServer fake(options);
  ASSERT_EQ(fake.base_url().rfind("https://", 0), 0u);
  TempDir dir;
  const fs::path ca = dir.path() / "server.pem";
  { std::ofstream(ca) << fake.cert_pem(); }

  // A self-signed certificate is refused by default, and doctor says how to trust it.
  auto untrusted = run_cli({"--tracking-uri", fake.base_url(), "doctor"});
  EXPECT_EQ(untrusted.exit_code, 1) << describe(untrusted);
  EXPECT_TRUE(contains(untrusted.out, "OK    reachable")) << untrusted.out;
  EXPECT_TRUE(contains(untrusted.out, "FAIL  TLS") && contains(untrusted.out, "MLFLOW_TRACKING_SERVER_CERT_PATH"))
      << untrusted.out;

  auto trusted = run_cli({"--tracking-uri", fake.base_url(), "doctor"},
                         {{"MLFLOW_TRACKING_SERVER_CERT_PATH", ca.string()}});
  EXPECT_EQ(trusted.exit_code, 0) << describe(trusted);
  EXPECT_TRUE(contains(trusted.out, "OK    TLS") && contains(trusted.out, "verified with " + ca.string()))
      << trusted.out;

  auto insecure = run_cli({"--tracking-uri", fake.base_url(), "doctor"}, {{"MLFLOW_TRACKING_INSECURE_TLS", "true"}});
  EXPECT_EQ(insecure.exit_code, 0) << describe(insecure);
  EXPECT_TRUE(contains(insecure.out, "NOT verified")) << insecure.out;

  // The other commands go through the same TLS settings.
  auto listed = run_cli({"--tracking-uri", fake.base_url(), "experiments", "list", "--json"},
                        {{"MLFLOW_TRACKING_SERVER_CERT_PATH", ca.string()}});
  EXPECT_EQ(listed.exit_code, 0) << describe(listed);
}

// ---------------------------------------------------------------------------------------------------
// A tracking URI with "user:password@": every URI the commands print or put into JSON keeps the user
// name and the host and shows "***" for the password.
// ---------------------------------------------------------------------------------------------------
class CliCredentialsTest : public ::testing::Test {
 protected:
  static constexpr const char* kPassword = "Pw-9f3kQz7x";

  void SetUp() override {
    const std::string base = fake_.base_url();
    const auto host_at = base.find("://") + 3;
    host_ = base.substr(host_at);
    uri_ = base.substr(0, host_at) + "alice:" + kPassword + "@" + host_;
    shown_ = base.substr(0, host_at) + "alice:***@" + host_;
    fs::create_directories(spool_dir());
  }

  fs::path spool_dir() const { return dir_.path() / "spool"; }
  EnvChanges env() const { return {{"MLFLOW_CPP_SPOOL_DIR", spool_dir().string()}}; }

  /// A finished run in the spool, for uri_, that the server has not seen yet.
  void spool_a_run() {
    mlflow::spool::Spool spool((spool_dir() / "spool.db").string());
    mlflow::spool::RunRecord run;
    run.local_run_id = mlflow::spool::new_local_id();
    run.target_uri = uri_;
    run.experiment_id = "0";
    run.run_name = "offline";
    run.start_time = 1'700'000'000'000;
    run.end_time = 1'700'000'060'000;
    run.status = "FINISHED";
    run.terminal_requested = true;
    spool.add_run(run);
    local_run_id_ = run.local_run_id;
  }

  /// An MLflow SQLite file holding one finished run with one metric point.
  std::string source_file() {
    const fs::path db = dir_.path() / "source.db";
    mlflow::MlflowClient client("sqlite:///" + db.string());
    const auto run = client.create_run("0", 1'700'000'000'000, {}, "copied");
    client.log_metric(run.info.run_id, "loss", 0.5, 1'700'000'000'000, 0);
    client.set_terminated(run.info.run_id, mlflow::RunStatus::FINISHED, 1'700'000'001'000);
    return "sqlite:///" + db.string();
  }

  /// Neither stream shows the password; `where` (stdout or stderr) shows the masked URI.
  void expect_masked(const CliResult& result, const std::string& where) {
    EXPECT_FALSE(contains(result.out, kPassword)) << describe(result);
    EXPECT_FALSE(contains(result.err, kPassword)) << describe(result);
    EXPECT_TRUE(contains(where, shown_)) << describe(result);
  }

  /// Every "target" of a --json sync report is the masked URI.
  void expect_masked_targets(const CliResult& result) {
    expect_masked(result, result.out);
    const auto report = parse_json(result);
    ASSERT_FALSE(report.at("runs").as_array().empty()) << result.out;
    for (const auto& run : report.at("runs").as_array()) EXPECT_EQ(run.at("target").as_string(), shown_);
  }

  mlflow::test::FakeMlflowServer fake_{[] {
    mlflow::test::FakeMlflowOptions options;
    options.basic_auth = std::make_pair(std::string("alice"), std::string(kPassword));
    return options;
  }()};
  TempDir dir_;
  std::string host_, uri_, shown_, local_run_id_;
};

TEST_F(CliCredentialsTest, StatusShowsTheUserButNotThePassword) {
  spool_a_run();
  auto table = run_cli({"--tracking-uri", uri_, "status"}, env());
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  expect_masked(table, table.out);
  EXPECT_TRUE(contains(table.out, local_run_id_)) << table.out;

  auto as_json = run_cli({"--tracking-uri", uri_, "status", "--json"}, env());
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  expect_masked(as_json, as_json.out);
  const auto report = parse_json(as_json);
  ASSERT_EQ(report.at("runs").as_array().size(), 1u) << as_json.out;
  EXPECT_EQ(report.at("runs").as_array()[0].at("target").as_string(), shown_);
}

TEST_F(CliCredentialsTest, SyncDryRunShowsTheUserButNotThePassword) {
  spool_a_run();
  auto table = run_cli({"sync", "--dry-run", "--no-progress"}, env());
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  expect_masked(table, table.out);
  EXPECT_TRUE(contains(table.out, "would send") && contains(table.out, "Dry run")) << table.out;
  expect_masked_targets(run_cli({"sync", "--dry-run", "--json"}, env()));

  const std::string from = source_file();
  auto copy = run_cli({"sync", "--from", from, "--to", uri_, "--dry-run", "--no-progress"}, env());
  ASSERT_EQ(copy.exit_code, 0) << describe(copy);
  expect_masked(copy, copy.out);
  expect_masked_targets(run_cli({"sync", "--from", from, "--to", uri_, "--dry-run", "--json"}, env()));
  EXPECT_EQ(fake_.runs().size(), 0u) << "a dry run sent something";
}

TEST_F(CliCredentialsTest, SyncReportsAndErrorsDoNotShowThePassword) {
  spool_a_run();
  auto delivered = run_cli({"sync", "--no-progress"}, env());
  ASSERT_EQ(delivered.exit_code, 0) << describe(delivered);
  expect_masked(delivered, delivered.out);
  EXPECT_TRUE(contains(delivered.out, "delivered")) << delivered.out;
  EXPECT_EQ(fake_.runs().size(), 1u) << "the password in the URI did not authenticate the upload";

  const std::string from = source_file();
  auto copied = run_cli({"sync", "--from", from, "--to", uri_, "--json"}, env());
  EXPECT_EQ(copied.exit_code, 0) << describe(copied);
  expect_masked_targets(copied);
  EXPECT_EQ(fake_.runs().size(), 2u);

  const std::string ftp = "ftp://alice:" + std::string(kPassword) + "@" + host_;
  auto not_a_server = run_cli({"sync", "--from", from, "--to", ftp}, env());
  EXPECT_EQ(not_a_server.exit_code, 1) << describe(not_a_server);
  EXPECT_FALSE(contains(not_a_server.out + not_a_server.err, kPassword)) << describe(not_a_server);
  EXPECT_TRUE(contains(not_a_server.err, "ftp://alice:***@" + host_)) << describe(not_a_server);
}

TEST_F(CliCredentialsTest, DoctorAndErrorsShowTheUserButNotThePassword) {
  auto doctor = run_cli({"--tracking-uri", uri_, "doctor"}, env());
  EXPECT_EQ(doctor.exit_code, 0) << describe(doctor);
  expect_masked(doctor, doctor.out);
  auto as_json = run_cli({"--tracking-uri", uri_, "doctor", "--json"}, env());
  EXPECT_EQ(as_json.exit_code, 0) << describe(as_json);
  expect_masked(as_json, as_json.out);
  EXPECT_EQ(parse_json(as_json).at("tracking_uri").as_string(), shown_);

  auto unsupported = run_cli({"--tracking-uri", "ftp://alice:" + std::string(kPassword) + "@" + host_, "runs", "list"},
                             env());
  EXPECT_EQ(unsupported.exit_code, 1) << describe(unsupported);
  EXPECT_FALSE(contains(unsupported.out + unsupported.err, kPassword)) << describe(unsupported);
  EXPECT_TRUE(contains(unsupported.err, "ftp://alice:***@" + host_)) << describe(unsupported);
}

TEST_F(CliCredentialsTest, DoctorSaysTheCredentialsComeFromTheUri) {
  // Over plain http: the user is named, the password never, and the line warns that it travels unencrypted.
  auto doctor = run_cli({"--tracking-uri", uri_, "doctor"}, env());
  ASSERT_EQ(doctor.exit_code, 0) << describe(doctor);
  expect_masked(doctor, doctor.out);
  const std::string auth = line_starting(doctor.out, "OK    auth");
  EXPECT_TRUE(contains(auth, "basic auth as 'alice' from the tracking URI")) << doctor.out;
  EXPECT_TRUE(contains(auth, "sent unencrypted over http")) << doctor.out;
  EXPECT_FALSE(contains(doctor.out, "no credentials")) << doctor.out;

  auto as_json = run_cli({"--tracking-uri", uri_, "doctor", "--json"}, env());
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);
  expect_masked(as_json, as_json.out);
  const std::string detail = check_detail(parse_json(as_json), "auth");
  EXPECT_TRUE(contains(detail, "basic auth as 'alice' from the tracking URI")) << as_json.out;
  EXPECT_TRUE(contains(detail, "sent unencrypted over http")) << as_json.out;

  // A wrong password in the URI: refused, and the fix points at the URI.
  const std::string wrong_password = "Wr0ng-pw-4d2x";
  const std::string wrong_uri = "http://alice:" + wrong_password + "@" + host_;
  auto refused = run_cli({"--tracking-uri", wrong_uri, "doctor"}, env());
  EXPECT_EQ(refused.exit_code, 1) << describe(refused);
  const std::string refusal = line_starting(refused.out, "FAIL  auth");
  EXPECT_TRUE(contains(refusal, "rejected (basic auth as 'alice' from the tracking URI)")) << refused.out;
  EXPECT_TRUE(contains(refusal, "fix: check the user name and password in the tracking URI")) << refused.out;
  EXPECT_FALSE(contains(refused.out + refused.err, wrong_password)) << describe(refused);
  auto refused_json = run_cli({"--tracking-uri", wrong_uri, "doctor", "--json"}, env());
  EXPECT_EQ(refused_json.exit_code, 1) << describe(refused_json);
  EXPECT_TRUE(contains(check_detail(parse_json(refused_json), "auth"), "from the tracking URI")) << refused_json.out;
  EXPECT_FALSE(contains(refused_json.out + refused_json.err, wrong_password)) << describe(refused_json);

  // Credentials in the environment are the ones sent (as by every command): doctor says the URI's are not.
  EnvChanges with_env = env();
  with_env["MLFLOW_TRACKING_USERNAME"] = "alice";
  with_env["MLFLOW_TRACKING_PASSWORD"] = kPassword;
  auto env_wins = run_cli({"--tracking-uri", wrong_uri, "doctor"}, with_env);
  EXPECT_EQ(env_wins.exit_code, 0) << describe(env_wins);
  const std::string sent = line_starting(env_wins.out, "OK    auth");
  EXPECT_TRUE(contains(sent, "basic auth as 'alice', sent unencrypted over http")) << env_wins.out;
  EXPECT_TRUE(contains(sent, "the credentials in the tracking URI are not used")) << env_wins.out;
  EXPECT_FALSE(contains(env_wins.out + env_wins.err, wrong_password)) << describe(env_wins);
  EXPECT_FALSE(contains(env_wins.out + env_wins.err, kPassword)) << describe(env_wins);
}

TEST(CliDoctor, UriCredentialsOverHttpsAreNotCalledUnencrypted) {
  const std::string password = "Tls-pw-7q2m";
  mlflow::test::FakeMlflowOptions options;
  options.tls = true;
  options.basic_auth = std::make_pair(std::string("bob"), password);
  mlflow::test::FakeMlflowServer fake(options);
  TempDir dir;
  const std::string ca = dir.file("server.pem");
  mlflow::test::write_file(ca, fake.cert_pem());
  const std::string uri = "https://bob:" + password + "@" + fake.base_url().substr(std::string("https://").size());
  for (const bool as_json : {false, true}) {
    std::vector<std::string> args{"--tracking-uri", uri, "doctor"};
    if (as_json) args.push_back("--json");
    auto doctor = run_cli(args, {{"MLFLOW_TRACKING_SERVER_CERT_PATH", ca}});
    ASSERT_EQ(doctor.exit_code, 0) << describe(doctor);
    const std::string auth = as_json ? check_detail(parse_json(doctor), "auth") : line_starting(doctor.out, "OK    auth");
    EXPECT_TRUE(contains(auth, "basic auth as 'bob' from the tracking URI")) << doctor.out;
    EXPECT_FALSE(contains(doctor.out, "unencrypted")) << doctor.out;
    EXPECT_FALSE(contains(doctor.out + doctor.err, password)) << describe(doctor);
  }
}

// ---------------------------------------------------------------------------------------------------
// The command line itself: help, version, usage errors.
// ---------------------------------------------------------------------------------------------------
TEST(Cli, VersionPrintsNameAndVersion) {
  auto version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0) << describe(version);
  EXPECT_TRUE(std::regex_match(version.out, std::regex("mlflow-cpp [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << version.out;
}

TEST(Cli, HelpOnEveryCommand) {
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"experiments"},
      {"experiments", "list"},
      {"experiments", "create"},
      {"experiments", "delete"},
      {"experiments", "restore"},
      {"runs"},
      {"runs", "list"},
      {"runs", "show"},
      {"runs", "delete"},
      {"runs", "restore"},
      {"metrics"},
      {"metrics", "history"},
      {"status"},
      {"sync"},
      {"doctor"},
  };
  for (auto args : commands) {
    args.push_back("--help");
    auto help = run_cli(args);
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    EXPECT_EQ(help.exit_code, 0) << joined << describe(help);
    EXPECT_TRUE(contains(help.out, "Usage:") || contains(help.out, "usage:")) << joined << help.out;
  }
  auto top = run_cli({"--help"});
  for (const char* command : {"experiments", "runs", "metrics", "status", "sync", "doctor", "--tracking-uri", "--json"})
    EXPECT_TRUE(contains(top.out, command)) << command << " missing from\n" << top.out;
  auto runs_list = run_cli({"runs", "list", "--help"});
  for (const char* option : {"--experiment", "--filter", "--order-by", "--max"})
    EXPECT_TRUE(contains(runs_list.out, option)) << option << " missing from\n" << runs_list.out;
}

TEST(Cli, UsageErrorsExitWithTwo) {
  const std::vector<std::vector<std::string>> mistakes = {
      {},                                        // no command
      {"experiments"},                           // no subcommand
      {"runs", "show"},                          // missing RUN_ID
      {"metrics", "history", "abc"},             // missing KEY
      {"runs", "list", "--no-such-option"},      // unknown option
      {"experiments", "list", "--view", "old"},  // not a choice
      {"runs", "list", "--max", "many"},         // not a number
      {"bogus"},                                 // unknown command
  };
  for (const auto& args : mistakes) {
    auto result = run_cli(args);
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    EXPECT_EQ(result.exit_code, 2) << joined << describe(result);
    EXPECT_FALSE(result.err.empty()) << joined;
  }
}

}  // namespace
