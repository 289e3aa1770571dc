#pragma once
// The fluent API, like `import mlflow` in Python: a current tracking URI, a current experiment, and a
// stack of active runs per thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "mlflow/client.hpp"
#include "mlflow/entities.hpp"

namespace mlflow {

/// A param value converted to the string MLflow stores, the way Python's str() would print it:
/// ints without a decimal point, doubles in shortest round-trip form ("0.1", "1e-05", "1.0"),
/// bools as "True"/"False". A value type; thread-safe as a value.
class ParamValue {
 public:
  ParamValue(std::string value) : value_(std::move(value)) {}
  ParamValue(const char* value) : value_(value) {}
  ParamValue(std::string_view value) : value_(value) {}
  ParamValue(bool value) : value_(value ? "True" : "False") {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  ParamValue(T value) : value_(std::to_string(value)) {}
  ParamValue(double value);
  ParamValue(float value) : ParamValue(static_cast<double>(value)) {}
  const std::string& str() const noexcept { return value_; }

 private:
  std::string value_;
};

/// Python's repr() of a float: shortest round-trip digits, "1.0" for integral values, "1e-05" style
/// exponents, "nan", "inf", "-inf".
std::string python_float_repr(double value);

/// Options of start_run (mlflow.start_run's keyword arguments). A value type.
struct StartRunOptions {
  std::string run_id;          ///< resume this run instead of creating one (MLFLOW_RUN_ID works too)
  std::string experiment_id;   ///< else the current experiment (set_experiment, env vars, "0")
  std::string run_name;        ///< else a random adjective-animal-NNN name
  bool nested = false;         ///< required to start a run while another is active
  std::string parent_run_id;   ///< explicit parent; nested runs get the active run as parent
  std::map<std::string, std::string> tags;
  std::string description;     ///< stored as the mlflow.note.content tag
};

/// The RAII scope of a run started by start_run(): when destroyed it ends the run FINISHED, or FAILED
/// when the scope is left by an exception. end() ends it early. Never throws from its destructor
/// (a failure there is printed to stderr). Movable, not copyable; use from the thread that started it.
class ActiveRun {
 public:
  ActiveRun(ActiveRun&& other) noexcept;
  ActiveRun& operator=(ActiveRun&&) = delete;
  ActiveRun(const ActiveRun&) = delete;
  ActiveRun& operator=(const ActiveRun&) = delete;
  ~ActiveRun();

  const std::string& run_id() const noexcept { return info_.run_id; }
  /// The info as it was when the run started.
  const RunInfo& info() const noexcept { return info_; }
  /// Ends the run now with the given status (idempotent).
  void end(RunStatus status = RunStatus::FINISHED);

 private:
  friend ActiveRun start_run(const StartRunOptions& options);
  explicit ActiveRun(RunInfo info);
  RunInfo info_;
  int uncaught_at_start_;
  bool owns_ = true;
};

/// Sets the tracking URI used by the fluent API and by MlflowClient() from now on.
void set_tracking_uri(const std::string& uri);
/// The URI set by set_tracking_uri, else default_tracking_uri().
std::string get_tracking_uri();
/// The client the fluent API uses (shared, for the current tracking URI).
MlflowClient& fluent_client();

/// Makes `name` the current experiment, creating it when missing. A deleted experiment is refused.
Experiment set_experiment(const std::string& name);
Experiment set_experiment_by_id(const std::string& experiment_id);

/// Starts (or resumes) a run and makes it the active run of this thread.
ActiveRun start_run(const StartRunOptions& options = {});
/// The active run of this thread, if any (fetched from the store).
std::optional<Run> active_run();
/// The id of the active run of this thread, or empty.
std::string active_run_id();
/// Ends the active run of this thread; no-op when there is none.
void end_run(RunStatus status = RunStatus::FINISHED);
/// The id of the last run that ended on this thread, or empty.
std::string last_active_run_id();

/// These log into the active run, starting one (as Python does) when there is none.
void log_param(const std::string& key, const ParamValue& value);
void log_params(const std::map<std::string, ParamValue>& params);
/// timestamp: now; step: 0 when unset.
void log_metric(const std::string& key, double value, std::optional<std::int64_t> step = std::nullopt,
                std::optional<std::int64_t> timestamp = std::nullopt);
void log_metrics(const std::map<std::string, double>& metrics, std::optional<std::int64_t> step = std::nullopt,
                 std::optional<std::int64_t> timestamp = std::nullopt);
void set_tag(const std::string& key, const std::string& value);
void set_tags(const std::map<std::string, std::string>& tags);

/// Waits until everything logged so far into the current tracking URI's store is durable: in the SQLite
/// file, or for a server in the local spool and, while the server answers, on the server. True when all of
/// it got there within the timeout. end_run() and the end of an ActiveRun do this by themselves.
bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Artifacts of the active run (starting one when there is none), as MlflowClient::log_artifact,
/// log_artifacts and log_text.
void log_artifact(const std::string& local_path, const std::string& artifact_path = "");
void log_artifacts(const std::string& local_dir, const std::string& artifact_path = "");
void log_text(const std::string& text, const std::string& artifact_file);

}  // namespace mlflow
