#include "tracker/sync/store_factory.hpp"

#include "tracker/logging/env.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/spooled_store.hpp"

namespace mlflow::sync {

std::shared_ptr<TrackingStore> with_async_logging(std::shared_ptr<TrackingStore> store) {
  auto sink = std::make_shared<logging::StoreSink>(store);
  return std::make_shared<logging::LoggingStore>(std::move(store), std::move(sink), logging::LoggerOptions::from_env());
}

std::shared_ptr<TrackingStore> open_server_store(const std::string& tracking_uri) {
  if (!logging::env_bool("MLFLOW_CPP_SPOOL", true)) {
    return with_async_logging(std::make_shared<rest::RestStore>(tracking_uri));
  }
  auto spooled = std::make_shared<SpooledStore>(tracking_uri, SpooledStoreOptions::from_env());
  std::weak_ptr<SpooledStore> weak = spooled;
  auto drain = [weak](std::chrono::milliseconds timeout) {
    auto store = weak.lock();
    return store ? store->wait_uploaded(timeout) : true;
  };
  // No run check on the caller's thread: the server may be away, and unknown ids are spooled as they are.
  return std::make_shared<logging::LoggingStore>(spooled, spooled, logging::LoggerOptions::from_env(), drain,
                                                 /*verify_runs=*/false);
}

}  // namespace mlflow::sync
