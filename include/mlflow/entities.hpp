#pragma once
// MLflow tracking entities, as in mlflow.entities (Python) and service.proto.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlflow {

/// Status of a run (service.proto RunStatus). Plain enum; thread-safe as a value.
enum class RunStatus { RUNNING = 1, SCHEDULED = 2, FINISHED = 3, FAILED = 4, KILLED = 5 };

/// Which lifecycle stages a search sees (service.proto ViewType). Plain enum; thread-safe as a value.
enum class ViewType { ACTIVE_ONLY = 1, DELETED_ONLY = 2, ALL = 3 };

/// "RUNNING", "FINISHED", ... as on the wire and in the SQLite store.
std::string_view to_string(RunStatus status);
/// Parses a status name (or its proto number); throws MlflowError INVALID_PARAMETER_VALUE otherwise.
RunStatus run_status_from_string(std::string_view name);
/// True for FINISHED, FAILED and KILLED.
bool is_terminated(RunStatus status);
std::string_view to_string(ViewType view_type);
ViewType view_type_from_string(std::string_view name);

/// One metric point. A value type; thread-safe as a value.
struct Metric {
  std::string key;
  double value = 0.0;
  std::int64_t timestamp = 0;  ///< milliseconds since the Unix epoch
  std::int64_t step = 0;
  friend bool operator==(const Metric&, const Metric&) = default;
};

/// One run parameter (always a string, as in MLflow). A value type; thread-safe as a value.
struct Param {
  std::string key;
  std::string value;
  friend bool operator==(const Param&, const Param&) = default;
};

/// One run tag. A value type; thread-safe as a value.
struct RunTag {
  std::string key;
  std::string value;
  friend bool operator==(const RunTag&, const RunTag&) = default;
};

/// One experiment tag. A value type; thread-safe as a value.
struct ExperimentTag {
  std::string key;
  std::string value;
  friend bool operator==(const ExperimentTag&, const ExperimentTag&) = default;
};

/// An experiment as returned by the tracking store. A value type; thread-safe as a value.
struct Experiment {
  std::string experiment_id;
  std::string name;
  std::string artifact_location;
  std::string lifecycle_stage = "active";  ///< "active" or "deleted"
  std::int64_t creation_time = 0;
  std::int64_t last_update_time = 0;
  std::vector<ExperimentTag> tags;
};

/// Run metadata (service.proto RunInfo). A value type; thread-safe as a value.
struct RunInfo {
  std::string run_id;
  std::string run_name;
  std::string experiment_id;
  std::string user_id;
  RunStatus status = RunStatus::RUNNING;
  std::int64_t start_time = 0;
  std::optional<std::int64_t> end_time;
  std::string artifact_uri;
  std::string lifecycle_stage = "active";
};

/// Run contents: latest metric per key, params, tags. A value type; thread-safe as a value.
struct RunData {
  std::vector<Metric> metrics;  ///< the latest point per key (MLflow's latest_metrics rule)
  std::vector<Param> params;
  std::vector<RunTag> tags;

  /// Lookup helpers; nullptr when absent.
  const Metric* metric(std::string_view key) const;
  const Param* param(std::string_view key) const;
  const RunTag* tag(std::string_view key) const;
};

/// A run: info plus data. A value type; thread-safe as a value.
struct Run {
  RunInfo info;
  RunData data;
};

/// One entry of a run's artifact listing (MLflow's FileInfo): `path` is relative to the run's artifact root,
/// e.g. "plots/loss.png"; directories have no size. A value type; thread-safe as a value.
struct FileInfo {
  std::string path;
  bool is_dir = false;
  std::optional<std::int64_t> file_size;
  friend bool operator==(const FileInfo&, const FileInfo&) = default;
};

/// One page of results plus the token for the next page (empty when this is the last).
/// A value type; thread-safe as a value.
template <typename T>
struct PagedList {
  std::vector<T> items;
  std::string next_page_token;
};

}  // namespace mlflow
