#pragma once
// ArtifactRepository: where a run's files go, chosen from its artifact_uri as MLflow's artifact repository
// registry does (local paths and file:// URIs, mlflow-artifacts:/ through the tracking server, http(s)://).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mlflow/entities.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::artifacts {

/// The files under one artifact root. Implementations stream files from and to disk (no file is held in
/// memory whole). Thread-safe as far as the filesystem and the HTTP client are (calls on distinct paths may
/// run concurrently). Every call throws MlflowError on failure; artifact paths passed in must already be
/// normalised (normalize_artifact_path).
class ArtifactRepository {
 public:
  virtual ~ArtifactRepository() = default;

  /// Stores the regular file `local_file` as `artifact_file` (a relative path with its file name), replacing
  /// any file of that name.
  virtual void upload_file(const std::filesystem::path& local_file, const std::string& artifact_file) = 0;
  /// The direct children of directory `dir` ("" = the root): run-relative paths, sorted by path. A missing
  /// directory, or a file, gives an empty list.
  virtual std::vector<FileInfo> list(const std::string& dir) = 0;
  /// Writes the artifact file to `local_file` (its directory must exist), replacing it.
  virtual void download_file(const std::string& artifact_file, const std::filesystem::path& local_file) = 0;
  /// The artifact root as a user would recognise it, for messages.
  virtual std::string describe() const = 0;

  // ---- written once on top of the three above ----

  /// A file: stored as `<artifact_path>/<file name>`. A directory: its files stored below
  /// `<artifact_path>/<directory name>` (MlflowClient.log_artifact).
  void log_artifact(const std::filesystem::path& local_path, const std::string& artifact_path);
  /// Every regular file below `local_dir` (recursively, symlinks followed) stored below `artifact_path` with its
  /// relative path. Throws INVALID_PARAMETER_VALUE when local_dir is not a directory.
  void log_artifacts(const std::filesystem::path& local_dir, const std::string& artifact_path);
  /// Downloads the file or directory `path` ("" = everything) to `dst_dir/<path>` and returns that path. A
  /// directory is recognised by a listing whose entries are below it, as MLflow does. Files are written under
  /// a temporary name and renamed, so no half-written file is left under its final name.
  std::filesystem::path download(const std::string& path, const std::filesystem::path& dst_dir);

 private:
  void download_tree(const std::string& dir, const std::filesystem::path& dst_dir);
  void download_one(const std::string& file, const std::filesystem::path& local_file);
};

/// The repository for a run's artifact_uri:
///   "/abs/path", "rel/path", "file:///abs/path"       -> the local directory (LocalArtifactRepository)
///   "mlflow-artifacts:/<path>" (or ://host:port/<path>) -> the proxy of the tracking server `tracking_uri`
///                                                        (which must be http(s)://), or of host:port
///   "http(s)://host[:port]/<path>"                    -> that URL directly
/// Other schemes (s3://, gs://, ...) need the storage's own client: NOT_IMPLEMENTED with a message saying so.
/// HTTP transport options (auth, TLS, timeouts, retries) come from the environment, as for the tracking store.
std::unique_ptr<ArtifactRepository> open_artifact_repository(const std::string& artifact_uri,
                                                             const std::string& tracking_uri);
/// The same with explicit HTTP transport options (used only for mlflow-artifacts: and http(s):// URIs).
std::unique_ptr<ArtifactRepository> open_artifact_repository(const std::string& artifact_uri,
                                                             const std::string& tracking_uri,
                                                             const transport::Options& options);

/// A local directory as an artifact root (what sqlite:/// stores use). Files are copied under a temporary name
/// in the destination directory and renamed into place.
std::unique_ptr<ArtifactRepository> make_local_repository(const std::filesystem::path& root);

/// The local path a plain path or file:// URI names ("file:///a%20b" -> "/a b"); std::nullopt-like empty path
/// for anything with another scheme.
std::filesystem::path local_path_from_uri(const std::string& uri);

}  // namespace mlflow::artifacts
