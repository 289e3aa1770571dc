// Reads back, from the current tracking URI, the latest run of each of the four video experiments and
// prints it as a table: the check at the end of ./run.sh that what was logged is in the store.
#include <algorithm>
#include <cstddef>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/python_format.hpp"
#include "mlflow/client.hpp"
#include "mlflow/entities.hpp"

namespace {

constexpr std::string_view kExperiments[] = {
    "Funções de Ativação - Sigmóide",
    "Funções de Ativação - Tanh",
    "Funções de Ativação - ReLU",
    "Backpropagation",
};

// Width on a terminal: UTF-8 continuation bytes take no column.
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

using Row = std::vector<std::string>;

void print_table(const Row& header, const std::vector<Row>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto widen = [&](const Row& row) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  };
  widen(header);
  for (const Row& row : rows) widen(row);
  auto print_row = [&](const Row& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - display_width(row[i]) + 2, ' ');
    }
    std::cout << line << '\n';
  };
  print_row(header);
  Row rule;
  for (std::size_t w : widths) rule.push_back(std::string(w, '-'));
  print_row(rule);
  for (const Row& row : rows) print_row(row);
}

// One table row per param and per metric; the run's own columns only on its first row.
void add_run_rows(const std::string& experiment, const mlflow::Run& run, std::vector<Row>& rows) {
  std::vector<mlflow::Param> params = run.data.params;
  std::vector<mlflow::Metric> metrics = run.data.metrics;
  std::sort(params.begin(), params.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  std::sort(metrics.begin(), metrics.end(), [](const auto& a, const auto& b) { return a.key < b.key; });

  std::vector<Row> values;
  for (const auto& param : params) values.push_back({"param", param.key, param.value});
  for (const auto& metric : metrics)
    values.push_back({"metric", metric.key, mlflow::experiments::python_str(metric.value)});
  if (values.empty()) values.push_back({"", "", ""});

  for (std::size_t i = 0; i < values.size(); ++i) {
    Row row;
    if (i == 0)
      row = {experiment, run.info.run_id, run.info.run_name, std::string(mlflow::to_string(run.info.status))};
    else
      row = {"", "", "", ""};
    row.insert(row.end(), values[i].begin(), values[i].end());
    rows.push_back(std::move(row));
  }
}

}  // namespace

int main() {
  try {
    mlflow::MlflowClient client;
    std::cout << "tracking URI: " << client.tracking_uri() << "\n\n";
    std::vector<Row> rows;
    int missing = 0;
    for (std::string_view name_view : kExperiments) {
      const std::string name(name_view);
      const std::optional<mlflow::Experiment> experiment = client.get_experiment_by_name(name);
      if (!experiment) {
        rows.push_back({name, "(experiment not found)", "", "", "", "", ""});
        ++missing;
        continue;
      }
      const auto page = client.search_runs({experiment->experiment_id}, "", mlflow::ViewType::ACTIVE_ONLY, 1,
                                           {"attributes.start_time DESC"});
      if (page.items.empty()) {
        rows.push_back({name, "(no runs)", "", "", "", "", ""});
        ++missing;
        continue;
      }
      add_run_rows(name, page.items.front(), rows);
    }
    print_table({"experiment", "run id", "run name", "status", "kind", "key", "value"}, rows);
    if (missing > 0) {
      std::cerr << "show_runs: " << missing << " of the four experiments have no run in " << client.tracking_uri()
                << "; run the programs sigmoid, tanh, relu and backprop first\n";
      return 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "show_runs: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
