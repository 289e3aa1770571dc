#pragma once
// RestStore: the TrackingStore of an MLflow tracking server, over its REST API 2.0.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlflow/error.hpp"
#include "mlflow/tracking_store.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::transport {
class HttpClient;
}

namespace mlflow::rest {

/// The page size get_metric_history asks for, as MLflow's Python client does (GET_METRIC_HISTORY_MAX_RESULTS).
inline constexpr std::int64_t METRIC_HISTORY_PAGE_SIZE = 25000;

/// An HTTP error answer that is not MLflow's JSON error (a proxy's or load balancer's page, such as a 400 or 413
/// in HTML): not the tracking server's verdict on the request, which may succeed later. Thrown by RestStore as an
/// MlflowError; the uploader keeps the items for another attempt instead of dropping them as refused. A value type.
class NotMlflowAnswer : public MlflowError {
 public:
  explicit NotMlflowAnswer(const MlflowError& error) : MlflowError(error) {}
};

/// A TrackingStore backed by an MLflow tracking server at "http(s)://host[:port][/prefix]" (MLflow's RestStore).
/// Encodes requests as the server expects them and maps its answers and errors to MlflowError. Thread-safe: calls
/// from several threads share one keep-alive connection, one request at a time.
class RestStore : public TrackingStore {
 public:
  /// Transport options from the environment (MLFLOW_HTTP_REQUEST_*, MLFLOW_TRACKING_*).
  explicit RestStore(const std::string& tracking_uri);
  RestStore(const std::string& tracking_uri, transport::Options options);
  ~RestStore() override;
  RestStore(const RestStore&) = delete;
  RestStore& operator=(const RestStore&) = delete;

  /// True for http:// and https:// URIs.
  static bool handles(const std::string& tracking_uri);

  std::string create_experiment(const std::string& name, const std::optional<std::string>& artifact_location = std::nullopt,
                                const std::vector<ExperimentTag>& tags = {}) override;
  Experiment get_experiment(const std::string& experiment_id) override;
  std::optional<Experiment> get_experiment_by_name(const std::string& name) override;
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
  RunInfo update_run_info(const std::string& run_id, std::optional<RunStatus> status, std::optional<std::int64_t> end_time,
                          const std::optional<std::string>& run_name) override;
  void delete_run(const std::string& run_id) override;
  void restore_run(const std::string& run_id) override;
  void delete_tag(const std::string& run_id, const std::string& key) override;
  /// A runs/log-batch body of metrics already encoded (append_metric_json), for the uploader, which builds the
  /// next body while the previous request is on the wire: begin, then at most 1000 comma-separated metrics, then
  /// end; post_log_batch sends it (errors as log_batch) and hands the buffer back with its capacity.
  static void begin_metrics_body(std::string& body, std::string_view run_id);
  static void end_metrics_body(std::string& body);
  void post_log_batch(std::string& body);

  /// Any size: sent as several runs/log-batch requests, in order (see split_log_batch). Nothing is sent when all
  /// three are empty. A failure stops at the failing request; earlier requests stay applied.
  void log_batch(const std::string& run_id, const std::vector<Metric>& metrics, const std::vector<Param>& params,
                 const std::vector<RunTag>& tags) override;
  /// Pages of METRIC_HISTORY_PAGE_SIZE, following next_page_token until it is absent or a page is empty.
  std::vector<Metric> get_metric_history(const std::string& run_id, const std::string& key) override;
  /// One page; pass the returned next_page_token to get the next.
  PagedList<Run> search_runs(const std::vector<std::string>& experiment_ids, const std::string& filter_string = "",
                             ViewType run_view_type = ViewType::ACTIVE_ONLY,
                             std::int64_t max_results = SEARCH_MAX_RESULTS_DEFAULT,
                             const std::vector<std::string>& order_by = {},
                             const std::string& page_token = "") override;

  // The one-entity endpoints (runs/log-metric, runs/log-parameter, runs/set-tag). The TrackingStore interface
  // logs through log_batch; these exist for callers that want exactly these requests.
  void log_metric_single(const std::string& run_id, const Metric& metric);
  void log_param_single(const std::string& run_id, const Param& param);
  void set_tag_single(const std::string& run_id, const RunTag& tag);

  /// The underlying transport (diagnostics and tests).
  transport::HttpClient& http() noexcept { return *http_; }

 private:
  std::unique_ptr<transport::HttpClient> http_;
};

}  // namespace mlflow::rest
