#pragma once
// Artifact paths: the relative, '/'-separated names of files under a run's artifact root. Pure functions,
// thread-safe.

#include <string>
#include <string_view>

namespace mlflow::artifacts {

/// Checks a relative artifact path as MLflow's server does (validate_path_is_safe) and returns it normalised:
/// "." parts, repeated and trailing slashes dropped ("a//./b/" -> "a/b"; "" and "." -> "").
/// Throws MlflowError(INVALID_PARAMETER_VALUE) naming the path and `what` (e.g. "artifact_path") when it is
/// absolute (also "C:..." drive paths), has a ".." part, a backslash, a '#' or "%23", or a NUL.
std::string normalize_artifact_path(std::string_view path, std::string_view what);

/// "a" + "b/c" -> "a/b/c"; either side may be empty.
std::string join_artifact_path(std::string_view base, std::string_view tail);

/// The last part of a '/'-separated path ("a/b.txt" -> "b.txt").
std::string_view artifact_basename(std::string_view path);

/// Percent-encodes each part of a relative path for a URL, keeping the '/' separators.
std::string encode_url_path(std::string_view path);

/// Decodes %XX escapes (file:// URIs); malformed escapes are kept as they are.
std::string percent_decode(std::string_view text);

/// A guess of the Content-Type MLflow's client sends for an upload: text/plain for text-like extensions, the
/// usual types for images and common formats, else application/octet-stream. The server ignores it.
std::string guess_content_type(std::string_view file_name);

}  // namespace mlflow::artifacts
