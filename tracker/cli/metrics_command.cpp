// mlflow-cpp metrics history RUN_ID KEY

#include <unistd.h>

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "tracker/cli/commands.hpp"
#include "tracker/cli/output.hpp"

namespace mlflow::cli {

namespace json = boost::json;

namespace {

struct HistoryOptions {
  std::string run_id;
  std::string key;
  bool chart = false;
  bool no_chart = false;
};

void print_history(CliContext& ctx, const HistoryOptions& options) {
  auto& client = ctx.client();
  const std::vector<Metric> history = client.get_metric_history(options.run_id, options.key);
  if (history.empty()) {
    // An unknown run already threw; tell apart "no such metric" from "no such run" for the user.
    const Run run = client.get_run(options.run_id);
    std::string known;
    for (const auto& metric : run.data.metrics) known += (known.empty() ? "" : ", ") + metric.key;
    throw MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST,
                      "Run " + options.run_id + " has no metric '" + options.key + "'. Its metrics: " +
                          (known.empty() ? "(none)" : known));
  }
  if (ctx.json) {
    json::array array;
    for (const auto& metric : history) array.push_back(to_json(metric));
    write_json(std::cout, json::object{{"metrics", std::move(array)}});
    return;
  }
  Table table({"STEP", "TIMESTAMP", "VALUE"});
  table.align_right(0);
  table.align_right(2);
  for (const auto& metric : history)
    table.add_row({std::to_string(metric.step), format_time_ms(metric.timestamp), format_double(metric.value)});
  table.print(std::cout);

  // The chart is for people; a pipe or file gets the table only unless asked.
  const bool chart = !options.no_chart && (options.chart || isatty(STDOUT_FILENO) == 1);
  if (chart) {
    const std::string plot = render_chart(history);
    if (!plot.empty()) std::cout << '\n' << options.key << '\n' << plot;
  }
}

}  // namespace

void add_metrics_command(CLI::App& app, CliContext& ctx) {
  auto* group = app.add_subcommand("metrics", "Look at a run's metrics");
  group->require_subcommand(1);

  auto options = std::make_shared<HistoryOptions>();
  auto* history = group->add_subcommand(
      "history", "Every logged point of one metric: step, timestamp, value (and a chart on a terminal)");
  history->add_option("RUN_ID", options->run_id, "Run id")->required();
  history->add_option("KEY", options->key, "Metric key")->required();
  auto* chart = history->add_flag("--chart", options->chart, "Draw the chart even when stdout is not a terminal");
  auto* no_chart = history->add_flag("--no-chart", options->no_chart, "Never draw the chart");
  chart->excludes(no_chart);
  history->callback([&ctx, options] { print_history(ctx, *options); });
}

}  // namespace mlflow::cli
