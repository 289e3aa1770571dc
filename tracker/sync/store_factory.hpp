#pragma once
// How open_tracking_store wraps the stores: the asynchronous logger in front of both, the spool behind a server.

#include <memory>
#include <string>

#include "mlflow/tracking_store.hpp"

namespace mlflow::sync {

/// A SqliteStore (or any local store) behind a LoggingStore whose sink is that store.
std::shared_ptr<TrackingStore> with_async_logging(std::shared_ptr<TrackingStore> store);

/// The store for an http(s):// URI: a SpooledStore behind a LoggingStore (logging -> spool -> uploader).
/// MLFLOW_CPP_SPOOL=false: a RestStore behind a LoggingStore, so the worker thread sends log-batch requests
/// itself and nothing is kept on disk (what the server does not take is counted as failed).
std::shared_ptr<TrackingStore> open_server_store(const std::string& tracking_uri);

}  // namespace mlflow::sync
