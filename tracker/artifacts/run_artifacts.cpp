#include "tracker/artifacts/run_artifacts.hpp"

#include <algorithm>
#include <system_error>
#include <vector>

#include "mlflow/error.hpp"
#include "tracker/artifacts/artifact_paths.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/sync/spooled_store.hpp"

namespace fs = std::filesystem;

namespace mlflow::artifacts {
namespace {

bool is_temporary_name(const std::string& name) {
  return name.size() > 1 && name.front() == '.' && name.find(".tmp-") != std::string::npos;
}

}  // namespace

std::unique_ptr<ArtifactRepository> repository_for_run(TrackingStore& store, const std::string& tracking_uri,
                                                       const std::string& run_id) {
  TrackingStore* inner = &store;
  if (auto* logging_store = logging::as_logging_store(inner)) inner = &logging_store->inner();
  if (auto* spooled = dynamic_cast<sync::SpooledStore*>(inner)) {
    const auto record = spooled->spool().find_run(run_id, spooled->tracking_uri());
    if (record && record->server_run_id.empty()) {
      // The server has no run to put files into yet: they wait next to the spool for the upload of the run.
      return make_local_repository(spooled_artifact_dir(spooled->spool_path(), record->local_run_id));
    }
  }
  const Run run = store.get_run(run_id);
  return open_artifact_repository(run.info.artifact_uri, tracking_uri);
}

fs::path spooled_artifact_dir(const std::string& spool_path, std::string_view local_run_id) {
  return fs::path(spool_path + ".artifacts") / std::string(local_run_id);
}

bool has_spooled_artifacts(const std::string& spool_path, std::string_view local_run_id) {
  const fs::path dir = spooled_artifact_dir(spool_path, local_run_id);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code stat_ec;
    if (it->is_regular_file(stat_ec) && !is_temporary_name(it->path().filename().string())) return true;
  }
  return false;
}

std::vector<std::pair<std::string, fs::path>> files_to_upload(const fs::path& dir) {
  std::vector<std::pair<std::string, fs::path>> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code stat_ec;
    if (!it->is_regular_file(stat_ec)) continue;
    // A file still being copied in has a temporary name until it is complete.
    if (is_temporary_name(it->path().filename().string())) continue;
    files.emplace_back(it->path().lexically_relative(dir).generic_string(), it->path());
  }
  if (ec) {
    throw MlflowError(ErrorCode::IO_ERROR, "Cannot read the artifacts in " + dir.string() + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

SpooledArtifactUpload upload_spooled_artifacts(const std::string& spool_path, TrackingStore& server,
                                               const spool::RunRecord& run) {
  return upload_spooled_artifacts(spool_path, server, run, transport::Options::from_env());
}

SpooledArtifactUpload upload_spooled_artifacts(const std::string& spool_path, TrackingStore& server,
                                               const spool::RunRecord& run, const transport::Options& options) {
  SpooledArtifactUpload result;
  const fs::path dir = spooled_artifact_dir(spool_path, run.local_run_id);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return result;

  auto files = files_to_upload(dir);
  if (files.empty()) {
    fs::remove_all(dir, ec);
    return result;
  }
  if (run.server_run_id.empty()) {
    throw MlflowError(ErrorCode::INVALID_STATE, "The spooled run " + run.local_run_id +
                                                    " has no server run yet; its artifacts are uploaded after it.");
  }
  const Run server_run = server.get_run(run.server_run_id);
  auto repository = open_artifact_repository(server_run.info.artifact_uri, run.target_uri, options);
  for (const auto& [relative, local] : files) {
    const std::string artifact_file = normalize_artifact_path(relative, "spooled artifact");
    const auto size = fs::file_size(local, ec);
    repository->upload_file(local, artifact_file);
    ++result.files;
    if (!ec) result.bytes += static_cast<std::int64_t>(size);
    std::error_code remove_ec;
    fs::remove(local, remove_ec);
  }
  // Leftover empty directories (and a directory whose files all went) are removed; anything new stays.
  std::vector<fs::path> dirs;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code stat_ec;
    if (it->is_directory(stat_ec)) dirs.push_back(it->path());
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const fs::path& a, const fs::path& b) { return a.native().size() > b.native().size(); });
  for (const auto& d : dirs) fs::remove(d, ec);  // only succeeds when empty
  fs::remove(dir, ec);
  return result;
}

}  // namespace mlflow::artifacts
