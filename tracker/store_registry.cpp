// open_tracking_store: picks the TrackingStore a tracking URI names, as MLflow's tracking-store registry does.
// Every call opens a new store: caching (one client per URI) is the fluent API's business, not this one's.

#include <memory>
#include <string>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/store_factory.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow {
namespace {

bool starts_with_scheme(const std::string& uri, std::string_view scheme) {
  if (uri.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = uri[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != scheme[i]) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<TrackingStore> open_tracking_store(const std::string& tracking_uri) {
  // Both kinds log through the asynchronous logger (tracker/logging); a server's logging goes through the
  // local spool first (tracker/sync/spooled_store.hpp).
  if (sqlite::SqliteStore::handles(tracking_uri)) {
    return sync::with_async_logging(std::make_shared<sqlite::SqliteStore>(tracking_uri));
  }

  if (starts_with_scheme(tracking_uri, "http://") || starts_with_scheme(tracking_uri, "https://")) {
    // Transport options (timeouts, retries, auth, TLS) come from the environment, as in MLflow.
    return sync::open_server_store(tracking_uri);
  }

  throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                    "Unsupported tracking URI '" + transport::redact_password(tracking_uri) +
                        "'. Supported schemes: sqlite:///relative/path.db, sqlite:////absolute/path.db, "
                        "http://host[:port][/prefix], https://host[:port][/prefix]. Set MLFLOW_TRACKING_URI or call "
                        "mlflow::set_tracking_uri() with one of them.");
}

}  // namespace mlflow
