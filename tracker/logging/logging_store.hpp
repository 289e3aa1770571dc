#pragma once
// LoggingStore: puts the AsyncLogger in front of a TrackingStore. Log calls go through the logger into a
// LogSink; every other call first flushes the logger (so reads see earlier writes and end_run comes after
// the run's last metric), then goes to the inner store.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "mlflow/tracking_store.hpp"
#include "tracker/logging/async_logger.hpp"

namespace mlflow::logging {

/// A LogSink that writes into a TrackingStore with log_batch: one call per run and stretch of records (a
/// param key seen twice starts a new call, so that the store judges the second value on its own).
/// Thread-safe as far as the store is.
class StoreSink final : public LogSink {
 public:
  explicit StoreSink(std::shared_ptr<TrackingStore> store) : store_(std::move(store)) {}
  void write_batch(std::span<const LogRecord> records) override;

 private:
  std::shared_ptr<TrackingStore> store_;
};

/// How long calls other than logging wait for the logger before they go on anyway:
/// MLFLOW_CPP_FLUSH_TIMEOUT_SECONDS (default 30).
std::chrono::milliseconds implicit_flush_timeout();

/// The TrackingStore the registry hands out: metric points through an AsyncLogger (validated by the client,
/// queued, committed in batches by the worker), everything else to `inner` on the caller's thread. Params and
/// tags are written synchronously: they are few, and a changed param must fail at the call as in MLflow.
/// With verify_runs, the first point logged to a run checks that the run exists and is active (then cached),
/// so that logging into a missing or deleted run is an exception at the call, not a background failure.
/// Thread-safe.
class LoggingStore final : public TrackingStore {
 public:
  /// `drain`, when set, is called by flush() after the logger has flushed, with the time left; it waits for
  /// whatever the inner store still has to do (the upload of a spooled store) and says whether it finished.
  LoggingStore(std::shared_ptr<TrackingStore> inner, std::shared_ptr<LogSink> sink, LoggerOptions options,
               std::function<bool(std::chrono::milliseconds)> drain = {}, bool verify_runs = true);
  /// Shuts the logger down (committing what is queued) before the inner store goes away.
  ~LoggingStore() override;

  /// Everything logged before the call is committed to the sink and, where a drain is set, delivered.
  bool flush(std::chrono::milliseconds timeout);
  AsyncLogger& logger() noexcept { return *logger_; }
  TrackingStore& inner() noexcept { return *inner_; }
  const std::shared_ptr<TrackingStore>& inner_ptr() const noexcept { return inner_; }

  // ---- logging: through the logger ----
  void log_metric(const std::string& run_id, const Metric& metric) override;
  void log_batch(const std::string& run_id, const std::vector<Metric>& metrics, const std::vector<Param>& params,
                 const std::vector<RunTag>& tags) override;

  // ---- everything else: flush, then the inner store ----
  std::string create_experiment(const std::string& name, const std::optional<std::string>& artifact_location,
                                const std::vector<ExperimentTag>& tags) override;
  Experiment get_experiment(const std::string& experiment_id) override;
  std::optional<Experiment> get_experiment_by_name(const std::string& name) override;
  PagedList<Experiment> search_experiments(ViewType view_type, std::int64_t max_results,
                                           const std::string& filter_string, const std::vector<std::string>& order_by,
                                           const std::string& page_token) override;
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
  std::vector<Metric> get_metric_history(const std::string& run_id, const std::string& key) override;
  PagedList<Run> search_runs(const std::vector<std::string>& experiment_ids, const std::string& filter_string,
                             ViewType run_view_type, std::int64_t max_results,
                             const std::vector<std::string>& order_by, const std::string& page_token) override;

 private:
  void settle();  ///< flushes the logger (bounded by implicit_flush_timeout)
  void ensure_active(const std::string& run_id);
  void remember_active(const std::string& run_id);
  void forget_runs();

  std::shared_ptr<TrackingStore> inner_;
  std::unique_ptr<AsyncLogger> logger_;
  std::function<bool(std::chrono::milliseconds)> drain_;
  std::chrono::milliseconds settle_timeout_;
  bool synchronous_;  ///< MLFLOW_CPP_ASYNC_LOGGING=false: log calls go straight to the inner store
  bool verify_runs_;
  std::uint64_t instance_;  ///< unique per store, for the per-thread cache of the last verified run
  std::atomic<std::uint64_t> generation_{1};  ///< bumped when a run may have been deleted
  std::shared_mutex runs_mutex_;
  std::unordered_set<std::string> active_runs_;
};

/// The LoggingStore behind a store pointer, or nullptr when the store is something else.
LoggingStore* as_logging_store(TrackingStore* store) noexcept;

}  // namespace mlflow::logging
