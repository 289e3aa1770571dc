#pragma once
// SqliteStore: MLflow's SqlAlchemyStore for sqlite:/// URIs, writing the file layout MLflow itself reads.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/tracking_store.hpp"

namespace mlflow::sqlite {

/// A tracking store in an MLflow-format SQLite file (new files get MLflow 2.17.2's tables, stamped
/// f5a4f2784254; existing MLflow 2.x/3.x files are used as they are). Behaves as MLflow's SQL store: ids,
/// artifact URIs, the latest_metrics rule, NaN/Inf encoding, validation and error codes.
/// Thread-safe: one connection per store behind a mutex. Several stores and processes may write one file at
/// once (write transactions are BEGIN IMMEDIATE with a 20 s busy timeout; the default rollback journal is kept).
class SqliteStore final : public TrackingStore {
 public:
  /// tracking_uri: "sqlite:///relative.db" (relative to the current directory), "sqlite:////abs/path.db",
  /// or "sqlite://" / "sqlite:///:memory:" for a private in-memory store.
  /// default_artifact_root: where experiments without an explicit location put artifacts; unset means
  /// "<absolute cwd>/mlruns" as MLflow's Python client uses. A relative plain path is made absolute.
  /// Throws MlflowError: INVALID_PARAMETER_VALUE for a URI this store does not handle, INVALID_STATE for a file
  /// that is corrupt, foreign, or lacks what the store needs (the file is then left untouched), IO_ERROR
  /// when the file cannot be opened.
  explicit SqliteStore(const std::string& tracking_uri,
                       const std::optional<std::string>& default_artifact_root = std::nullopt);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  /// True for sqlite:// URIs (case-insensitive scheme).
  static bool handles(std::string_view uri);
  /// The database path a sqlite URI names ("sqlite:///a.db" -> "a.db", "sqlite:////x/a.db" -> "/x/a.db",
  /// "sqlite://" -> ":memory:"). Throws MlflowError(INVALID_PARAMETER_VALUE) for anything else.
  static std::string path_from_uri(std::string_view uri);

  /// The database file, absolute (or ":memory:").
  const std::string& path() const noexcept;
  const std::string& tracking_uri() const noexcept;
  const std::string& default_artifact_root() const noexcept;
  /// The alembic stamp of the file (f5a4f2784254 for files this store created).
  const std::string& schema_revision() const noexcept;

  // ---- TrackingStore ----
  std::string create_experiment(const std::string& name,
                                const std::optional<std::string>& artifact_location = std::nullopt,
                                const std::vector<ExperimentTag>& tags = {}) override;
  Experiment get_experiment(const std::string& experiment_id) override;
  std::optional<Experiment> get_experiment_by_name(const std::string& name) override;
  /// max_results must be 1..50000 (INVALID_PARAMETER_VALUE otherwise).
  PagedList<Experiment> search_experiments(ViewType view_type = ViewType::ACTIVE_ONLY,
                                           std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                                           const std::string& filter_string = "",
                                           const std::vector<std::string>& order_by = {},
                                           const std::string& page_token = "") override;
  void rename_experiment(const std::string& experiment_id, const std::string& new_name) override;
  void delete_experiment(const std::string& experiment_id) override;
  void restore_experiment(const std::string& experiment_id) override;
  void set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) override;

  Run create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                 const std::vector<RunTag>& tags, const std::string& run_name) override;
  Run get_run(const std::string& run_id) override;
  RunInfo update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                          std::optional<std::int64_t> end_time, const std::optional<std::string>& run_name) override;
  void delete_run(const std::string& run_id) override;
  void restore_run(const std::string& run_id) override;
  void delete_tag(const std::string& run_id, const std::string& key) override;
  /// Any number of items, validated one by one (keys, timestamps, values cut per MLFLOW_TRUNCATE_LONG_VALUES,
  /// no duplicate param keys) and written in one transaction: a batch that fails writes nothing.
  void log_batch(const std::string& run_id, const std::vector<Metric>& metrics, const std::vector<Param>& params,
                 const std::vector<RunTag>& tags) override;
  /// Ordered by timestamp, step, value. An unknown run has no history (empty), as in MLflow.
  std::vector<Metric> get_metric_history(const std::string& run_id, const std::string& key) override;
  /// max_results must be 1..50000 (INVALID_PARAMETER_VALUE otherwise).
  PagedList<Run> search_runs(const std::vector<std::string>& experiment_ids, const std::string& filter_string = "",
                             ViewType run_view_type = ViewType::ACTIVE_ONLY,
                             std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                             const std::vector<std::string>& order_by = {},
                             const std::string& page_token = "") override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlflow::sqlite
