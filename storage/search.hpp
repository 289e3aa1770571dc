#pragma once
// MLflow's search syntax (mlflow/utils/search_utils.py) parsed once and evaluated in memory.
// Used by the SQLite store; the REST store sends the strings to the server unchanged.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mlflow/entities.hpp"

namespace mlflow::search {

/// What a comparison looks at: `metrics.x`, `params.x`, `tags.x`, `attributes.x` (or a bare attribute name
/// such as `status`, `run_name`, `start_time`, `end_time`, `run_id`, `artifact_uri`, `user_id`).
enum class EntityKind { metric, param, tag, attribute };

/// One `<entity> <op> <value>` clause. Ops: = != > >= < <= LIKE ILIKE IN NOT IN.
struct Comparison {
  EntityKind kind = EntityKind::attribute;
  std::string key;   ///< unquoted (backticks/double quotes removed); attributes canonical ("run_name", "status", ...)
  std::string op;    ///< upper-case
  std::variant<double, std::string, std::vector<std::string>> value;
};

/// Parses clauses joined by AND (case-insensitive). Empty filter: empty vector.
/// Throws MlflowError(INVALID_PARAMETER_VALUE) naming the offending token.
std::vector<Comparison> parse_run_filter(std::string_view filter);
/// Experiment filters: `name`, `tags.x`, `attributes.creation_time`, `last_update_time`.
std::vector<Comparison> parse_experiment_filter(std::string_view filter);

bool matches(const Run& run, const std::vector<Comparison>& filter);
bool matches(const Experiment& experiment, const std::vector<Comparison>& filter);

/// One `order_by` entry such as "metrics.loss DESC" or "start_time".
struct OrderBy {
  EntityKind kind = EntityKind::attribute;
  std::string key;
  bool ascending = true;
};
/// Parses run order_by entries ("<key> [ASC|DESC]", keys as in filters). Also lets experiment attribute keys
/// through so the same call serves sort_experiments; sort_runs rejects them. Duplicate keys are an error.
std::vector<OrderBy> parse_order_by(const std::vector<std::string>& order_by);
/// Strict variant for experiments: only name, experiment_id, creation_time, last_update_time.
std::vector<OrderBy> parse_experiment_order_by(const std::vector<std::string>& order_by);
/// MLflow's order: the given keys (missing values last), then start_time DESC, then run_id ASC.
void sort_runs(std::vector<Run>& runs, const std::vector<OrderBy>& order_by);
/// MLflow SQL store order: with no order_by, creation_time DESC then experiment_id ASC; otherwise the given
/// keys, then experiment_id DESC unless experiment_id is among them. Throws on keys experiments lack.
void sort_experiments(std::vector<Experiment>& experiments, const std::vector<OrderBy>& order_by);

/// Offset page tokens as the SQL store makes them: base64 of {"offset": N}. An invalid token throws
/// MlflowError(INVALID_PARAMETER_VALUE).
std::string encode_page_token(std::int64_t offset);
std::int64_t decode_page_token(std::string_view token);

/// Applies max_results/page_token to an already filtered and sorted list.
template <typename T>
PagedList<T> paginate(std::vector<T> all, std::int64_t max_results, std::string_view page_token) {
  const std::int64_t offset = page_token.empty() ? 0 : decode_page_token(page_token);
  PagedList<T> page;
  const auto n = static_cast<std::int64_t>(all.size());
  // offset comes from a page token the caller hands in (up to INT64_MAX): offset + max_results could overflow.
  const std::int64_t end = offset >= n ? n : (max_results > n - offset ? n : offset + max_results);
  for (std::int64_t i = offset; i < end; ++i) page.items.push_back(std::move(all[static_cast<std::size_t>(i)]));
  if (end < n) page.next_page_token = encode_page_token(end);
  return page;
}

}  // namespace mlflow::search
