#include "tracker/cli/output.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <ostream>
#include <sstream>

#include <boost/json.hpp>

#include "mlflow/validation.hpp"

namespace mlflow::cli {

namespace json = boost::json;

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)), right_(headers_.size(), false) {}

void Table::align_right(std::size_t column) {
  if (column < right_.size()) right_[column] = true;
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out, bool with_header) const {
  std::vector<std::size_t> widths(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i)
      widths[i] = std::max(widths[i], validation::utf8_length(cells[i]));
  };
  if (with_header) measure(headers_);
  for (const auto& row : rows_) measure(row);

  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t pad = widths[i] - validation::utf8_length(cells[i]);
      const bool last = i + 1 == cells.size();
      if (right_[i]) line.append(pad, ' ');
      line += cells[i];
      if (!right_[i] && !last) line.append(pad, ' ');
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  if (with_header) print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string format_time_ms(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &local);
  return buffer;
}

std::string format_duration_ms(std::int64_t start_ms, std::int64_t end_ms) {
  if (start_ms <= 0 || end_ms <= 0 || end_ms < start_ms) return "-";
  const std::int64_t ms = end_ms - start_ms;
  char buffer[48];
  if (ms < 1000) {
    std::snprintf(buffer, sizeof buffer, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buffer, sizeof buffer, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3'600'000) {
    std::snprintf(buffer, sizeof buffer, "%lldm %02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>((ms / 1000) % 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldh %02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>((ms / 60'000) % 60));
  }
  return buffer;
}

namespace {

void write_indent(std::ostream& out, int depth) {
  for (int i = 0; i < depth; ++i) out << "  ";
}

void write_value(std::ostream& out, const json::value& value, int depth) {
  switch (value.kind()) {
    case json::kind::null: out << "null"; break;
    case json::kind::bool_: out << (value.get_bool() ? "true" : "false"); break;
    case json::kind::int64: out << value.get_int64(); break;
    case json::kind::uint64: out << value.get_uint64(); break;
    case json::kind::double_: {
      const double d = value.get_double();
      if (std::isnan(d)) out << "\"NaN\"";
      else if (std::isinf(d)) out << (d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      else out << format_double(d);
      break;
    }
    case json::kind::string: out << json::serialize(value); break;
    case json::kind::array: {
      const auto& array = value.get_array();
      if (array.empty()) {
        out << "[]";
        break;
      }
      out << "[\n";
      for (std::size_t i = 0; i < array.size(); ++i) {
        write_indent(out, depth + 1);
        write_value(out, array[i], depth + 1);
        out << (i + 1 < array.size() ? ",\n" : "\n");
      }
      write_indent(out, depth);
      out << ']';
      break;
    }
    case json::kind::object: {
      const auto& object = value.get_object();
      if (object.empty()) {
        out << "{}";
        break;
      }
      out << "{\n";
      std::size_t i = 0;
      for (const auto& member : object) {
        write_indent(out, depth + 1);
        out << json::serialize(json::value(member.key())) << ": ";
        write_value(out, member.value(), depth + 1);
        out << (++i < object.size() ? ",\n" : "\n");
      }
      write_indent(out, depth);
      out << '}';
      break;
    }
  }
}

}  // namespace

void write_json(std::ostream& out, const json::value& value) {
  write_value(out, value, 0);
  out << '\n';
}

json::value metric_json(double value) { return json::value(value); }

json::object to_json(const Experiment& experiment) {
  json::object object;
  object["experiment_id"] = experiment.experiment_id;
  object["name"] = experiment.name;
  object["artifact_location"] = experiment.artifact_location;
  object["lifecycle_stage"] = experiment.lifecycle_stage;
  object["creation_time"] = experiment.creation_time;
  object["last_update_time"] = experiment.last_update_time;
  json::array tags;
  for (const auto& tag : experiment.tags) tags.push_back(json::object{{"key", tag.key}, {"value", tag.value}});
  object["tags"] = std::move(tags);
  return object;
}

json::object to_json(const RunInfo& info) {
  json::object object;
  object["run_id"] = info.run_id;
  object["run_name"] = info.run_name;
  object["experiment_id"] = info.experiment_id;
  object["user_id"] = info.user_id;
  object["status"] = std::string(to_string(info.status));
  object["start_time"] = info.start_time;
  if (info.end_time) object["end_time"] = *info.end_time;
  object["artifact_uri"] = info.artifact_uri;
  object["lifecycle_stage"] = info.lifecycle_stage;
  return object;
}

json::object to_json(const Metric& metric) {
  return json::object{{"key", metric.key},
                      {"value", metric_json(metric.value)},
                      {"timestamp", metric.timestamp},
                      {"step", metric.step}};
}

json::object to_json(const Run& run) {
  json::array metrics, params, tags;
  for (const auto& metric : run.data.metrics) metrics.push_back(to_json(metric));
  for (const auto& param : run.data.params) params.push_back(json::object{{"key", param.key}, {"value", param.value}});
  for (const auto& tag : run.data.tags) tags.push_back(json::object{{"key", tag.key}, {"value", tag.value}});
  json::object data;
  data["metrics"] = std::move(metrics);
  data["params"] = std::move(params);
  data["tags"] = std::move(tags);
  json::object object;
  object["info"] = to_json(run.info);
  object["data"] = std::move(data);
  return object;
}

std::string render_chart(const std::vector<Metric>& points, int width, int height) {
  std::vector<const Metric*> finite;
  for (const auto& point : points)
    if (std::isfinite(point.value)) finite.push_back(&point);
  if (finite.size() < 2 || width < 2 || height < 2) return {};

  // When every point has the same step (metrics logged without one), plot them in logged order.
  auto [min_step, max_step] = std::minmax_element(finite.begin(), finite.end(),
                                                  [](auto* a, auto* b) { return a->step < b->step; });
  const bool by_index = (*min_step)->step == (*max_step)->step;
  const double x_lo = by_index ? 0.0 : static_cast<double>((*min_step)->step);
  const double x_hi = by_index ? static_cast<double>(finite.size() - 1) : static_cast<double>((*max_step)->step);
  auto [min_value, max_value] = std::minmax_element(finite.begin(), finite.end(),
                                                    [](auto* a, auto* b) { return a->value < b->value; });
  double y_lo = (*min_value)->value, y_hi = (*max_value)->value;
  if (y_lo == y_hi) {
    const double half = y_lo == 0.0 ? 0.5 : std::abs(y_lo) * 0.1;
    y_lo -= half;
    y_hi += half;
  }

  std::vector<std::string> grid(static_cast<std::size_t>(height), std::string(static_cast<std::size_t>(width), ' '));
  for (std::size_t i = 0; i < finite.size(); ++i) {
    const double x = by_index ? static_cast<double>(i) : static_cast<double>(finite[i]->step);
    const int column = static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * (width - 1)));
    const int row = static_cast<int>(std::lround((finite[i]->value - y_lo) / (y_hi - y_lo) * (height - 1)));
    grid[static_cast<std::size_t>(height - 1 - row)][static_cast<std::size_t>(column)] = '*';
  }

  // Four significant digits are plenty for a plot's scale; the table has the exact values.
  auto label_of = [](double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.4g", v);
    return std::string(buffer);
  };
  const std::string top = label_of(y_hi), bottom = label_of(y_lo);
  const std::size_t label_width = std::max(top.size(), bottom.size());
  std::ostringstream out;
  for (int row = 0; row < height; ++row) {
    std::string label = row == 0 ? top : row == height - 1 ? bottom : "";
    std::string line = grid[static_cast<std::size_t>(row)];
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << std::string(label_width - label.size(), ' ') << label << " |" << line << '\n';
  }
  out << std::string(label_width, ' ') << " +" << std::string(static_cast<std::size_t>(width), '-') << '\n';
  const std::string left = by_index ? "1" : std::to_string((*min_step)->step);
  const std::string right = by_index ? std::to_string(finite.size()) : std::to_string((*max_step)->step);
  const std::string axis = by_index ? "point" : "step";
  std::string x_labels = left;
  const std::size_t gap = static_cast<std::size_t>(width) > left.size() + right.size()
                              ? static_cast<std::size_t>(width) - left.size() - right.size()
                              : 1;
  x_labels += std::string(gap, ' ') + right;
  out << std::string(label_width + 2, ' ') << x_labels << "  (" << axis << ")\n";
  return out.str();
}

}  // namespace mlflow::cli
