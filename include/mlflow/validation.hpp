#pragma once
// Client-side checks of MLflow's server rules (mlflow/utils/validation.py), so a bad key or value is an
// exception at the call site rather than a failure later. All functions are pure and thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/entities.hpp"

namespace mlflow::validation {

inline constexpr std::size_t MAX_ENTITY_KEY_LENGTH = 250;
inline constexpr std::size_t MAX_PARAM_VAL_LENGTH = 6000;
inline constexpr std::size_t MAX_TAG_VAL_LENGTH = 8000;
inline constexpr std::size_t MAX_EXPERIMENT_TAG_VAL_LENGTH = 5000;
inline constexpr std::size_t MAX_EXPERIMENT_NAME_LENGTH = 500;
inline constexpr std::size_t MAX_PARAMS_TAGS_PER_BATCH = 100;
inline constexpr std::size_t MAX_METRICS_PER_BATCH = 1000;
inline constexpr std::size_t MAX_ENTITIES_PER_BATCH = 1000;

/// Length in Unicode code points (as Python's len); invalid UTF-8 bytes count one each.
std::size_t utf8_length(std::string_view s);
/// The first n code points of s.
std::string utf8_truncate(std::string_view s, std::size_t n);

/// Throws MlflowError(INVALID_PARAMETER_VALUE) naming the entity kind ("Metric name", "Param name",
/// "Tag name"), the key, the rule, and what to do.
void validate_metric_name(std::string_view key);
void validate_param_name(std::string_view key);
void validate_tag_name(std::string_view key);
void validate_metric(const Metric& metric);  ///< name, and timestamp >= 0
/// Returns the value MLflow would store: cut to the limit when MLFLOW_TRUNCATE_LONG_VALUES is true (default),
/// an error when it is false.
std::string validate_param_value(std::string_view key, std::string_view value);
std::string validate_tag_value(std::string_view key, std::string_view value);
void validate_experiment_tag(const ExperimentTag& tag);
void validate_experiment_name(std::string_view name);
void validate_run_id(std::string_view run_id);
void validate_experiment_id(std::string_view experiment_id);
/// Limits of one log-batch request (as the server enforces them) and duplicate param keys.
void validate_batch_limits(std::size_t metrics, std::size_t params, std::size_t tags);
void validate_no_duplicate_param_keys(const std::vector<Param>& params);

}  // namespace mlflow::validation
