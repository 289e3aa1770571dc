#pragma once
// MlflowClient: the explicit-id tracking API (mlflow.tracking.MlflowClient).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/entities.hpp"
#include "mlflow/error.hpp"
#include "mlflow/tracking_store.hpp"

namespace mlflow {

inline constexpr const char* DEFAULT_TRACKING_URI = "sqlite:///mlflow.db";

/// MLFLOW_TRACKING_URI when set and non-empty, else "sqlite:///mlflow.db".
std::string default_tracking_uri();

/// Opens the store a tracking URI names: "sqlite:///rel.db", "sqlite:////abs.db", "http(s)://host[:port][/prefix]".
/// Throws MlflowError(INVALID_PARAMETER_VALUE) for an unsupported scheme, naming the URI and the supported ones.
std::shared_ptr<TrackingStore> open_tracking_store(const std::string& tracking_uri);

/// Milliseconds since the Unix epoch, as MLflow timestamps are.
std::int64_t now_ms();

/// The explicit-id client. Thread-safe: it adds validation on top of a thread-safe store.
class MlflowClient {
 public:
  /// tracking_uri unset: default_tracking_uri().
  explicit MlflowClient(const std::optional<std::string>& tracking_uri = std::nullopt);
  /// Uses an already-open store (tests, custom stores).
  MlflowClient(std::shared_ptr<TrackingStore> store, std::string tracking_uri);

  const std::string& tracking_uri() const noexcept { return tracking_uri_; }
  TrackingStore& store() const noexcept { return *store_; }
  const std::shared_ptr<TrackingStore>& store_ptr() const noexcept { return store_; }

  // ---- experiments ----
  std::string create_experiment(const std::string& name,
                                const std::optional<std::string>& artifact_location = std::nullopt,
                                const std::map<std::string, std::string>& tags = {});
  Experiment get_experiment(const std::string& experiment_id);
  std::optional<Experiment> get_experiment_by_name(const std::string& name);
  PagedList<Experiment> search_experiments(ViewType view_type = ViewType::ACTIVE_ONLY,
                                           std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                                           const std::string& filter_string = "",
                                           const std::vector<std::string>& order_by = {},
                                           const std::string& page_token = "");
  void rename_experiment(const std::string& experiment_id, const std::string& new_name);
  void delete_experiment(const std::string& experiment_id);
  void restore_experiment(const std::string& experiment_id);
  void set_experiment_tag(const std::string& experiment_id, const std::string& key, const std::string& value);

  // ---- runs ----
  /// start_time unset: now. user_id is taken from the mlflow.user tag when present, as Python does.
  Run create_run(const std::string& experiment_id, std::optional<std::int64_t> start_time = std::nullopt,
                 const std::map<std::string, std::string>& tags = {}, const std::string& run_name = "");
  Run get_run(const std::string& run_id);
  /// Updates status and/or name; end_time is left as it is.
  RunInfo update_run(const std::string& run_id, std::optional<RunStatus> status = std::nullopt,
                     const std::optional<std::string>& name = std::nullopt);
  void delete_run(const std::string& run_id);
  void restore_run(const std::string& run_id);
  /// end_time unset: now.
  void set_terminated(const std::string& run_id, RunStatus status = RunStatus::FINISHED,
                      std::optional<std::int64_t> end_time = std::nullopt);

  // ---- logging (validated here, at the call site) ----
  /// timestamp unset: now.
  void log_metric(const std::string& run_id, const std::string& key, double value,
                  std::optional<std::int64_t> timestamp = std::nullopt, std::int64_t step = 0);
  void log_param(const std::string& run_id, const std::string& key, const std::string& value);
  void set_tag(const std::string& run_id, const std::string& key, const std::string& value);
  void delete_tag(const std::string& run_id, const std::string& key);
  /// Any size; split into server-legal requests by the store.
  void log_batch(const std::string& run_id, const std::vector<Metric>& metrics = {},
                 const std::vector<Param>& params = {}, const std::vector<RunTag>& tags = {});
  std::vector<Metric> get_metric_history(const std::string& run_id, const std::string& key);
  /// Waits until everything logged through this client is durable (see mlflow::flush). True when all of it
  /// got there within the timeout.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  PagedList<Run> search_runs(const std::vector<std::string>& experiment_ids, const std::string& filter_string = "",
                             ViewType run_view_type = ViewType::ACTIVE_ONLY,
                             std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                             const std::vector<std::string>& order_by = {}, const std::string& page_token = "");

  // ---- artifacts (files under the run's artifact_uri) ----
  // Where they go follows the run's artifact_uri, as in MLflow: a local path or file:// URI (sqlite:/// stores)
  // is written directly; mlflow-artifacts:/ goes through the tracking server's artifact proxy, http(s):// URIs
  // are used directly; both stream files from and to disk. A run that exists only in the local spool (a server
  // that was away) keeps its artifacts in the spool until `mlflow-cpp sync` uploads them.
  // Artifact paths are relative, '/'-separated; "..", absolute paths, backslashes and '#' are refused with
  // INVALID_PARAMETER_VALUE naming the path.

  /// Uploads a file as `<artifact_path>/<file name>` (a directory: its contents under
  /// `<artifact_path>/<directory name>`). artifact_path empty: the run's artifact root.
  void log_artifact(const std::string& run_id, const std::string& local_path, const std::string& artifact_path = "");
  /// Uploads every file under local_dir (recursively) below artifact_path, keeping the relative layout.
  void log_artifacts(const std::string& run_id, const std::string& local_dir, const std::string& artifact_path = "");
  /// Stores `text` as the artifact file `artifact_file` (e.g. "notes/summary.txt").
  void log_text(const std::string& run_id, const std::string& text, const std::string& artifact_file);
  /// The direct children of `path` (the artifact root when empty), sorted by path; paths are run-relative.
  std::vector<FileInfo> list_artifacts(const std::string& run_id, const std::string& path = "");
  /// Downloads the artifact file or directory `path` (everything when empty) to `dst_dir/<path>` and returns
  /// that local path. dst_dir empty: a new temporary directory. dst_dir is created when missing.
  std::string download_artifacts(const std::string& run_id, const std::string& path, const std::string& dst_dir = "");

 private:
  std::string tracking_uri_;
  std::shared_ptr<TrackingStore> store_;
};

}  // namespace mlflow
