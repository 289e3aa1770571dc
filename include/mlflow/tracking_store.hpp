#pragma once
// The interface both stores implement (MLflow's AbstractStore).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlflow/entities.hpp"

namespace mlflow {

/// Default page sizes, as MLflow's Python client uses them.
inline constexpr std::int64_t SEARCH_MAX_RESULTS_DEFAULT = 1000;
inline constexpr std::int64_t SEARCH_MAX_RESULTS_THRESHOLD = 50000;

/// A tracking backend: the SQLite file store or a REST server. Implementations are thread-safe:
/// one store may be used from several threads at once. Every call throws MlflowError on failure.
class TrackingStore {
 public:
  virtual ~TrackingStore() = default;

  // ---- experiments ----
  /// Returns the new experiment's id.
  virtual std::string create_experiment(const std::string& name,
                                        const std::optional<std::string>& artifact_location = std::nullopt,
                                        const std::vector<ExperimentTag>& tags = {}) = 0;
  /// Returns deleted experiments too. Unknown id: RESOURCE_DOES_NOT_EXIST.
  virtual Experiment get_experiment(const std::string& experiment_id) = 0;
  /// std::nullopt when no experiment has that name (deleted ones are returned, as MLflow does).
  virtual std::optional<Experiment> get_experiment_by_name(const std::string& name) = 0;
  virtual PagedList<Experiment> search_experiments(ViewType view_type = ViewType::ACTIVE_ONLY,
                                                   std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                                                   const std::string& filter_string = "",
                                                   const std::vector<std::string>& order_by = {},
                                                   const std::string& page_token = "") = 0;
  virtual void rename_experiment(const std::string& experiment_id, const std::string& new_name) = 0;
  virtual void delete_experiment(const std::string& experiment_id) = 0;
  virtual void restore_experiment(const std::string& experiment_id) = 0;
  virtual void set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) = 0;

  // ---- runs ----
  /// run_name empty: the store generates an adjective-animal-NNN name, as MLflow's stores do.
  virtual Run create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                         const std::vector<RunTag>& tags, const std::string& run_name) = 0;
  virtual Run get_run(const std::string& run_id) = 0;
  /// Each optional is applied only when set. Returns the updated info.
  virtual RunInfo update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                                  std::optional<std::int64_t> end_time,
                                  const std::optional<std::string>& run_name) = 0;
  virtual void delete_run(const std::string& run_id) = 0;
  virtual void restore_run(const std::string& run_id) = 0;
  virtual void delete_tag(const std::string& run_id, const std::string& key) = 0;
  /// Any size: stores split it into server-legal pieces where they must.
  virtual void log_batch(const std::string& run_id, const std::vector<Metric>& metrics,
                         const std::vector<Param>& params, const std::vector<RunTag>& tags) = 0;
  /// Every point of one metric, in (timestamp, step) order where the backend defines one.
  virtual std::vector<Metric> get_metric_history(const std::string& run_id, const std::string& key) = 0;
  /// filter_string uses MLflow's syntax; order_by entries like "metrics.loss DESC".
  virtual PagedList<Run> search_runs(const std::vector<std::string>& experiment_ids,
                                     const std::string& filter_string = "",
                                     ViewType run_view_type = ViewType::ACTIVE_ONLY,
                                     std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                                     const std::vector<std::string>& order_by = {},
                                     const std::string& page_token = "") = 0;

  // ---- written once on top of log_batch ----
  /// Virtual only so that a store with an asynchronous logger can queue one point without building a batch.
  virtual void log_metric(const std::string& run_id, const Metric& metric) { log_batch(run_id, {metric}, {}, {}); }
  void log_param(const std::string& run_id, const Param& param) { log_batch(run_id, {}, {param}, {}); }
  void set_tag(const std::string& run_id, const RunTag& tag) { log_batch(run_id, {}, {}, {tag}); }
};

}  // namespace mlflow
