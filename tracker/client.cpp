// MlflowClient: validates every input at the call site (mlflow::validation), then calls the store.
// Mirrors mlflow.tracking.MlflowClient: defaults (now, step 0, user from the mlflow.user tag) are filled here.

#include "mlflow/client.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "mlflow/fluent.hpp"
#include "mlflow/validation.hpp"
#include "storage/utf8.hpp"
#include "tracker/artifacts/artifact_paths.hpp"
#include "tracker/artifacts/run_artifacts.hpp"

namespace mlflow {
namespace {

constexpr const char* kUserTag = "mlflow.user";
constexpr const char* kRunNameTag = "mlflow.runName";

// Run names are stored as given (runs.name and the mlflow.runName tag); like every other text they must be UTF-8.
void validate_run_name(const std::string& name) {
  if (const auto bad = detail::first_invalid_utf8(name)) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Run name '" + detail::display_text(name) + "' is not valid UTF-8 (byte offset " +
                          std::to_string(*bad) + "). MLflow stores text as UTF-8; re-encode the name as UTF-8.");
  }
}

void validate_max_results(std::int64_t max_results) {
  if (max_results < 1 || max_results > SEARCH_MAX_RESULTS_THRESHOLD) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Invalid value " + std::to_string(max_results) +
                          " for parameter 'max_results' supplied. It must be between 1 and " +
                          std::to_string(SEARCH_MAX_RESULTS_THRESHOLD) + "; use page_token to read further pages.");
  }
}

RunTag validated_tag(const std::string& key, const std::string& value) {
  validation::validate_tag_name(key);
  return RunTag{key, validation::validate_tag_value(key, value)};
}

Param validated_param(const std::string& key, const std::string& value) {
  validation::validate_param_name(key);
  return Param{key, validation::validate_param_value(key, value)};
}

}  // namespace

std::string default_tracking_uri() {
  const char* env = std::getenv("MLFLOW_TRACKING_URI");
  if (env != nullptr && *env != '\0') return env;
  return DEFAULT_TRACKING_URI;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// MlflowClient() follows the fluent API's current URI, as Python's MlflowClient() follows mlflow.set_tracking_uri.
MlflowClient::MlflowClient(const std::optional<std::string>& tracking_uri)
    : tracking_uri_(tracking_uri ? *tracking_uri : get_tracking_uri()), store_(open_tracking_store(tracking_uri_)) {}

MlflowClient::MlflowClient(std::shared_ptr<TrackingStore> store, std::string tracking_uri)
    : tracking_uri_(std::move(tracking_uri)), store_(std::move(store)) {
  if (!store_) throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, "MlflowClient needs a store, got a null pointer");
}

// ---- experiments ----

std::string MlflowClient::create_experiment(const std::string& name,
                                            const std::optional<std::string>& artifact_location,
                                            const std::map<std::string, std::string>& tags) {
  validation::validate_experiment_name(name);
  std::vector<ExperimentTag> experiment_tags;
  experiment_tags.reserve(tags.size());
  for (const auto& [key, value] : tags) {
    ExperimentTag tag{key, value};
    validation::validate_experiment_tag(tag);
    experiment_tags.push_back(std::move(tag));
  }
  return store_->create_experiment(name, artifact_location, experiment_tags);
}

Experiment MlflowClient::get_experiment(const std::string& experiment_id) {
  validation::validate_experiment_id(experiment_id);
  return store_->get_experiment(experiment_id);
}

std::optional<Experiment> MlflowClient::get_experiment_by_name(const std::string& name) {
  return store_->get_experiment_by_name(name);
}

PagedList<Experiment> MlflowClient::search_experiments(ViewType view_type, std::int64_t max_results,
                                                       const std::string& filter_string,
                                                       const std::vector<std::string>& order_by,
                                                       const std::string& page_token) {
  validate_max_results(max_results);
  return store_->search_experiments(view_type, max_results, filter_string, order_by, page_token);
}

void MlflowClient::rename_experiment(const std::string& experiment_id, const std::string& new_name) {
  validation::validate_experiment_id(experiment_id);
  validation::validate_experiment_name(new_name);
  store_->rename_experiment(experiment_id, new_name);
}

void MlflowClient::delete_experiment(const std::string& experiment_id) {
  validation::validate_experiment_id(experiment_id);
  store_->delete_experiment(experiment_id);
}

void MlflowClient::restore_experiment(const std::string& experiment_id) {
  validation::validate_experiment_id(experiment_id);
  store_->restore_experiment(experiment_id);
}

void MlflowClient::set_experiment_tag(const std::string& experiment_id, const std::string& key,
                                      const std::string& value) {
  validation::validate_experiment_id(experiment_id);
  ExperimentTag tag{key, value};
  validation::validate_experiment_tag(tag);
  store_->set_experiment_tag(experiment_id, tag);
}

// ---- runs ----

Run MlflowClient::create_run(const std::string& experiment_id, std::optional<std::int64_t> start_time,
                             const std::map<std::string, std::string>& tags, const std::string& run_name) {
  validation::validate_experiment_id(experiment_id);
  // The SQL store inserts create-run tags unchecked, so this is the only place they are validated.
  std::vector<RunTag> run_tags;
  run_tags.reserve(tags.size());
  for (const auto& [key, value] : tags) run_tags.push_back(validated_tag(key, value));
  validate_run_name(run_name);

  if (const auto it = tags.find(kRunNameTag); it != tags.end() && !run_name.empty() && it->second != run_name) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Both 'run_name' argument and '" + std::string(kRunNameTag) +
                          "' tag are specified, but with different values (run_name='" + run_name + "', " +
                          kRunNameTag + "='" + it->second + "'). Give only one of them, or the same value to both.");
  }
  const std::int64_t start = start_time ? *start_time : now_ms();
  if (start < 0) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "start_time must be a nonnegative number of milliseconds since the epoch, got " +
                          std::to_string(start));
  }
  // As Python's client: the deprecated user_id column is filled from the mlflow.user tag.
  const auto user = tags.find(kUserTag);
  const std::string user_id = user != tags.end() ? user->second : "unknown";
  return store_->create_run(experiment_id, user_id, start, run_tags, run_name);
}

Run MlflowClient::get_run(const std::string& run_id) {
  validation::validate_run_id(run_id);
  return store_->get_run(run_id);
}

RunInfo MlflowClient::update_run(const std::string& run_id, std::optional<RunStatus> status,
                                 const std::optional<std::string>& name) {
  validation::validate_run_id(run_id);
  if (name) validate_run_name(*name);
  if (!status && !name) return store_->get_run(run_id).info;
  return store_->update_run_info(run_id, status, std::nullopt, name);
}

void MlflowClient::delete_run(const std::string& run_id) {
  validation::validate_run_id(run_id);
  store_->delete_run(run_id);
}

void MlflowClient::restore_run(const std::string& run_id) {
  validation::validate_run_id(run_id);
  store_->restore_run(run_id);
}

void MlflowClient::set_terminated(const std::string& run_id, RunStatus status, std::optional<std::int64_t> end_time) {
  validation::validate_run_id(run_id);
  const std::int64_t end = end_time ? *end_time : now_ms();
  if (end < 0) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "end_time must be a nonnegative number of milliseconds since the epoch, got " +
                          std::to_string(end));
  }
  store_->update_run_info(run_id, status, end, std::nullopt);
}

// ---- logging ----

void MlflowClient::log_metric(const std::string& run_id, const std::string& key, double value,
                              std::optional<std::int64_t> timestamp, std::int64_t step) {
  validation::validate_run_id(run_id);
  Metric metric{key, value, timestamp ? *timestamp : now_ms(), step};
  validation::validate_metric(metric);
  store_->log_metric(run_id, metric);  // no batch to build: the logger queues the point as it is
}

void MlflowClient::log_param(const std::string& run_id, const std::string& key, const std::string& value) {
  validation::validate_run_id(run_id);
  store_->log_batch(run_id, {}, {validated_param(key, value)}, {});
}

void MlflowClient::set_tag(const std::string& run_id, const std::string& key, const std::string& value) {
  validation::validate_run_id(run_id);
  store_->log_batch(run_id, {}, {}, {validated_tag(key, value)});
}

void MlflowClient::delete_tag(const std::string& run_id, const std::string& key) {
  validation::validate_run_id(run_id);
  store_->delete_tag(run_id, key);
}

void MlflowClient::log_batch(const std::string& run_id, const std::vector<Metric>& metrics,
                             const std::vector<Param>& params, const std::vector<RunTag>& tags) {
  validation::validate_run_id(run_id);
  for (const Metric& metric : metrics) validation::validate_metric(metric);
  // Checked over the whole batch: the store may split it, and a repeated key must fail the same way wherever
  // the split falls.
  validation::validate_no_duplicate_param_keys(params);
  std::vector<Param> checked_params;
  checked_params.reserve(params.size());
  for (const Param& param : params) checked_params.push_back(validated_param(param.key, param.value));
  std::vector<RunTag> checked_tags;
  checked_tags.reserve(tags.size());
  for (const RunTag& tag : tags) checked_tags.push_back(validated_tag(tag.key, tag.value));
  if (metrics.empty() && checked_params.empty() && checked_tags.empty()) return;
  store_->log_batch(run_id, metrics, checked_params, checked_tags);
}

std::vector<Metric> MlflowClient::get_metric_history(const std::string& run_id, const std::string& key) {
  validation::validate_run_id(run_id);
  return store_->get_metric_history(run_id, key);
}

PagedList<Run> MlflowClient::search_runs(const std::vector<std::string>& experiment_ids,
                                         const std::string& filter_string, ViewType run_view_type,
                                         std::int64_t max_results, const std::vector<std::string>& order_by,
                                         const std::string& page_token) {
  for (const std::string& id : experiment_ids) validation::validate_experiment_id(id);
  validate_max_results(max_results);
  return store_->search_runs(experiment_ids, filter_string, run_view_type, max_results, order_by, page_token);
}

// ---- artifacts ----

void MlflowClient::log_artifact(const std::string& run_id, const std::string& local_path,
                                const std::string& artifact_path) {
  validation::validate_run_id(run_id);
  const std::string where = artifacts::normalize_artifact_path(artifact_path, "artifact_path");
  artifacts::repository_for_run(*store_, tracking_uri_, run_id)->log_artifact(local_path, where);
}

void MlflowClient::log_artifacts(const std::string& run_id, const std::string& local_dir,
                                 const std::string& artifact_path) {
  validation::validate_run_id(run_id);
  const std::string where = artifacts::normalize_artifact_path(artifact_path, "artifact_path");
  artifacts::repository_for_run(*store_, tracking_uri_, run_id)->log_artifacts(local_dir, where);
}

void MlflowClient::log_text(const std::string& run_id, const std::string& text, const std::string& artifact_file) {
  namespace fs = std::filesystem;
  validation::validate_run_id(run_id);
  const std::string file = artifacts::normalize_artifact_path(artifact_file, "artifact_file");
  if (file.empty()) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "log_text needs an artifact_file with a file name, e.g. \"notes/summary.txt\"; got '" +
                          artifact_file + "'.");
  }
  auto repository = artifacts::repository_for_run(*store_, tracking_uri_, run_id);
  // The text goes through a file like any artifact, so every repository streams it the same way.
  std::error_code ec;
  std::string pattern = (fs::temp_directory_path(ec) / "mlflow-cpp-text-XXXXXX").string();
  if (ec || ::mkdtemp(pattern.data()) == nullptr) {
    throw MlflowError(ErrorCode::IO_ERROR, "Cannot create a temporary directory for log_text in " + pattern);
  }
  const fs::path temp_dir = pattern;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{temp_dir};
  const fs::path temp_file = temp_dir / std::string(artifacts::artifact_basename(file));
  {
    std::ofstream out(temp_file, std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) throw MlflowError(ErrorCode::IO_ERROR, "Cannot write the temporary file " + temp_file.string());
  }
  repository->upload_file(temp_file, file);
}

std::vector<FileInfo> MlflowClient::list_artifacts(const std::string& run_id, const std::string& path) {
  validation::validate_run_id(run_id);
  const std::string where = artifacts::normalize_artifact_path(path, "path");
  return artifacts::repository_for_run(*store_, tracking_uri_, run_id)->list(where);
}

std::string MlflowClient::download_artifacts(const std::string& run_id, const std::string& path,
                                             const std::string& dst_dir) {
  namespace fs = std::filesystem;
  validation::validate_run_id(run_id);
  const std::string where = artifacts::normalize_artifact_path(path, "path");
  auto repository = artifacts::repository_for_run(*store_, tracking_uri_, run_id);
  fs::path destination = dst_dir;
  if (destination.empty()) {
    std::error_code ec;
    std::string pattern = (fs::temp_directory_path(ec) / "mlflow-cpp-artifacts-XXXXXX").string();
    if (ec || ::mkdtemp(pattern.data()) == nullptr) {
      throw MlflowError(ErrorCode::IO_ERROR, "Cannot create a temporary directory for the download in " + pattern);
    }
    destination = pattern;
  }
  return repository->download(where, destination).string();
}

}  // namespace mlflow
