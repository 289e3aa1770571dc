#include "tracker/logging/logging_store.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "mlflow/error.hpp"
#include "tracker/logging/env.hpp"

namespace mlflow::logging {

// ---------------------------------------------------------------------------------------------------------------
// StoreSink

void StoreSink::write_batch(std::span<const LogRecord> records) {
  // Records of different runs may interleave; keep each run's order and send one log_batch per stretch.
  std::size_t i = 0;
  std::vector<bool> done(records.size(), false);
  std::vector<Metric> metrics;
  std::vector<Param> params;
  std::vector<RunTag> tags;
  std::unordered_set<std::string_view> param_keys;
  while (i < records.size()) {
    if (done[i]) {
      ++i;
      continue;
    }
    const std::string_view run_id = records[i].run_id();
    metrics.clear();
    params.clear();
    tags.clear();
    param_keys.clear();
    for (std::size_t j = i; j < records.size(); ++j) {
      const LogRecord& r = records[j];
      if (done[j] || r.run_id() != run_id) continue;
      if (r.kind() == LogRecord::Kind::param) {
        if (!param_keys.insert(r.key()).second) break;  // the rest of this run goes in the next call
        params.push_back(Param{std::string(r.key()), std::string(r.text())});
      } else if (r.kind() == LogRecord::Kind::tag) {
        tags.push_back(RunTag{std::string(r.key()), std::string(r.text())});
      } else {
        metrics.push_back(Metric{std::string(r.key()), r.value(), r.timestamp(), r.step()});
      }
      done[j] = true;
    }
    store_->log_batch(std::string(run_id), metrics, params, tags);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LoggingStore

std::chrono::milliseconds implicit_flush_timeout() {
  return std::chrono::milliseconds(env_int("MLFLOW_CPP_FLUSH_TIMEOUT_SECONDS", 30, 0, 86400) * 1000);
}

namespace {
std::atomic<std::uint64_t> next_instance{1};

/// The last run this thread logged a point to, as verified by which store and at which generation.
struct VerifiedRun {
  std::uint64_t instance = 0;
  std::uint64_t generation = 0;
  std::string run_id;
};
thread_local VerifiedRun last_verified;
}  // namespace

LoggingStore::LoggingStore(std::shared_ptr<TrackingStore> inner, std::shared_ptr<LogSink> sink,
                           LoggerOptions options, std::function<bool(std::chrono::milliseconds)> drain,
                           bool verify_runs)
    : inner_(std::move(inner)),
      logger_(std::make_unique<AsyncLogger>(std::move(sink), std::move(options))),
      drain_(std::move(drain)),
      settle_timeout_(implicit_flush_timeout()),
      synchronous_(!logger_->options().asynchronous),
      verify_runs_(verify_runs),
      instance_(next_instance.fetch_add(1)) {}

void LoggingStore::ensure_active(const std::string& run_id) {
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  if (last_verified.instance == instance_ && last_verified.generation == generation && last_verified.run_id == run_id) {
    return;
  }
  bool known = false;
  {
    std::shared_lock lock(runs_mutex_);
    known = active_runs_.count(run_id) != 0;
  }
  if (!known) {
    // Once per run: a missing run throws RESOURCE_DOES_NOT_EXIST here, as the store would.
    const Run run = inner_->get_run(run_id);
    if (run.info.lifecycle_stage != "active") {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                        "The run " + run_id + " must be in the 'active' state. Current state is " +
                            run.info.lifecycle_stage + ". Restore it (MlflowClient::restore_run) or log to another run.");
    }
    remember_active(run_id);
  }
  last_verified.instance = instance_;
  last_verified.generation = generation;
  last_verified.run_id = run_id;
}

void LoggingStore::remember_active(const std::string& run_id) {
  std::unique_lock lock(runs_mutex_);
  active_runs_.insert(run_id);
}

void LoggingStore::forget_runs() {
  {
    std::unique_lock lock(runs_mutex_);
    active_runs_.clear();
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

LoggingStore::~LoggingStore() {
  logger_->shutdown(std::max(settle_timeout_, std::chrono::milliseconds(1000)));
}

bool LoggingStore::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool ok = logger_->flush(timeout);
  if (drain_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    ok = drain_(std::max(left, std::chrono::milliseconds(0))) && ok;
  }
  return ok;
}

void LoggingStore::settle() {
  if (!logger_->flush(settle_timeout_)) {
    std::fprintf(stderr,
                 "mlflow-cpp: the logger did not commit its queue within %lld s "
                 "(MLFLOW_CPP_FLUSH_TIMEOUT_SECONDS); going on\n",
                 static_cast<long long>(settle_timeout_.count() / 1000));
  }
}

void LoggingStore::log_metric(const std::string& run_id, const Metric& metric) {
  if (synchronous_) {
    inner_->log_metric(run_id, metric);
    return;
  }
  if (verify_runs_) ensure_active(run_id);
  logger_->log_metric(run_id, metric.key, metric.value, metric.timestamp, metric.step);
}

void LoggingStore::log_batch(const std::string& run_id, const std::vector<Metric>& metrics,
                             const std::vector<Param>& params, const std::vector<RunTag>& tags) {
  if (synchronous_) {
    // The store's own log_batch keeps the batch whole (one transaction) and throws on the caller's thread.
    inner_->log_batch(run_id, metrics, params, tags);
    return;
  }
  if (!params.empty() || !tags.empty()) {
    // Written now: a changed param or a bad run fails here, before any point of the batch is queued.
    inner_->log_batch(run_id, {}, params, tags);
    if (verify_runs_) remember_active(run_id);
  }
  if (metrics.empty()) return;
  if (verify_runs_) ensure_active(run_id);
  for (const auto& m : metrics) logger_->log_metric(run_id, m.key, m.value, m.timestamp, m.step);
}

std::string LoggingStore::create_experiment(const std::string& name,
                                            const std::optional<std::string>& artifact_location,
                                            const std::vector<ExperimentTag>& tags) {
  return inner_->create_experiment(name, artifact_location, tags);
}

Experiment LoggingStore::get_experiment(const std::string& experiment_id) {
  return inner_->get_experiment(experiment_id);
}

std::optional<Experiment> LoggingStore::get_experiment_by_name(const std::string& name) {
  return inner_->get_experiment_by_name(name);
}

PagedList<Experiment> LoggingStore::search_experiments(ViewType view_type, std::int64_t max_results,
                                                       const std::string& filter_string,
                                                       const std::vector<std::string>& order_by,
                                                       const std::string& page_token) {
  return inner_->search_experiments(view_type, max_results, filter_string, order_by, page_token);
}

void LoggingStore::rename_experiment(const std::string& experiment_id, const std::string& new_name) {
  inner_->rename_experiment(experiment_id, new_name);
}

void LoggingStore::delete_experiment(const std::string& experiment_id) {
  settle();
  inner_->delete_experiment(experiment_id);
  forget_runs();  // its runs are deleted with it
}

void LoggingStore::restore_experiment(const std::string& experiment_id) { inner_->restore_experiment(experiment_id); }

void LoggingStore::set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) {
  inner_->set_experiment_tag(experiment_id, tag);
}

Run LoggingStore::create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                             const std::vector<RunTag>& tags, const std::string& run_name) {
  Run run = inner_->create_run(experiment_id, user_id, start_time, tags, run_name);
  if (verify_runs_) remember_active(run.info.run_id);
  return run;
}

Run LoggingStore::get_run(const std::string& run_id) {
  settle();
  return inner_->get_run(run_id);
}

RunInfo LoggingStore::update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                                      std::optional<std::int64_t> end_time,
                                      const std::optional<std::string>& run_name) {
  settle();
  return inner_->update_run_info(run_id, status, end_time, run_name);
}

void LoggingStore::delete_run(const std::string& run_id) {
  settle();
  inner_->delete_run(run_id);
  forget_runs();
}

void LoggingStore::restore_run(const std::string& run_id) { inner_->restore_run(run_id); }

void LoggingStore::delete_tag(const std::string& run_id, const std::string& key) {
  settle();
  inner_->delete_tag(run_id, key);
}

std::vector<Metric> LoggingStore::get_metric_history(const std::string& run_id, const std::string& key) {
  settle();
  return inner_->get_metric_history(run_id, key);
}

PagedList<Run> LoggingStore::search_runs(const std::vector<std::string>& experiment_ids,
                                         const std::string& filter_string, ViewType run_view_type,
                                         std::int64_t max_results, const std::vector<std::string>& order_by,
                                         const std::string& page_token) {
  settle();
  return inner_->search_runs(experiment_ids, filter_string, run_view_type, max_results, order_by, page_token);
}

LoggingStore* as_logging_store(TrackingStore* store) noexcept { return dynamic_cast<LoggingStore*>(store); }

}  // namespace mlflow::logging
