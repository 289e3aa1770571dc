// The fluent API (Python's mlflow.* functions): a process-wide tracking URI and current experiment, one shared
// client per URI, and a stack of active runs per thread.

#include "mlflow/fluent.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "mlflow/validation.hpp"
#include "storage/run_names.hpp"
#include "tracker/system_tags.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow {
namespace {

struct FluentState {
  std::mutex mutex;  // guards the members below, never held across store I/O except while opening a store
  std::optional<std::string> tracking_uri;
  std::optional<std::string> active_experiment_id;  // set_experiment's choice ...
  std::string active_experiment_uri;                // ... which only means something in the store it came from
  std::map<std::string, std::unique_ptr<MlflowClient>> clients;
  std::mutex experiment_mutex;  // serialises set_experiment's get-or-create, as Python's _experiment_lock
  std::mutex env_mutex;         // around getenv/unsetenv of MLFLOW_RUN_ID
};

FluentState& state() {
  static FluentState instance;
  return instance;
}

MlflowClient& client_for(const std::string& uri) {
  FluentState& s = state();
  std::lock_guard lock(s.mutex);
  auto& slot = s.clients[uri];
  if (!slot) {
    try {
      slot = std::make_unique<MlflowClient>(open_tracking_store(uri), uri);
    } catch (...) {
      s.clients.erase(uri);
      throw;
    }
  }
  return *slot;
}

/// One active run: its info when it started and the URI of the store that holds it, so that ending and
/// logging reach that store even after set_tracking_uri() changed the current one.
struct StackEntry {
  RunInfo info;
  std::string tracking_uri;
  /// client_for(tracking_uri), kept so that log_metric skips the cache lookup and its lock (cached clients live
  /// until the process exits).
  MlflowClient* client = nullptr;
};

struct ThreadRuns {
  std::vector<StackEntry> stack;
  std::string last_active_run_id;
};

void end_main_thread_runs_at_exit();

ThreadRuns* g_main_runs = nullptr;

bool on_main_thread() {
  // Constant-initialized thread_locals: reading them costs no initialization guard on the log_metric path.
  thread_local int is_main = -1;
  if (is_main < 0) is_main = ::gettid() == ::getpid() ? 1 : 0;
  return is_main == 1;
}

// Python keeps the run stack per thread and ends the main thread's run from an atexit hook. Here the main
// thread's stack is a static (not a thread_local) so it still exists when the atexit handler runs; it and the
// client cache are constructed before the handler is registered, so they are destroyed after it ran.
ThreadRuns& thread_runs_of_this_thread() {
  if (on_main_thread()) {
    static ThreadRuns& main_runs = []() -> ThreadRuns& {
      state();
      static ThreadRuns instance;
      g_main_runs = &instance;
      std::atexit(end_main_thread_runs_at_exit);
      return instance;
    }();
    return main_runs;
  }
  thread_local ThreadRuns runs;
  return runs;
}

// Looked up once per thread: after that, one plain thread_local read on every log call.
ThreadRuns& thread_runs() {
  thread_local ThreadRuns* known = nullptr;
  if (known != nullptr) return *known;
  known = &thread_runs_of_this_thread();
  return *known;
}

void report_end_failure(const std::string& run_id, const char* what) noexcept {
  std::fprintf(stderr, "mlflow: could not end run %s: %s\n", run_id.c_str(), what);
}

void unset_env_run_id() {
  FluentState& s = state();
  std::lock_guard lock(s.env_mutex);
  if (std::getenv("MLFLOW_RUN_ID") != nullptr) ::unsetenv("MLFLOW_RUN_ID");
}

std::string take_env_run_id() {
  FluentState& s = state();
  std::lock_guard lock(s.env_mutex);
  const char* v = std::getenv("MLFLOW_RUN_ID");
  if (v == nullptr || *v == '\0') return {};
  std::string id = v;
  ::unsetenv("MLFLOW_RUN_ID");  // as Python: the variable resumes one run, not every later one
  return id;
}

// Removes entry `index` from the stack first (as Python's end_run pops before terminating), then ends it.
void end_entry(ThreadRuns& runs, std::size_t index, RunStatus status) {
  StackEntry entry = std::move(runs.stack[index]);
  runs.stack.erase(runs.stack.begin() + static_cast<std::ptrdiff_t>(index));
  runs.last_active_run_id = entry.info.run_id;
  unset_env_run_id();
  client_for(entry.tracking_uri).set_terminated(entry.info.run_id, status);
}

void end_main_thread_runs_at_exit() {
  if (g_main_runs == nullptr) return;
  while (!g_main_runs->stack.empty()) {
    const std::string run_id = g_main_runs->stack.back().info.run_id;
    try {
      end_entry(*g_main_runs, g_main_runs->stack.size() - 1, RunStatus::FINISHED);
    } catch (const std::exception& e) {
      report_end_failure(run_id, e.what());
    } catch (...) {
      report_end_failure(run_id, "unknown error");
    }
  }
}

std::string getenv_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// The experiment a new run goes to when start_run() is not given one (Python's _get_experiment_id).
std::string current_experiment_id(MlflowClient& client) {
  {
    FluentState& s = state();
    std::lock_guard lock(s.mutex);
    if (s.active_experiment_id && s.active_experiment_uri == client.tracking_uri()) return *s.active_experiment_id;
  }
  const std::string env_name = getenv_or_empty("MLFLOW_EXPERIMENT_NAME");
  const std::string env_id = getenv_or_empty("MLFLOW_EXPERIMENT_ID");
  if (!env_name.empty()) {
    if (const auto experiment = client.get_experiment_by_name(env_name)) {
      if (!env_id.empty() && env_id != experiment->experiment_id) {
        throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                          "MLFLOW_EXPERIMENT_ID='" + env_id + "' does not match the id '" +
                              experiment->experiment_id + "' of the experiment named by MLFLOW_EXPERIMENT_NAME='" +
                              env_name + "'. Unset one of the two variables or make them agree.");
      }
      return experiment->experiment_id;
    }
    return client.create_experiment(env_name);
  }
  if (!env_id.empty()) {
    try {
      return client.get_experiment(env_id).experiment_id;
    } catch (const MlflowError& e) {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                        "MLFLOW_EXPERIMENT_ID='" + env_id + "' names no experiment in the tracking store '" +
                            transport::redact_password(client.tracking_uri()) + "' (" + e.message() +
                            "). Set it to an existing experiment id, or use MLFLOW_EXPERIMENT_NAME.");
    }
  }
  return "0";
}

void require_active_run_state(const Run& run, const std::string& what) {
  if (run.info.lifecycle_stage == "deleted") {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Cannot " + what + " run with ID " + run.info.run_id +
                          " because it is in the deleted state. Restore it with MlflowClient::restore_run first.");
  }
}

void add_description(std::map<std::string, std::string>& tags, const std::string& description) {
  if (description.empty()) return;
  if (tags.count(detail::TAG_NOTE) != 0) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      std::string("The description is also given as the tag ") + detail::TAG_NOTE +
                          ". Remove that tag or leave the description empty.");
  }
  tags[detail::TAG_NOTE] = description;
}

RunInfo resume_run(MlflowClient& client, const std::string& run_id, const StartRunOptions& options) {
  validation::validate_run_id(run_id);
  const Run run = client.get_run(run_id);
  {
    FluentState& s = state();
    std::lock_guard lock(s.mutex);
    if (s.active_experiment_id && s.active_experiment_uri == client.tracking_uri() &&
        *s.active_experiment_id != run.info.experiment_id) {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                        "Cannot resume run " + run_id + ": it belongs to experiment " + run.info.experiment_id +
                            " but the current experiment (set_experiment) is " + *s.active_experiment_id +
                            ". Select the run's experiment or start a new run.");
    }
  }
  require_active_run_state(run, "resume");
  // The end time is left as it is, as Python's resume does.
  client.store().update_run_info(run_id, RunStatus::RUNNING, std::nullopt, std::nullopt);
  std::map<std::string, std::string> tags = options.tags;
  add_description(tags, options.description);
  if (!tags.empty()) {
    std::vector<RunTag> run_tags;
    for (const auto& [key, value] : tags) run_tags.push_back(RunTag{key, value});
    client.log_batch(run_id, {}, {}, run_tags);
  }
  return client.get_run(run_id).info;
}

RunInfo create_new_run(MlflowClient& client, const ThreadRuns& runs, const StartRunOptions& options) {
  std::string parent_run_id = options.parent_run_id;
  if (!parent_run_id.empty()) {
    validation::validate_run_id(parent_run_id);
    if (!runs.stack.empty() && runs.stack.back().info.run_id != parent_run_id) {
      const std::string& current = runs.stack.back().info.run_id;
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                        "The active run " + current + " is not the given parent_run_id " + parent_run_id +
                            ". End the active run with mlflow::end_run() first, or leave parent_run_id empty to "
                            "nest under the active run.");
    }
    require_active_run_state(client.get_run(parent_run_id), "start a run under parent");
  } else if (!runs.stack.empty()) {
    parent_run_id = runs.stack.back().info.run_id;
  }

  const std::string experiment_id =
      !options.experiment_id.empty() ? options.experiment_id : current_experiment_id(client);

  std::map<std::string, std::string> user_tags = options.tags;
  add_description(user_tags, options.description);
  if (!parent_run_id.empty()) user_tags[detail::TAG_PARENT_RUN_ID] = parent_run_id;
  if (!options.run_name.empty()) user_tags[detail::TAG_RUN_NAME] = options.run_name;

  std::map<std::string, std::string> tags = detail::resolve_system_tags();
  for (auto& [key, value] : user_tags) tags[key] = value;

  // MLflow's stores name an unnamed run; naming it here keeps the mlflow.runName tag on every store.
  auto name_tag = tags.find(detail::TAG_RUN_NAME);
  if (name_tag == tags.end() || name_tag->second.empty()) {
    tags[detail::TAG_RUN_NAME] = detail::generate_run_name();
  }
  const std::string run_name = tags[detail::TAG_RUN_NAME];
  return client.create_run(experiment_id, std::nullopt, tags, run_name).info;
}

// start_run without the RAII scope: the run stays active until end_run() (or program exit).
RunInfo start_run_on_stack(const StartRunOptions& options) {
  ThreadRuns& runs = thread_runs();
  if (!runs.stack.empty() && !options.nested) {
    throw MlflowError(ErrorCode::INVALID_STATE,
                      "Run with UUID " + runs.stack.front().info.run_id +
                          " is already active. To start a new run, first end the current run with "
                          "mlflow::end_run(). To start a nested run, call start_run with nested=true");
  }
  const std::string uri = get_tracking_uri();
  MlflowClient& client = client_for(uri);
  std::string existing_run_id = options.run_id;
  if (existing_run_id.empty()) existing_run_id = take_env_run_id();

  RunInfo info = existing_run_id.empty() ? create_new_run(client, runs, options)
                                         : resume_run(client, existing_run_id, options);
  runs.stack.push_back(StackEntry{info, uri, &client});
  return info;
}

const StackEntry& get_or_start_run() {
  ThreadRuns& runs = thread_runs();
  if (runs.stack.empty()) start_run_on_stack({});
  return runs.stack.back();
}

}  // namespace

// ---- tracking URI and client ----

void set_tracking_uri(const std::string& uri) {
  FluentState& s = state();
  std::lock_guard lock(s.mutex);
  // An empty URI goes back to the default rather than naming a store.
  if (uri.empty()) {
    s.tracking_uri.reset();
  } else {
    s.tracking_uri = uri;
  }
}

std::string get_tracking_uri() {
  FluentState& s = state();
  {
    std::lock_guard lock(s.mutex);
    if (s.tracking_uri) return *s.tracking_uri;
  }
  return default_tracking_uri();
}

MlflowClient& fluent_client() { return client_for(get_tracking_uri()); }

// ---- experiments ----

namespace {
Experiment make_active_experiment(const MlflowClient& client, const Experiment& experiment) {
  if (experiment.lifecycle_stage != "active") {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Cannot set a deleted experiment '" + experiment.name +
                          "' as the active experiment. You can restore the experiment, or permanently delete the "
                          "experiment to create a new one.");
  }
  FluentState& s = state();
  std::lock_guard lock(s.mutex);
  s.active_experiment_id = experiment.experiment_id;
  s.active_experiment_uri = client.tracking_uri();
  return experiment;
}
}  // namespace

Experiment set_experiment(const std::string& name) {
  validation::validate_experiment_name(name);
  MlflowClient& client = fluent_client();
  std::lock_guard lock(state().experiment_mutex);
  std::optional<Experiment> experiment = client.get_experiment_by_name(name);
  if (!experiment) {
    try {
      experiment = client.get_experiment(client.create_experiment(name));
    } catch (const MlflowError& e) {
      // Another process created it between our lookup and our insert.
      if (e.error_code() != ErrorCode::RESOURCE_ALREADY_EXISTS) throw;
      experiment = client.get_experiment_by_name(name);
      if (!experiment) throw;
    }
  }
  return make_active_experiment(client, *experiment);
}

Experiment set_experiment_by_id(const std::string& experiment_id) {
  MlflowClient& client = fluent_client();
  std::lock_guard lock(state().experiment_mutex);
  return make_active_experiment(client, client.get_experiment(experiment_id));
}

// ---- runs ----

ActiveRun::ActiveRun(RunInfo info) : info_(std::move(info)), uncaught_at_start_(std::uncaught_exceptions()) {}

ActiveRun::ActiveRun(ActiveRun&& other) noexcept
    : info_(std::move(other.info_)), uncaught_at_start_(other.uncaught_at_start_), owns_(other.owns_) {
  other.owns_ = false;
}

ActiveRun::~ActiveRun() {
  if (!owns_) return;
  const RunStatus status =
      std::uncaught_exceptions() > uncaught_at_start_ ? RunStatus::FAILED : RunStatus::FINISHED;
  try {
    end(status);
  } catch (const std::exception& e) {
    report_end_failure(info_.run_id, e.what());
  } catch (...) {
    report_end_failure(info_.run_id, "unknown error");
  }
}

void ActiveRun::end(RunStatus status) {
  if (!owns_) return;
  owns_ = false;
  // The run may have been ended already by end_run(); then there is nothing left to do.
  ThreadRuns& runs = thread_runs();
  for (std::size_t i = runs.stack.size(); i-- > 0;) {
    if (runs.stack[i].info.run_id == info_.run_id) {
      end_entry(runs, i, status);
      return;
    }
  }
}

ActiveRun start_run(const StartRunOptions& options) { return ActiveRun(start_run_on_stack(options)); }

std::optional<Run> active_run() {
  ThreadRuns& runs = thread_runs();
  if (runs.stack.empty()) return std::nullopt;
  const StackEntry& top = runs.stack.back();
  return client_for(top.tracking_uri).get_run(top.info.run_id);
}

std::string active_run_id() {
  ThreadRuns& runs = thread_runs();
  return runs.stack.empty() ? std::string() : runs.stack.back().info.run_id;
}

void end_run(RunStatus status) {
  ThreadRuns& runs = thread_runs();
  if (runs.stack.empty()) return;
  end_entry(runs, runs.stack.size() - 1, status);
}

std::string last_active_run_id() { return thread_runs().last_active_run_id; }

// ---- logging into the active run ----

void log_param(const std::string& key, const ParamValue& value) {
  const StackEntry run = get_or_start_run();
  client_for(run.tracking_uri).log_param(run.info.run_id, key, value.str());
}

void log_params(const std::map<std::string, ParamValue>& params) {
  const StackEntry run = get_or_start_run();
  std::vector<Param> list;
  list.reserve(params.size());
  for (const auto& [key, value] : params) list.push_back(Param{key, value.str()});
  client_for(run.tracking_uri).log_batch(run.info.run_id, {}, list, {});
}

void log_metric(const std::string& key, double value, std::optional<std::int64_t> step,
                std::optional<std::int64_t> timestamp) {
  const StackEntry& run = get_or_start_run();  // not copied: the hot path must not allocate
  run.client->log_metric(run.info.run_id, key, value, timestamp ? *timestamp : now_ms(), step.value_or(0));
}

void log_metrics(const std::map<std::string, double>& metrics, std::optional<std::int64_t> step,
                 std::optional<std::int64_t> timestamp) {
  const StackEntry run = get_or_start_run();
  const std::int64_t ts = timestamp ? *timestamp : now_ms();
  std::vector<Metric> list;
  list.reserve(metrics.size());
  for (const auto& [key, value] : metrics) list.push_back(Metric{key, value, ts, step.value_or(0)});
  client_for(run.tracking_uri).log_batch(run.info.run_id, list, {}, {});
}

void set_tag(const std::string& key, const std::string& value) {
  const StackEntry run = get_or_start_run();
  client_for(run.tracking_uri).set_tag(run.info.run_id, key, value);
}

void set_tags(const std::map<std::string, std::string>& tags) {
  const StackEntry run = get_or_start_run();
  std::vector<RunTag> list;
  list.reserve(tags.size());
  for (const auto& [key, value] : tags) list.push_back(RunTag{key, value});
  client_for(run.tracking_uri).log_batch(run.info.run_id, {}, {}, list);
}

void log_artifact(const std::string& local_path, const std::string& artifact_path) {
  const StackEntry run = get_or_start_run();
  client_for(run.tracking_uri).log_artifact(run.info.run_id, local_path, artifact_path);
}

void log_artifacts(const std::string& local_dir, const std::string& artifact_path) {
  const StackEntry run = get_or_start_run();
  client_for(run.tracking_uri).log_artifacts(run.info.run_id, local_dir, artifact_path);
}

void log_text(const std::string& text, const std::string& artifact_file) {
  const StackEntry run = get_or_start_run();
  client_for(run.tracking_uri).log_text(run.info.run_id, text, artifact_file);
}

}  // namespace mlflow
