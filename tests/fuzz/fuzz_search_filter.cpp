// MLflow's search syntax (storage/search.hpp): run and experiment filters, order_by clauses and page tokens.
// Any text parses or fails with MlflowError; what parses can be evaluated and sorted by without crashing.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "storage/search.hpp"

using namespace mlflow;
using mlflow::fuzz::check;
using mlflow::fuzz::clean;

namespace {

Run sample_run(int i) {
  Run run;
  run.info.run_id = "0123456789abcdef0123456789abcde" + std::to_string(i % 10);
  run.info.run_name = i == 0 ? "brave-fox-1" : "caf\xc3\xa9 %_run";
  run.info.experiment_id = "1";
  run.info.user_id = "alice";
  run.info.status = i == 0 ? RunStatus::RUNNING : RunStatus::FINISHED;
  run.info.start_time = 1700000000000 + i;
  if (i != 0) run.info.end_time = 1700000000500;
  run.info.artifact_uri = "/tmp/mlruns/1/x/artifacts";
  run.data.metrics = {{"loss", i == 0 ? std::numeric_limits<double>::quiet_NaN() : 0.25, 1, 2},
                      {"acc", i == 0 ? 0.5 : std::numeric_limits<double>::infinity(), 1, 2}};
  run.data.params = {{"lr", "0.01"}, {"act", i == 0 ? "relu" : "tanh"}};
  run.data.tags = {{"mlflow.runName", run.info.run_name}, {"k y", "v"}};
  return run;
}

Experiment sample_experiment(int i) {
  Experiment e;
  e.experiment_id = std::to_string(i);
  e.name = i == 0 ? "Default" : "exp%_1";
  e.creation_time = 1700000000000 - i;
  e.last_update_time = 1700000000000;
  e.tags = {{"team", "a"}};
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  clean("parse_run_filter", [&] {
    const auto filter = search::parse_run_filter(text);
    for (int i = 0; i < 2; ++i) search::matches(sample_run(i), filter);
  });
  clean("parse_experiment_filter", [&] {
    const auto filter = search::parse_experiment_filter(text);
    for (int i = 0; i < 2; ++i) search::matches(sample_experiment(i), filter);
  });

  // The same text as a list of order_by clauses, one per line.
  std::vector<std::string> clauses;
  std::size_t pos = 0;
  while (pos <= text.size() && clauses.size() < 8) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    clauses.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  clean("parse_order_by", [&] {
    const auto order = search::parse_order_by(clauses);
    std::vector<Run> runs = {sample_run(0), sample_run(1), sample_run(2)};
    clean("sort_runs", [&] { search::sort_runs(runs, order); });
    check(runs.size() == 3, "sort_runs lost runs");
  });
  clean("parse_experiment_order_by", [&] {
    const auto order = search::parse_experiment_order_by(clauses);
    std::vector<Experiment> experiments = {sample_experiment(0), sample_experiment(1), sample_experiment(2)};
    clean("sort_experiments", [&] { search::sort_experiments(experiments, order); });
    check(experiments.size() == 3, "sort_experiments lost experiments");
  });

  clean("decode_page_token", [&] {
    const std::int64_t offset = search::decode_page_token(text);
    check(offset >= 0, "a page token decoded to a negative offset");
    check(search::decode_page_token(search::encode_page_token(offset)) == offset, "page token round trip");
    search::paginate(std::vector<int>{1, 2, 3}, 2, text);
  });
  return 0;
}
