// The shared half of every artifact repository (directories, downloads), the local-directory repository and
// the choice of repository from an artifact URI.

#include "tracker/artifacts/artifact_repository.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <system_error>

#include "mlflow/error.hpp"
#include "storage/sqlite/uri_utils.hpp"
#include "tracker/artifacts/artifact_paths.hpp"
#include "tracker/artifacts/http_artifact_repository.hpp"

namespace fs = std::filesystem;

namespace mlflow::artifacts {
namespace {

MlflowError io_error(const std::string& what, const std::error_code& ec) {
  return MlflowError(ErrorCode::IO_ERROR, what + ": " + ec.message());
}

/// A name next to `target` that no other writer (thread or process) uses, for write-then-rename.
fs::path temporary_sibling(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  return target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(counter.fetch_add(1)));
}

bool is_temporary_name(const std::string& name) {
  return name.size() > 1 && name.front() == '.' && name.find(".tmp-") != std::string::npos;
}

/// A local directory as the artifact root (MLflow's LocalArtifactRepository).
class LocalArtifactRepository final : public ArtifactRepository {
 public:
  explicit LocalArtifactRepository(fs::path root) : root_(std::move(root)) {}

  void upload_file(const fs::path& local_file, const std::string& artifact_file) override {
    const fs::path target = root_ / artifact_file;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw io_error("Cannot create the artifact directory " + target.parent_path().string(), ec);
    if (fs::is_directory(target, ec)) {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, "Cannot store artifact '" + artifact_file +
                                                                "': " + target.string() +
                                                                " is a directory. Choose another artifact path.");
    }
    // Copy under a private name, then rename: readers (the UI, a sync uploading the directory) never see a
    // half-written file under the final name.
    const fs::path temp = temporary_sibling(target);
    fs::copy_file(local_file, temp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw io_error("Cannot copy " + local_file.string() + " to the artifact directory " + root_.string(), ec);
    }
    fs::rename(temp, target, ec);
    if (ec) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw io_error("Cannot move the artifact into place at " + target.string(), ec);
    }
  }

  std::vector<FileInfo> list(const std::string& dir) override {
    std::vector<FileInfo> out;
    const fs::path path = dir.empty() ? root_ : root_ / dir;
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return out;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (is_temporary_name(name)) continue;
      FileInfo info;
      info.path = join_artifact_path(dir, name);
      std::error_code stat_ec;
      info.is_dir = it->is_directory(stat_ec);
      if (!info.is_dir) {
        const auto size = it->file_size(stat_ec);
        if (!stat_ec) info.file_size = static_cast<std::int64_t>(size);
      }
      out.push_back(std::move(info));
    }
    if (ec) throw io_error("Cannot list the artifact directory " + path.string(), ec);
    std::sort(out.begin(), out.end(), [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
    return out;
  }

  void download_file(const std::string& artifact_file, const fs::path& local_file) override {
    const fs::path source = root_ / artifact_file;
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) {
      throw MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST,
                        "No artifact '" + artifact_file + "' in " + root_.string() + " (" + source.string() +
                            " is not a file). list_artifacts shows what the run has.");
    }
    fs::copy_file(source, local_file, fs::copy_options::overwrite_existing, ec);
    if (ec) throw io_error("Cannot copy the artifact " + source.string() + " to " + local_file.string(), ec);
  }

  std::string describe() const override { return "the local directory " + root_.string(); }

 private:
  fs::path root_;
};

}  // namespace

// ---- shared behaviour ----

void ArtifactRepository::log_artifact(const fs::path& local_path, const std::string& artifact_path) {
  std::error_code ec;
  const auto status = fs::status(local_path, ec);
  if (ec || !fs::exists(status)) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Cannot log artifact '" + local_path.string() + "': no such file or directory.");
  }
  if (fs::is_directory(status)) {
    fs::path normal = local_path.lexically_normal();  // "dir/" -> "dir/", whose name is its parent's
    if (!normal.has_filename()) normal = normal.parent_path();
    const std::string name = normal.filename().string();
    log_artifacts(local_path, join_artifact_path(artifact_path, normalize_artifact_path(name, "directory name")));
    return;
  }
  if (!fs::is_regular_file(status)) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Cannot log artifact '" + local_path.string() + "': it is not a regular file or a directory.");
  }
  const std::string name = normalize_artifact_path(local_path.filename().string(), "file name");
  upload_file(local_path, join_artifact_path(artifact_path, name));
}

void ArtifactRepository::log_artifacts(const fs::path& local_dir, const std::string& artifact_path) {
  std::error_code ec;
  if (!fs::is_directory(local_dir, ec)) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "Cannot log artifacts from '" + local_dir.string() + "': it is not a directory.");
  }
  // Collected first, so that a bad name is refused before anything is uploaded.
  std::vector<std::pair<fs::path, std::string>> files;
  const auto options = fs::directory_options::follow_directory_symlink;
  for (fs::recursive_directory_iterator it(local_dir, options, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code stat_ec;
    if (!it->is_regular_file(stat_ec)) continue;
    const std::string relative = it->path().lexically_relative(local_dir).generic_string();
    files.emplace_back(it->path(), join_artifact_path(artifact_path, normalize_artifact_path(relative, "file name")));
  }
  if (ec) throw io_error("Cannot read the directory " + local_dir.string(), ec);
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  for (const auto& [local, remote] : files) upload_file(local, remote);
}

fs::path ArtifactRepository::download(const std::string& path, const fs::path& dst_dir) {
  std::error_code ec;
  fs::create_directories(dst_dir, ec);
  if (ec) throw io_error("Cannot create the download directory " + dst_dir.string(), ec);
  const fs::path local = path.empty() ? dst_dir : dst_dir / path;
  // A directory lists entries below it; a file lists nothing (or itself, on some stores).
  const std::vector<FileInfo> listing = list(path);
  const bool is_dir = path.empty() || (!listing.empty() && listing.front().path != path);
  if (is_dir) {
    fs::create_directories(local, ec);
    if (ec) throw io_error("Cannot create " + local.string(), ec);
    download_tree(path, dst_dir);
  } else {
    fs::create_directories(local.parent_path(), ec);
    if (ec) throw io_error("Cannot create " + local.parent_path().string(), ec);
    download_one(path, local);
  }
  return local;
}

void ArtifactRepository::download_tree(const std::string& dir, const fs::path& dst_dir) {
  for (const FileInfo& info : list(dir)) {
    // Paths from a server are checked like user input: a listing must not write outside dst_dir.
    const std::string entry = normalize_artifact_path(info.path, "listed artifact");
    const fs::path local = dst_dir / entry;
    std::error_code ec;
    if (info.is_dir) {
      fs::create_directories(local, ec);
      if (ec) throw io_error("Cannot create " + local.string(), ec);
      download_tree(entry, dst_dir);
    } else {
      download_one(entry, local);
    }
  }
}

void ArtifactRepository::download_one(const std::string& file, const fs::path& local_file) {
  const fs::path temp = temporary_sibling(local_file);
  try {
    download_file(file, temp);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(temp, local_file, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw io_error("Cannot move the downloaded artifact into place at " + local_file.string(), ec);
  }
}

// ---- choosing a repository ----

fs::path local_path_from_uri(const std::string& uri) {
  const std::string scheme = sqlite::uri_scheme(uri);
  if (scheme.empty()) return fs::path(uri);
  if (scheme != "file") return {};
  std::string_view rest(uri);
  rest.remove_prefix(5);  // "file:"
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    const auto slash = rest.find('/');
    const std::string_view host = rest.substr(0, slash);
    if (!host.empty() && host != "localhost") {
      throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, "The artifact URI '" + uri + "' names the remote host '" +
                                                                std::string(host) +
                                                                "'; file URIs must be local (file:///path).");
    }
    rest = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  return fs::path(percent_decode(rest));
}

std::unique_ptr<ArtifactRepository> make_local_repository(const fs::path& root) {
  return std::make_unique<LocalArtifactRepository>(root);
}

std::unique_ptr<ArtifactRepository> open_artifact_repository(const std::string& artifact_uri,
                                                             const std::string& tracking_uri) {
  const std::string scheme = sqlite::uri_scheme(artifact_uri);
  // The environment is read only where a transport is needed (a malformed variable must not break local files).
  const bool remote = scheme == "mlflow-artifacts" || scheme == "http" || scheme == "https";
  return open_artifact_repository(artifact_uri, tracking_uri,
                                  remote ? transport::Options::from_env() : transport::Options{});
}

std::unique_ptr<ArtifactRepository> open_artifact_repository(const std::string& artifact_uri,
                                                             const std::string& tracking_uri,
                                                             const transport::Options& options) {
  if (artifact_uri.empty()) {
    throw MlflowError(ErrorCode::INVALID_STATE,
                      "The run has no artifact location (empty artifact_uri), so it cannot hold artifacts.");
  }
  const std::string scheme = sqlite::uri_scheme(artifact_uri);
  if (scheme.empty() || scheme == "file") {
    fs::path root = local_path_from_uri(artifact_uri);
    std::error_code ec;
    if (root.is_relative()) root = fs::absolute(root, ec);
    return make_local_repository(root);
  }
  if (scheme == "mlflow-artifacts") return make_mlflow_artifacts_repository(artifact_uri, tracking_uri, options);
  if (scheme == "http" || scheme == "https") return make_http_repository(artifact_uri, options);
  throw MlflowError(ErrorCode::NOT_IMPLEMENTED,
                    "The run's artifact location '" + artifact_uri + "' uses the scheme '" + scheme +
                        "', which mlflow-cpp cannot write (it supports local paths, file://, mlflow-artifacts:/ "
                        "through the tracking server, and http(s)://). Start the tracking server with "
                        "--serve-artifacts so that new experiments get mlflow-artifacts:/ locations.");
}

}  // namespace mlflow::artifacts
