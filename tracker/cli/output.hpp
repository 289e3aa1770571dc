#pragma once
// How mlflow-cpp prints: aligned tables for people, JSON for scripts, and a small text chart.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "mlflow/entities.hpp"

namespace mlflow::cli {

/// A table printed with columns padded to their widest cell (in code points). Not thread-safe.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  /// Numbers read better right-aligned.
  void align_right(std::size_t column);
  void add_row(std::vector<std::string> cells);
  bool empty() const noexcept { return rows_.empty(); }
  /// Without the header line for key/value lists.
  void print(std::ostream& out, bool with_header = true) const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

/// Shortest round-trip digits ("0.1", "1e-05" style as to_chars gives), "nan", "inf", "-inf".
std::string format_double(double value);
/// Local time "YYYY-MM-DD HH:MM:SS" for a timestamp in ms; "-" for 0 or less.
std::string format_time_ms(std::int64_t ms);
/// "850ms", "12.3s", "4m 05s", "2h 03m"; "-" when the run has no end.
std::string format_duration_ms(std::int64_t start_ms, std::int64_t end_ms);

/// Writes JSON indented by two spaces. Doubles use shortest round-trip digits; NaN and +/-Inf become
/// the strings "NaN", "Infinity", "-Infinity", as MLflow's REST API writes them.
void write_json(std::ostream& out, const boost::json::value& value);
boost::json::value metric_json(double value);

/// The same shapes as MLflow's REST API (snake_case fields, int64 times as numbers).
boost::json::object to_json(const mlflow::Experiment& experiment);
boost::json::object to_json(const mlflow::RunInfo& info);
boost::json::object to_json(const mlflow::Run& run);
boost::json::object to_json(const mlflow::Metric& metric);

/// A text plot of the values over steps (finite points only), `width` x `height` cells plus axes.
/// Empty when there are fewer than two finite points.
std::string render_chart(const std::vector<mlflow::Metric>& points, int width = 60, int height = 12);

}  // namespace mlflow::cli
