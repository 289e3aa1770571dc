// mlflow::flush and MlflowClient::flush: wait for what the asynchronous logger (and a spooled store's
// uploader) still holds.

#include "mlflow/client.hpp"
#include "mlflow/fluent.hpp"
#include "tracker/logging/logging_store.hpp"

namespace mlflow {

bool MlflowClient::flush(std::chrono::milliseconds timeout) {
  // Stores without a logger write synchronously: nothing is waiting.
  auto* store = logging::as_logging_store(store_.get());
  return store == nullptr || store->flush(timeout);
}

bool flush(std::chrono::milliseconds timeout) { return fluent_client().flush(timeout); }

}  // namespace mlflow
