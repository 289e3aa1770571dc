#pragma once
// Artifact repositories over HTTP: the tracking server's artifact proxy (mlflow-artifacts:/ URIs, protocol.md §7)
// and plain http(s):// artifact URIs (MLflow's HttpArtifactRepository).

#include <memory>
#include <string>

#include "tracker/artifacts/artifact_repository.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::artifacts {

/// MLflow's MlflowArtifactsRepository.resolve_uri: "mlflow-artifacts:/1/<run>/artifacts" with tracking URI
/// "http://h:5000/prefix" -> "http://h:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/<run>/artifacts"; a host
/// in the artifact URI ("mlflow-artifacts://other:8080/...") replaces the tracking URI's host and port.
/// Throws MlflowError(INVALID_PARAMETER_VALUE) when the tracking URI is not http(s)://.
std::string resolve_mlflow_artifacts_uri(const std::string& artifact_uri, const std::string& tracking_uri);

/// The repository of an mlflow-artifacts:/ URI (through resolve_mlflow_artifacts_uri).
std::unique_ptr<ArtifactRepository> make_mlflow_artifacts_repository(const std::string& artifact_uri,
                                                                     const std::string& tracking_uri);
std::unique_ptr<ArtifactRepository> make_mlflow_artifacts_repository(const std::string& artifact_uri,
                                                                     const std::string& tracking_uri,
                                                                     transport::Options options);

/// The repository of an http(s):// artifact URI: PUT/GET on "<uri>/<path>"; listing works when the URI goes
/// through an artifact proxy (its path contains "/mlflow-artifacts/artifacts"), as in MLflow.
/// Transport options from the environment unless given.
std::unique_ptr<ArtifactRepository> make_http_repository(const std::string& artifact_uri);
std::unique_ptr<ArtifactRepository> make_http_repository(const std::string& artifact_uri, transport::Options options);

}  // namespace mlflow::artifacts
