// The four video experiment programs, run as real child processes into a fresh SQLite file, checked
// against what the Python script printed and logged (tests/data/seed-reference.json); and show_runs
// reading the runs back.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/entities.hpp"
#include "mlflow/fluent.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

using mlflow::test::TempDir;

/// The MLflow-format file the programs log into, inside `dir`.
std::string tracking_uri(const TempDir& dir) { return "sqlite:///" + dir.file("mlflow.db"); }

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `program` with cwd `dir` and MLFLOW_TRACKING_URI set to the file in `dir`; the MLflow
/// variables that would change which experiment or run is used are removed from its environment.
ProcessResult run_program(const std::string& program, const TempDir& dir) {
  const fs::path out_path = dir.path() / (fs::path(program).filename().string() + ".stdout");
  const fs::path err_path = dir.path() / (fs::path(program).filename().string() + ".stderr");
  const std::string uri = tracking_uri(dir);
  // Everything that allocates happens before fork: the child only makes async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view var(*entry);
    const std::string_view name = var.substr(0, var.find('='));
    if (name == "MLFLOW_TRACKING_URI" || name == "MLFLOW_EXPERIMENT_NAME" || name == "MLFLOW_EXPERIMENT_ID" ||
        name == "MLFLOW_RUN_ID")
      continue;
    env_strings.emplace_back(var);
  }
  env_strings.push_back("MLFLOW_TRACKING_URI=" + uri);
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string program_path = program;
  char* argv[] = {program_path.data(), nullptr};

  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(126);
    if (::chdir(dir.path().c_str()) != 0) ::_exit(126);
    ::execve(program_path.c_str(), argv, envp.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
  }
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return result;
}

std::string bin(const std::string& program) { return std::string(MLFLOW_BIN_DIR) + "/" + program; }

/// One run of seed-reference.json.
struct ReferenceRun {
  std::string experiment;
  std::map<std::string, std::string> params;
  std::map<std::string, double> metrics;
  std::vector<std::string> stdout_lines;
};

/// The exact double a number token of the reference stands for. Boost.JSON 1.81 does not promise
/// correctly rounded doubles, so the number's own text is read with std::from_chars. Metric keys
/// appear once each in the file.
double exact_number(const std::string& text, const std::string& key) {
  const std::regex pattern("\"" + key + "\"\\s*:\\s*(-?[0-9][0-9.eE+-]*)");
  auto begin = std::sregex_iterator(text.begin(), text.end(), pattern);
  if (std::distance(begin, std::sregex_iterator()) != 1)
    throw std::runtime_error("metric key " + key + " must appear exactly once in the reference");
  const std::string number = (*begin)[1].str();
  double value = 0.0;
  const auto result = std::from_chars(number.data(), number.data() + number.size(), value);
  if (result.ec != std::errc{} || result.ptr != number.data() + number.size())
    throw std::runtime_error("bad number " + number);
  return value;
}

const std::vector<ReferenceRun>& reference_runs() {
  static const std::vector<ReferenceRun> runs = [] {
    const std::string text = read_file(fs::path(MLFLOW_TEST_DATA_DIR) / "seed-reference.json");
    const json::value root = json::parse(text);
    std::vector<ReferenceRun> out;
    for (const json::value& run : root.at("runs").as_array()) {
      ReferenceRun r;
      r.experiment = json::value_to<std::string>(run.at("experiment"));
      for (const auto& [key, value] : run.at("params").as_object())
        r.params[std::string(key)] = json::value_to<std::string>(value);
      for (const auto& [key, value] : run.at("metrics").as_object()) {
        if (!value.is_number()) throw std::runtime_error("reference metric " + std::string(key) + " is not a number");
        r.metrics[std::string(key)] = exact_number(text, std::string(key));
      }
      for (const json::value& line : run.at("stdout").as_array()) r.stdout_lines.push_back(json::value_to<std::string>(line));
      out.push_back(std::move(r));
    }
    return out;
  }();
  return runs;
}

const ReferenceRun& reference_for(const std::string& experiment) {
  for (const ReferenceRun& run : reference_runs())
    if (run.experiment == experiment) return run;
  throw std::runtime_error("no reference run for " + experiment);
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

/// Runs one program into a fresh file and checks its stdout and its logged run against the reference.
void check_program(const std::string& program, const std::string& experiment_name) {
  const ReferenceRun& reference = reference_for(experiment_name);
  TempDir dir;
  const ProcessResult result = run_program(bin(program), dir);
  ASSERT_EQ(result.exit_code, 0) << program << " stderr:\n" << result.err;
  EXPECT_EQ(result.out, joined_lines(reference.stdout_lines));

  mlflow::MlflowClient client(tracking_uri(dir));
  const std::optional<mlflow::Experiment> experiment = client.get_experiment_by_name(experiment_name);
  ASSERT_TRUE(experiment.has_value()) << "no experiment named " << experiment_name;
  EXPECT_EQ(experiment->name, experiment_name);
  const auto runs = client.search_runs({experiment->experiment_id}, "", mlflow::ViewType::ALL, 10);
  ASSERT_EQ(runs.items.size(), 1u);
  const mlflow::Run& run = runs.items.front();

  EXPECT_EQ(run.info.status, mlflow::RunStatus::FINISHED);
  EXPECT_EQ(run.info.lifecycle_stage, "active");
  ASSERT_TRUE(run.info.end_time.has_value());
  EXPECT_GE(*run.info.end_time, run.info.start_time);

  std::map<std::string, std::string> params;
  for (const mlflow::Param& param : run.data.params) params[param.key] = param.value;
  EXPECT_EQ(params, reference.params);

  std::map<std::string, double> metrics;
  for (const mlflow::Metric& metric : run.data.metrics) {
    metrics[metric.key] = metric.value;
    EXPECT_EQ(metric.step, 0) << metric.key;
    EXPECT_EQ(client.get_metric_history(run.info.run_id, metric.key).size(), 1u) << metric.key;
  }
  ASSERT_EQ(metrics.size(), reference.metrics.size());
  for (const auto& [key, expected] : reference.metrics) {
    ASSERT_EQ(metrics.count(key), 1u) << "missing metric " << key;
    // Bit-exact, not approximately equal: the programs must compute as numpy does.
    EXPECT_EQ(metrics.at(key), expected) << key << ": got " << mlflow::python_float_repr(metrics.at(key))
                                          << ", want " << mlflow::python_float_repr(expected);
  }

  for (const char* key : {"mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.runName"}) {
    const mlflow::RunTag* tag = run.data.tag(key);
    ASSERT_NE(tag, nullptr) << "missing system tag " << key;
    EXPECT_FALSE(tag->value.empty()) << key;
  }
  EXPECT_EQ(run.data.tag("mlflow.runName")->value, run.info.run_name);
  EXPECT_EQ(run.data.tag("mlflow.source.type")->value, "LOCAL");
}

}  // namespace

TEST(Experiments, referenceHoldsTheFourRuns) {
  ASSERT_EQ(reference_runs().size(), 4u);
  EXPECT_EQ(reference_for("Backpropagation").metrics.at("initial_error"), 0.32005);
  EXPECT_EQ(reference_for("Funções de Ativação - Sigmóide").metrics.at("sigmoid_derivative"), 0.21440795549432123);
}

TEST(Experiments, sigmoidLogsTheReferenceRun) { check_program("sigmoid", "Funções de Ativação - Sigmóide"); }

TEST(Experiments, tanhLogsTheReferenceRun) { check_program("tanh", "Funções de Ativação - Tanh"); }

TEST(Experiments, reluLogsTheReferenceRun) { check_program("relu", "Funções de Ativação - ReLU"); }

TEST(Experiments, backpropLogsTheReferenceRun) { check_program("backprop", "Backpropagation"); }

TEST(Experiments, showRunsPrintsTheLatestRunOfEachExperiment) {
  TempDir dir;
  for (const char* program : {"sigmoid", "tanh", "relu", "backprop"}) {
    const ProcessResult result = run_program(bin(program), dir);
    ASSERT_EQ(result.exit_code, 0) << program << " stderr:\n" << result.err;
  }
  mlflow::MlflowClient client(tracking_uri(dir));
  const std::string sigmoid_id = client.get_experiment_by_name("Funções de Ativação - Sigmóide")->experiment_id;
  const std::string first_run = client.search_runs({sigmoid_id}).items.at(0).info.run_id;
  const std::int64_t first_start = client.get_run(first_run).info.start_time;
  // A second sigmoid run must start in a later millisecond for "latest" to be well defined.
  while (mlflow::now_ms() <= first_start) ::usleep(1000);
  ASSERT_EQ(run_program(bin("sigmoid"), dir).exit_code, 0);
  const auto sigmoid_runs = client.search_runs({sigmoid_id}).items;
  ASSERT_EQ(sigmoid_runs.size(), 2u);
  const std::string latest_run = sigmoid_runs[0].info.run_id == first_run ? sigmoid_runs[1].info.run_id
                                                                          : sigmoid_runs[0].info.run_id;

  const ProcessResult shown = run_program(bin("show_runs"), dir);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find(tracking_uri(dir)), std::string::npos);
  EXPECT_NE(shown.out.find(latest_run), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find(first_run), std::string::npos) << shown.out;
  for (const ReferenceRun& reference : reference_runs()) {
    EXPECT_NE(shown.out.find(reference.experiment), std::string::npos) << reference.experiment;
    for (const auto& [key, value] : reference.params) EXPECT_NE(shown.out.find(value), std::string::npos) << key;
    for (const auto& [key, value] : reference.metrics) EXPECT_NE(shown.out.find(key), std::string::npos) << key;
  }
  // Metrics in full precision, as Python's repr prints them.
  for (const char* text : {"0.21440795549432123", "0.6133162277426841", "0.3333333333333333", "0.32005", "FINISHED"})
    EXPECT_NE(shown.out.find(text), std::string::npos) << text;
}

TEST(Experiments, showRunsFailsClearlyWhenNothingWasLogged) {
  TempDir dir;
  const ProcessResult shown = run_program(bin("show_runs"), dir);
  EXPECT_EQ(shown.exit_code, 1);
  EXPECT_NE(shown.out.find("(experiment not found)"), std::string::npos) << shown.out;
  EXPECT_NE(shown.err.find("run the programs"), std::string::npos) << shown.err;
}
