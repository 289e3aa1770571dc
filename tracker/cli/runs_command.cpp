// mlflow-cpp runs list|show|delete|restore

#include <algorithm>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "tracker/cli/commands.hpp"
#include "tracker/cli/output.hpp"

namespace mlflow::cli {

namespace json = boost::json;

namespace {

struct ListOptions {
  std::vector<std::string> experiments;
  std::string filter;
  std::vector<std::string> order_by;
  std::int64_t max = 0;
  std::string view = "active";
};

void list_runs(CliContext& ctx, const ListOptions& options) {
  auto& client = ctx.client();
  std::vector<std::string> experiment_ids;
  if (options.experiments.empty()) {
    // Like the MLflow UI: runs of every active experiment.
    auto experiments = collect_pages<Experiment>(0, [&](std::int64_t page_size, const std::string& token) {
      return client.search_experiments(ViewType::ACTIVE_ONLY, page_size, "", {}, token);
    });
    for (const auto& experiment : experiments) experiment_ids.push_back(experiment.experiment_id);
  } else {
    for (const auto& ref : options.experiments) experiment_ids.push_back(resolve_experiment(ctx, ref).experiment_id);
  }

  std::vector<Run> runs;
  if (!experiment_ids.empty()) {
    const ViewType view = view_from_flag(options.view);
    runs = collect_pages<Run>(options.max, [&](std::int64_t page_size, const std::string& token) {
      return client.search_runs(experiment_ids, options.filter, view, page_size, options.order_by, token);
    });
  }

  if (ctx.json) {
    json::array array;
    for (const auto& run : runs) array.push_back(to_json(run));
    write_json(std::cout, json::object{{"runs", std::move(array)}});
    return;
  }
  if (runs.empty()) {
    std::cout << "No runs.\n";
    return;
  }
  const bool show_stage = options.view != "active";
  std::vector<std::string> headers{"RUN ID", "NAME", "EXPERIMENT", "STATUS"};
  if (show_stage) headers.push_back("STAGE");
  headers.insert(headers.end(), {"STARTED", "DURATION"});
  Table table(headers);
  table.align_right(2);
  table.align_right(headers.size() - 1);
  for (const auto& run : runs) {
    std::vector<std::string> row{run.info.run_id, run.info.run_name, run.info.experiment_id,
                                 std::string(to_string(run.info.status))};
    if (show_stage) row.push_back(run.info.lifecycle_stage);
    row.push_back(format_time_ms(run.info.start_time));
    row.push_back(format_duration_ms(run.info.start_time, run.info.end_time.value_or(0)));
    table.add_row(std::move(row));
  }
  table.print(std::cout);
}

template <typename T>
std::vector<T> sorted_by_key(std::vector<T> items) {
  std::sort(items.begin(), items.end(), [](const T& a, const T& b) { return a.key < b.key; });
  return items;
}

void show_run(CliContext& ctx, const std::string& run_id) {
  const Run run = ctx.client().get_run(run_id);
  if (ctx.json) {
    write_json(std::cout, json::object{{"run", to_json(run)}});
    return;
  }
  const RunInfo& info = run.info;
  std::string experiment = info.experiment_id;
  try {
    experiment += " (" + ctx.client().get_experiment(info.experiment_id).name + ")";
  } catch (const MlflowError&) {
    // The run is what was asked for; its experiment's name is a nicety.
  }
  Table summary({"FIELD", "VALUE"});
  summary.add_row({"run id:", info.run_id});
  summary.add_row({"name:", info.run_name});
  summary.add_row({"experiment:", experiment});
  summary.add_row({"status:", std::string(to_string(info.status))});
  summary.add_row({"lifecycle:", info.lifecycle_stage});
  summary.add_row({"user:", info.user_id});
  summary.add_row({"started:", format_time_ms(info.start_time)});
  summary.add_row({"ended:", info.end_time ? format_time_ms(*info.end_time) : "-"});
  summary.add_row({"duration:", format_duration_ms(info.start_time, info.end_time.value_or(0))});
  summary.add_row({"artifact uri:", info.artifact_uri});
  summary.print(std::cout, false);

  std::cout << "\nParams (" << run.data.params.size() << ")\n";
  if (!run.data.params.empty()) {
    Table params({"KEY", "VALUE"});
    for (const auto& param : sorted_by_key(run.data.params)) params.add_row({param.key, param.value});
    params.print(std::cout);
  }
  std::cout << "\nMetrics (" << run.data.metrics.size() << ", latest value per key)\n";
  if (!run.data.metrics.empty()) {
    Table metrics({"KEY", "VALUE", "STEP", "TIMESTAMP"});
    metrics.align_right(1);
    metrics.align_right(2);
    for (const auto& metric : sorted_by_key(run.data.metrics))
      metrics.add_row({metric.key, format_double(metric.value), std::to_string(metric.step),
                       format_time_ms(metric.timestamp)});
    metrics.print(std::cout);
  }
  std::cout << "\nTags (" << run.data.tags.size() << ")\n";
  if (!run.data.tags.empty()) {
    Table tags({"KEY", "VALUE"});
    for (const auto& tag : sorted_by_key(run.data.tags)) tags.add_row({tag.key, tag.value});
    tags.print(std::cout);
  }
}

}  // namespace

void add_runs_command(CLI::App& app, CliContext& ctx) {
  auto* group = app.add_subcommand("runs", "List, show, delete and restore runs");
  group->require_subcommand(1);

  auto list_options = std::make_shared<ListOptions>();
  auto* list = group->add_subcommand("list", "List runs, newest first (a table, or JSON with --json)");
  list->add_option("--experiment,-e", list_options->experiments,
                   "Experiment id or name (repeatable; default: every active experiment)");
  list->add_option("--filter", list_options->filter,
                   "MLflow filter, e.g. \"metrics.loss < 0.1 AND params.lr = '0.01'\"");
  list->add_option("--order-by", list_options->order_by,
                   "Sort keys, e.g. \"metrics.loss ASC\" (repeatable; default: start_time DESC)");
  list->add_option("--max", list_options->max, "At most N runs (default: all)")->check(CLI::NonNegativeNumber);
  list->add_option("--view", list_options->view, "Which runs: active, deleted or all")
      ->check(CLI::IsMember({"active", "deleted", "all"}))
      ->capture_default_str();
  list->callback([&ctx, list_options] { list_runs(ctx, *list_options); });

  auto show_id = std::make_shared<std::string>();
  auto* show = group->add_subcommand("show", "Show a run: info, params, latest metrics, tags");
  show->add_option("RUN_ID", *show_id, "Run id")->required();
  show->callback([&ctx, show_id] { show_run(ctx, *show_id); });

  auto add_lifecycle = [&](const char* name, const char* help, bool restore) {
    auto run_id = std::make_shared<std::string>();
    auto* command = group->add_subcommand(name, help);
    command->add_option("RUN_ID", *run_id, "Run id")->required();
    command->callback([&ctx, run_id, restore] {
      if (restore) {
        ctx.client().restore_run(*run_id);
      } else {
        ctx.client().delete_run(*run_id);
      }
      const RunInfo info = ctx.client().get_run(*run_id).info;
      if (ctx.json) {
        write_json(std::cout, json::object{{"run_id", info.run_id}, {"lifecycle_stage", info.lifecycle_stage}});
      } else {
        std::cout << (restore ? "Restored" : "Deleted") << " run " << info.run_id << " (" << info.run_name << ")\n";
      }
    });
  };
  add_lifecycle("delete", "Mark a run deleted (restore undoes it)", false);
  add_lifecycle("restore", "Restore a deleted run", true);
}

}  // namespace mlflow::cli
