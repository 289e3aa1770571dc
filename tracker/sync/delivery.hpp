#pragma once
// Delivering one spooled run to its tracking server exactly once: shared by the background uploader of a
// SpooledStore and by `mlflow-cpp sync`.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/entities.hpp"
#include "mlflow/error.hpp"
#include "mlflow/tracking_store.hpp"
#include "storage/spool/spool.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::sync {

/// The run tag that ties a server run to the local run it was made from; how a server run is found again
/// after a lost runs/create answer, an interrupted sync or a second sync.
inline constexpr const char* LOCAL_RUN_ID_TAG = "mlflow-cpp.local_run_id";

/// True when the error means "the server is not there or not answering now" (no HTTP answer, or 408, 429,
/// 500, 502, 503, 504), or the answer was not the server's verdict on the data (a 2xx that is not MLflow's
/// JSON, a redirect, no such endpoint, 401/403, a 4xx page without MLflow's JSON error from a proxy), so the
/// same request may succeed later and the items are kept; false for a refusal of the request itself.
bool is_unavailable(const MlflowError& error);

/// runs/search filter that finds the server run made from a local run id.
std::string local_run_id_filter(std::string_view local_run_id);

enum class DeliveryStatus {
  complete,     ///< everything spooled for the run is on the server (status too, if it was set)
  stopped,      ///< should_stop said so; nothing wrong
  unavailable,  ///< the server did not answer; try again later
  refused,      ///< the server refused the run for good (deleted...); see error. Not retried automatically.
};

/// What one delivery did. A value type.
struct DeliveryResult {
  DeliveryStatus status = DeliveryStatus::complete;
  std::int64_t items_sent = 0;      ///< acknowledged by the server in this call
  std::int64_t items_rejected = 0;  ///< refused one by one by the server (reported through on_warning)
  bool created_run = false;         ///< this call made the server run
  std::int64_t artifacts_uploaded = 0;  ///< files logged while the run was only in the spool
  std::string error;
};

/// Hooks of a delivery. All optional. A value type.
struct DeliveryControl {
  std::function<bool()> should_stop;                          ///< checked between requests
  std::function<void(std::int64_t items)> on_progress;        ///< after each acknowledged request
  std::function<void(std::string_view message)> on_warning;  ///< an item or run the server refused
  std::size_t items_per_request = 1000;                       ///< at most the server's 1000
  /// Transport of artifact uploads (files logged while the run was only in the spool); null: from the
  /// environment.
  const transport::Options* artifact_transport = nullptr;
};

/// Delivers one spooled run to `server` (a store talking to run.target_uri): finds the server run through
/// LOCAL_RUN_ID_TAG or creates it (its experiment found or created by name when only the name is known),
/// sends the items above the watermark in order, in server-legal log-batch requests, moving the watermark on
/// each acknowledgement, uploads the artifacts kept for it next to the spool, then sends a pending status
/// change. Items that may have been applied by a request
/// whose answer was lost are compared with the server's metric history first, so none is stored twice.
/// The caller must hold the run's delivery lock. Never throws for server or spool trouble: see the result.
DeliveryResult deliver_spooled_run(spool::Spool& spool, TrackingStore& server, std::int64_t run_key,
                                   const DeliveryControl& control = {});

/// Items, a missing server run, a status change or artifacts still to deliver for `run` (0: nothing).
std::int64_t outstanding(spool::Spool& spool, const spool::RunRecord& run);

/// Finds the experiment `name` on the server or creates it; refuses (INVALID_STATE) a deleted one.
std::string find_or_create_experiment(TrackingStore& server, const std::string& name);

/// The server run made from `local_run_id` in `experiment_id`, found through LOCAL_RUN_ID_TAG (deleted runs
/// too); empty when there is none.
std::string find_run_by_local_id(TrackingStore& server, const std::string& experiment_id,
                                 const std::string& local_run_id);

/// Metrics of `candidates` (in order) that the server does not already hold for `run_id`, comparing key,
/// timestamp, step and value as the server stores it (NaN equal to NaN, +-Inf as +-DBL_MAX).
std::vector<Metric> metrics_missing_on_server(TrackingStore& server, const std::string& run_id,
                                              const std::vector<Metric>& candidates);

}  // namespace mlflow::sync
