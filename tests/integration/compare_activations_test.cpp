// The compare_activations program run as a real child process into a fresh SQLite store: one parent and three
// child runs, a metric point per epoch, PNG plots and weights where MLflow looks for artifacts, curves that tell
// the activations apart, and the same numbers on a second run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/entities.hpp"
#include "support/test_env.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace {

constexpr const char* kExperiment = "Comparação de Ativações";
constexpr int kEpochs = 500;  // the program's default, what ./run.sh logs

using mlflow::test::read_file;
using mlflow::test::TempDir;

/// The MLflow-format file the program logs into, inside `dir`.
std::string tracking_uri(const TempDir& dir) { return "sqlite:///" + dir.file("mlflow.db"); }

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the program in `dir` (its mlruns/ artifact root lands there) with MLFLOW_TRACKING_URI set to the file in
/// `dir` and no other MLFLOW_ variable that could pick another experiment or run.
ProcessResult run_program(const TempDir& dir) {
  const std::string program = std::string(MLFLOW_BIN_DIR) + "/compare_activations";
  const fs::path out_path = dir.path() / "stdout.txt";
  const fs::path err_path = dir.path() / "stderr.txt";
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::string_view(*entry).rfind("MLFLOW_", 0) != 0) env_strings.emplace_back(*entry);
  }
  env_strings.push_back("MLFLOW_TRACKING_URI=" + tracking_uri(dir));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv{const_cast<char*>(program.c_str()), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, dir.path().c_str());
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ProcessResult result;
  if (rc != 0) {
    result.err = "posix_spawn failed: " + std::string(std::strerror(rc));
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

std::string tag(const mlflow::Run& run, std::string_view key) {
  const auto* t = run.data.tag(key);
  return t == nullptr ? std::string() : t->value;
}

std::string param(const mlflow::Run& run, std::string_view key) {
  const auto* p = run.data.param(key);
  return p == nullptr ? std::string() : p->value;
}

struct Logged {
  mlflow::Run parent;
  std::map<std::string, mlflow::Run> children;  // by activation
  std::map<std::string, std::vector<mlflow::Metric>> loss;
  std::map<std::string, std::vector<mlflow::Metric>> accuracy;
};

Logged read_store(const TempDir& dir) {
  mlflow::MlflowClient client(tracking_uri(dir));
  Logged logged;
  const auto experiment = client.get_experiment_by_name(kExperiment);
  if (!experiment) throw std::runtime_error("no experiment named " + std::string(kExperiment));
  const auto runs = client.search_runs({experiment->experiment_id}).items;
  for (const auto& run : runs) {
    if (tag(run, "mlflow.parentRunId").empty()) {
      logged.parent = run;
    } else {
      logged.children[param(run, "activation")] = run;
    }
  }
  for (const auto& [name, run] : logged.children) {
    logged.loss[name] = client.get_metric_history(run.info.run_id, "loss");
    logged.accuracy[name] = client.get_metric_history(run.info.run_id, "accuracy");
  }
  return logged;
}

bool is_png(const fs::path& path) {
  const std::string bytes = read_file(path);
  return bytes.size() > 64 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

std::vector<std::pair<std::int64_t, double>> points(const std::vector<mlflow::Metric>& history) {
  std::vector<std::pair<std::int64_t, double>> out;
  for (const auto& m : history) out.emplace_back(m.step, m.value);
  std::sort(out.begin(), out.end());
  return out;
}

class CompareActivations : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    first_ = new TempDir();
    second_ = new TempDir();
    first_result_ = new ProcessResult(run_program(*first_));
    second_result_ = new ProcessResult(run_program(*second_));
  }
  static void TearDownTestSuite() {
    delete first_result_;
    delete second_result_;
    delete first_;
    delete second_;
  }
  void SetUp() override {
    ASSERT_EQ(first_result_->exit_code, 0) << first_result_->out << first_result_->err;
    ASSERT_EQ(second_result_->exit_code, 0) << second_result_->out << second_result_->err;
  }
  static TempDir* first_;
  static TempDir* second_;
  static ProcessResult* first_result_;
  static ProcessResult* second_result_;
};

TempDir* CompareActivations::first_ = nullptr;
TempDir* CompareActivations::second_ = nullptr;
ProcessResult* CompareActivations::first_result_ = nullptr;
ProcessResult* CompareActivations::second_result_ = nullptr;

}  // namespace

TEST_F(CompareActivations, logsOneParentAndThreeNestedChildRuns) {
  const Logged logged = read_store(*first_);
  EXPECT_EQ(logged.parent.info.run_name, "compare_activations");
  EXPECT_EQ(logged.parent.info.status, mlflow::RunStatus::FINISHED);
  ASSERT_EQ(logged.children.size(), 3u);
  for (const std::string name : {"sigmoid", "tanh", "relu"}) {
    ASSERT_EQ(logged.children.count(name), 1u) << name;
    const mlflow::Run& child = logged.children.at(name);
    EXPECT_EQ(tag(child, "mlflow.parentRunId"), logged.parent.info.run_id) << name;
    EXPECT_EQ(child.info.run_name, name);
    EXPECT_EQ(child.info.status, mlflow::RunStatus::FINISHED);
    EXPECT_EQ(param(child, "learning_rate"), "1.0");
    EXPECT_EQ(param(child, "epochs"), std::to_string(kEpochs));
    EXPECT_EQ(param(child, "hidden_units"), "8");
    EXPECT_EQ(param(child, "seed"), "42");
  }
  EXPECT_EQ(tag(logged.parent, "best_activation"), "relu");
}

TEST_F(CompareActivations, everyEpochIsAMetricPoint) {
  const Logged logged = read_store(*first_);
  for (const auto& [name, child] : logged.children) {
    const auto loss = points(logged.loss.at(name));
    const auto accuracy = points(logged.accuracy.at(name));
    ASSERT_EQ(loss.size(), static_cast<std::size_t>(kEpochs)) << name;
    ASSERT_EQ(accuracy.size(), static_cast<std::size_t>(kEpochs)) << name;
    for (int e = 0; e < kEpochs; ++e) {
      EXPECT_EQ(loss[static_cast<std::size_t>(e)].first, e + 1) << name;
      EXPECT_EQ(accuracy[static_cast<std::size_t>(e)].first, e + 1) << name;
    }
    const auto* final_loss = child.data.metric("final_loss");
    ASSERT_NE(final_loss, nullptr) << name;
    EXPECT_EQ(final_loss->value, loss.back().second);
    // The latest loss the run shows is the last epoch's.
    ASSERT_NE(child.data.metric("loss"), nullptr);
    EXPECT_EQ(child.data.metric("loss")->step, kEpochs);
  }
}

TEST_F(CompareActivations, theCurvesTellTheActivationsApart) {
  const Logged logged = read_store(*first_);
  const double sigmoid = points(logged.loss.at("sigmoid")).back().second;
  const double tanh = points(logged.loss.at("tanh")).back().second;
  const double relu = points(logged.loss.at("relu")).back().second;
  // Saturating sigmoid units stay near a linear boundary; tanh and ReLU bend it around the moons.
  EXPECT_GT(sigmoid, 2.0 * tanh);
  EXPECT_GT(sigmoid, 2.0 * relu);
  EXPECT_NE(tanh, relu);
  EXPECT_GT(points(logged.accuracy.at("relu")).back().second, points(logged.accuracy.at("sigmoid")).back().second);
  // Every loss curve goes down overall.
  for (const auto& [name, history] : logged.loss) {
    const auto p = points(history);
    EXPECT_LT(p.back().second, p.front().second) << name;
  }
}

TEST_F(CompareActivations, artifactsLandWhereMlflowLooks) {
  const Logged logged = read_store(*first_);
  // MLflow's client default artifact root for a sqlite store: <cwd>/mlruns/<experiment>/<run>/artifacts.
  const fs::path parent_root = logged.parent.info.artifact_uri;
  EXPECT_EQ(parent_root,
            first_->path() / "mlruns" / logged.parent.info.experiment_id / logged.parent.info.run_id / "artifacts");
  EXPECT_TRUE(is_png(parent_root / "plots" / "loss_curves.png"));
  EXPECT_TRUE(is_png(parent_root / "plots" / "activations.png"));
  const std::string summary = read_file(parent_root / "summary.csv");
  EXPECT_EQ(summary.rfind("activation,final_loss,final_accuracy", 0), 0u) << summary;
  for (const auto& [name, child] : logged.children) {
    const fs::path root = child.info.artifact_uri;
    EXPECT_TRUE(is_png(root / "plots" / "loss_curves.png")) << name;
    EXPECT_TRUE(is_png(root / "plots" / "activations.png")) << name;
    for (const char* file : {"w1.csv", "b1.csv", "w2.csv", "b2.csv"}) {
      EXPECT_TRUE(fs::is_regular_file(root / "weights" / file)) << name << " " << file;
    }
    // 2 inputs x 8 hidden units.
    const std::string w1 = read_file(root / "weights" / "w1.csv");
    EXPECT_EQ(std::count(w1.begin(), w1.end(), '\n'), 2) << w1;
    EXPECT_EQ(std::count(w1.begin(), w1.end(), ','), 2 * 7) << w1;
  }
  // The client lists them as MLflow's list_artifacts would.
  mlflow::MlflowClient client(tracking_uri(*first_));
  const auto listed = client.list_artifacts(logged.children.at("tanh").info.run_id);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].path, "plots");
  EXPECT_EQ(listed[1].path, "weights");
}

TEST_F(CompareActivations, sameSeedSameNumbers) {
  const Logged a = read_store(*first_);
  const Logged b = read_store(*second_);
  for (const std::string name : {"sigmoid", "tanh", "relu"}) {
    EXPECT_EQ(points(a.loss.at(name)), points(b.loss.at(name))) << name;
    EXPECT_EQ(points(a.accuracy.at(name)), points(b.accuracy.at(name))) << name;
    for (const char* file : {"w1.csv", "b1.csv", "w2.csv", "b2.csv"}) {
      EXPECT_EQ(read_file(fs::path(a.children.at(name).info.artifact_uri) / "weights" / file),
                read_file(fs::path(b.children.at(name).info.artifact_uri) / "weights" / file))
          << name << " " << file;
    }
  }
}

TEST_F(CompareActivations, printsASummaryTable) {
  const std::string& out = first_result_->out;
  for (const char* name : {"sigmoid", "tanh", "relu"}) EXPECT_NE(out.find(name), std::string::npos) << out;
  EXPECT_NE(out.find("perda final"), std::string::npos) << out;
  EXPECT_EQ(first_result_->err, "");
}
