#include "tracker/artifacts/http_artifact_repository.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>

#include "mlflow/error.hpp"
#include "tracker/artifacts/artifact_paths.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/transport/http_client.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace mlflow::artifacts {
namespace {

constexpr std::string_view kProxyBase = "/api/2.0/mlflow-artifacts/artifacts";
constexpr std::string_view kProxyMarker = "/mlflow-artifacts/artifacts";

struct SplitUrl {
  std::string scheme;  // lower-case
  std::string netloc;
  std::string path;  // from the first '/' after the netloc, without query or fragment
};

SplitUrl split_url(const std::string& uri) {
  SplitUrl out;
  const auto colon = uri.find(':');
  if (colon == std::string::npos) return out;
  out.scheme = uri.substr(0, colon);
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view rest(uri);
  rest.remove_prefix(colon + 1);
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    const auto end = rest.find_first_of("/?#");
    out.netloc = std::string(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  const auto end = rest.find_first_of("?#");
  out.path = std::string(rest.substr(0, end));
  return out;
}

std::string collapse_slashes(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  return out;
}

// A path taken from a URI may be percent-encoded already; only bytes that may not appear in a URL path at all
// are encoded here, so existing escapes stay as they are.
std::string encode_lenient(std::string_view path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    const bool allowed = std::isalnum(c) != 0 ||
                         std::string_view("-._~!$&'()*+,;=:@/%").find(static_cast<char>(c)) != std::string_view::npos;
    if (allowed) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0x0F];
    }
  }
  return out;
}

std::string snippet(std::string_view body) {
  constexpr std::size_t limit = 300;
  std::string out;
  for (char c : body.substr(0, limit)) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  if (body.size() > limit) out += "...";
  return out;
}

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400:
      return ErrorCode::BAD_REQUEST;
    case 401:
      return ErrorCode::UNAUTHENTICATED;
    case 403:
      return ErrorCode::PERMISSION_DENIED;
    case 404:
      return ErrorCode::RESOURCE_DOES_NOT_EXIST;
    case 405:
      return ErrorCode::ENDPOINT_NOT_FOUND;
    case 408:
      return ErrorCode::DEADLINE_EXCEEDED;
    case 429:
      return ErrorCode::REQUEST_LIMIT_EXCEEDED;
    case 501:
      return ErrorCode::NOT_IMPLEMENTED;
    case 502:
    case 503:
      return ErrorCode::TEMPORARILY_UNAVAILABLE;
    case 504:
      return ErrorCode::DEADLINE_EXCEEDED;
    default:
      return status >= 500 ? ErrorCode::INTERNAL_ERROR : ErrorCode::BAD_REQUEST;
  }
}

/// Artifacts under one http(s) URL. Thread-safe: the HttpClient serialises requests on its connection.
class HttpArtifactRepository final : public ArtifactRepository {
 public:
  /// base: "http(s)://[user:pass@]host[:port][/prefix]"; root: the encoded path below it ("/api/2.0/...").
  HttpArtifactRepository(const std::string& base, std::string root, std::string shown, transport::Options options)
      : http_(base, std::move(options)), root_(std::move(root)), shown_(std::move(shown)) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
  }

  void upload_file(const fs::path& local_file, const std::string& artifact_file) override {
    transport::Request request;
    request.method = "PUT";
    request.target = file_target(artifact_file);
    request.content_type = guess_content_type(artifact_basename(artifact_file));
    const transport::Response response = http_.send_file(request, local_file.string());
    if (response.status / 100 != 2) throw error_for("upload '" + artifact_file + "' to", response);
  }

  std::vector<FileInfo> list(const std::string& dir) override {
    const auto marker = root_.find(kProxyMarker);
    if (marker == std::string::npos) {
      throw MlflowError(ErrorCode::NOT_IMPLEMENTED, "Cannot list the artifacts at " + shown_ +
                                                        ": listing needs an MLflow artifact proxy URL (one containing "
                                                        "/mlflow-artifacts/artifacts).");
    }
    const std::string endpoint = root_.substr(0, marker + kProxyMarker.size());
    std::string tail = percent_decode(root_.substr(marker + kProxyMarker.size()));
    while (!tail.empty() && tail.front() == '/') tail.erase(tail.begin());
    const std::string query_path = dir.empty() ? tail : join_artifact_path(tail, dir);
    transport::Request request;
    request.method = "GET";
    request.target = endpoint + "?path=" + transport::percent_encode(query_path);
    const transport::Response response = http_.send(request);
    if (response.status / 100 != 2) throw error_for("list '" + dir + "' at", response);

    std::vector<FileInfo> out;
    try {
      const json::value parsed = rest::parse_json(response.body);
      const json::object& obj = rest::as_object(parsed, "artifact listing");
      for (const json::value& entry : rest::get_array(obj, "files")) {
        const json::object& file = rest::as_object(entry, "artifact listing entry");
        const std::string name = rest::get_string(file, "path");
        // A server's names are checked like user input before they become local paths.
        const std::string safe = normalize_artifact_path(name, "a name listed by the server");
        FileInfo info;
        info.path = dir.empty() ? safe : join_artifact_path(dir, safe);
        if (const auto it = file.find("is_dir"); it != file.end() && it->value().is_bool()) {
          info.is_dir = it->value().get_bool();
        }
        info.file_size = rest::get_optional_int64(file, "file_size");
        out.push_back(std::move(info));
      }
    } catch (const rest::DecodeError& e) {
      throw MlflowError(ErrorCode::INTERNAL_ERROR,
                        "The artifact listing of " + shown_ + " is not what an MLflow server sends (" + e.what() +
                            "): '" + snippet(response.body) + "'",
                        response.status);
    }
    std::sort(out.begin(), out.end(), [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
    return out;
  }

  void download_file(const std::string& artifact_file, const fs::path& local_file) override {
    transport::Request request;
    request.method = "GET";
    request.target = file_target(artifact_file);
    const transport::Response response = http_.download(request, local_file.string());
    if (response.status / 100 != 2) throw error_for("download '" + artifact_file + "' from", response);
  }

  std::string describe() const override { return shown_; }

 private:
  std::string file_target(const std::string& artifact_file) const {
    return root_ + "/" + encode_url_path(artifact_file);
  }

  MlflowError error_for(const std::string& action, const transport::Response& response) const {
    const std::string gave_up = response.gave_up_reason.empty() ? "" : " (" + response.gave_up_reason + ")";
    const std::string status = "HTTP " + std::to_string(response.status);
    try {
      const json::value parsed = rest::parse_json(response.body);
      if (parsed.is_object()) {
        const json::object& obj = parsed.get_object();
        const std::string code = rest::get_string(obj, "error_code");
        if (!code.empty()) {
          return MlflowError(code,
                             "Could not " + action + " " + shown_ + ": " + rest::get_string(obj, "message") + gave_up,
                             response.status);
        }
      }
    } catch (const rest::DecodeError&) {
    }
    std::string hint;
    if (response.body.find("serve-artifacts") != std::string::npos) {
      hint = " The tracking server does not serve artifacts: start it with --serve-artifacts (the default).";
    } else if (response.status == 401) {
      hint = " Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN.";
    }
    return MlflowError(code_for_status(response.status),
                       "Could not " + action + " " + shown_ + ": " + status + gave_up +
                           (response.body.empty() ? std::string() : ": " + snippet(response.body)) + "." + hint,
                       response.status);
  }

  transport::HttpClient http_;
  std::string root_;
  std::string shown_;
};

std::string without_userinfo(const std::string& netloc) {
  const auto at = netloc.rfind('@');
  return at == std::string::npos ? netloc : netloc.substr(at + 1);
}

}  // namespace

std::string resolve_mlflow_artifacts_uri(const std::string& artifact_uri, const std::string& tracking_uri) {
  const SplitUrl tracking = split_url(tracking_uri);
  if (tracking.scheme != "http" && tracking.scheme != "https") {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "The run's artifact location '" + artifact_uri +
                          "' is served by an MLflow tracking server (mlflow-artifacts:), but the tracking URI '" +
                          tracking_uri +
                          "' is not http(s)://. Set MLFLOW_TRACKING_URI to that server, e.g. http://host:5000.");
  }
  const SplitUrl artifact = split_url(artifact_uri);
  if (!artifact.netloc.empty() && artifact.netloc.front() == ':') {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "The artifact URI '" + artifact_uri + "' has a port but no host name.");
  }
  const std::string netloc = artifact.netloc.empty() ? tracking.netloc : artifact.netloc;
  std::string path;
  if (artifact.path == "/" || artifact.path.empty()) {
    path = std::string(kProxyBase) + "/";
  } else if (artifact.path == kProxyBase) {
    path = std::string(kProxyBase);
  } else {
    path = collapse_slashes(tracking.path + "/" + std::string(kProxyBase) + "/" + artifact.path);
  }
  return tracking.scheme + "://" + netloc + path;
}

std::unique_ptr<ArtifactRepository> make_http_repository(const std::string& artifact_uri, transport::Options options) {
  const SplitUrl url = split_url(artifact_uri);
  if ((url.scheme != "http" && url.scheme != "https") || url.netloc.empty()) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "'" + artifact_uri + "' is not an http(s)://host[:port]/path artifact URI.");
  }
  const std::string base = url.scheme + "://" + url.netloc;
  const std::string shown = url.scheme + "://" + without_userinfo(url.netloc) + url.path;
  return std::make_unique<HttpArtifactRepository>(base, encode_lenient(url.path), shown, std::move(options));
}

std::unique_ptr<ArtifactRepository> make_http_repository(const std::string& artifact_uri) {
  return make_http_repository(artifact_uri, transport::Options::from_env());
}

std::unique_ptr<ArtifactRepository> make_mlflow_artifacts_repository(const std::string& artifact_uri,
                                                                     const std::string& tracking_uri,
                                                                     transport::Options options) {
  return make_http_repository(resolve_mlflow_artifacts_uri(artifact_uri, tracking_uri), std::move(options));
}

std::unique_ptr<ArtifactRepository> make_mlflow_artifacts_repository(const std::string& artifact_uri,
                                                                     const std::string& tracking_uri) {
  return make_mlflow_artifacts_repository(artifact_uri, tracking_uri, transport::Options::from_env());
}

}  // namespace mlflow::artifacts
