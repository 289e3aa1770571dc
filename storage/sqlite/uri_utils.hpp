#pragma once
// MLflow's URI helpers (mlflow/utils/uri.py) for artifact locations: pure functions, thread-safe.

#include <initializer_list>
#include <string>
#include <string_view>

namespace mlflow::sqlite {

/// The scheme as Python's urllib.parse.urlparse sees it (lower-case), or "" for a plain path.
std::string uri_scheme(std::string_view uri);

/// MLflow's resolve_uri_if_local: a relative plain path (or relative file: URI) becomes absolute against the
/// current directory, with "." parts and repeated slashes dropped as pathlib does; anything else is unchanged.
std::string resolve_uri_if_local(std::string_view uri);

/// MLflow's append_to_uri_path: joins path parts POSIX-style onto the path of a URI or plain path, keeping the
/// scheme, host and query: ("/r/mlruns", {"0"}) -> "/r/mlruns/0"; ("mlflow-artifacts:/", {"1"}) ->
/// "mlflow-artifacts:/1"; ("s3://b/x?q=1", {"2"}) -> "s3://b/x/2?q=1".
std::string append_to_uri_path(std::string_view uri, std::initializer_list<std::string_view> parts);

}  // namespace mlflow::sqlite
