#pragma once
// Which artifact repository a run uses, as the client's store sees it, and the artifacts of spooled runs: a run
// that exists only in the local spool (its server was away when it started) keeps its files next to the spool
// until its server run exists, then they are uploaded there.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlflow/tracking_store.hpp"
#include "storage/spool/spool.hpp"
#include "tracker/artifacts/artifact_repository.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::artifacts {

/// The repository of run `run_id` in `store` (the client's store, possibly a LoggingStore over a SpooledStore):
/// for a run only in the spool, the local directory spooled_artifact_dir(...); otherwise the one its
/// artifact_uri names (open_artifact_repository with `tracking_uri`).
std::unique_ptr<ArtifactRepository> repository_for_run(TrackingStore& store, const std::string& tracking_uri,
                                                       const std::string& run_id);

/// Where the artifacts of a spooled run wait: "<spool_path>.artifacts/<local_run_id>" (next to the
/// "<spool_path>.locks" directory of the spool).
std::filesystem::path spooled_artifact_dir(const std::string& spool_path, std::string_view local_run_id);

/// True when files of that run wait to be uploaded.
bool has_spooled_artifacts(const std::string& spool_path, std::string_view local_run_id);

/// The regular files under `dir` as (artifact path relative to it, local path), in path order, leaving out files
/// still being copied in (temporary names). Throws MlflowError (IO_ERROR) when the directory cannot be read.
std::vector<std::pair<std::string, std::filesystem::path>> files_to_upload(const std::filesystem::path& dir);

/// What upload_spooled_artifacts did. A value type.
struct SpooledArtifactUpload {
  std::int64_t files = 0;
  std::int64_t bytes = 0;
};

/// Uploads every file waiting for `run` (run.server_run_id must be set) into that server run, through the
/// repository of its artifact_uri (server.get_run; mlflow-artifacts:/ resolved against run.target_uri), in path
/// order, deleting each local file once the server has it, and the emptied directories at the end. A failure
/// throws MlflowError and leaves the files not yet uploaded for the next call; uploading a file again only
/// overwrites it with the same bytes, so an interrupted call is safe to repeat. Nothing to do: returns zeros
/// without asking the server anything.
/// HTTP transport options from the environment (MLFLOW_HTTP_REQUEST_*, MLFLOW_TRACKING_*).
SpooledArtifactUpload upload_spooled_artifacts(const std::string& spool_path, TrackingStore& server,
                                               const spool::RunRecord& run);
/// The same with explicit transport options (e.g. the background uploader's short timeouts).
SpooledArtifactUpload upload_spooled_artifacts(const std::string& spool_path, TrackingStore& server,
                                               const spool::RunRecord& run, const transport::Options& options);

}  // namespace mlflow::artifacts
