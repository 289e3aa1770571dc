#include "tracker/artifacts/artifact_paths.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "mlflow/error.hpp"
#include "tracker/transport/http_client.hpp"

namespace mlflow::artifacts {
namespace {

[[noreturn]] void refuse(std::string_view path, std::string_view what, std::string_view why) {
  std::string shown;
  for (char c : path) {
    if (c == '\0') {
      shown += "\\0";
    } else {
      shown += c;
    }
  }
  throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                    "Invalid artifact path '" + shown + "' given as " + std::string(what) + ": " + std::string(why) +
                        ". Artifact paths are relative to the run's artifact root, separated by '/', without '..' "
                        "parts, backslashes or '#' (e.g. \"plots/loss.png\").");
}

bool contains_ci(std::string_view text, std::string_view needle) {
  if (needle.size() > text.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      match =
          std::tolower(static_cast<unsigned char>(text[i + j])) == std::tolower(static_cast<unsigned char>(needle[j]));
    }
    if (match) return true;
  }
  return false;
}

}  // namespace

std::string normalize_artifact_path(std::string_view path, std::string_view what) {
  if (path.find('\0') != std::string_view::npos) refuse(path, what, "it contains a NUL character");
  if (path.find('#') != std::string_view::npos || contains_ci(path, "%23")) {
    refuse(path, what, "'#' is not allowed (a URL would cut the path there)");
  }
  if (path.find('\\') != std::string_view::npos) refuse(path, what, "backslashes are not allowed; use '/'");
  if (!path.empty() && path.front() == '/') refuse(path, what, "it is absolute; give a path relative to the run");
  if (path.size() >= 2 && path[1] == ':' && std::isalpha(static_cast<unsigned char>(path[0])) != 0) {
    refuse(path, what, "it looks like an absolute Windows path");
  }
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part == "..") refuse(path, what, "'..' parts would leave the run's artifact directory");
    if (!part.empty() && part != ".") parts.push_back(part);
    start = end + 1;
  }
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

std::string join_artifact_path(std::string_view base, std::string_view tail) {
  if (base.empty()) return std::string(tail);
  if (tail.empty()) return std::string(base);
  std::string out(base);
  if (out.back() != '/') out += '/';
  out += tail;
  return out;
}

std::string_view artifact_basename(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string encode_url_path(std::string_view path) {
  std::string out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (start > 0) out += '/';
    out += transport::percent_encode(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string percent_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string guess_content_type(std::string_view file_name) {
  const auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext(file_name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  // MLflow sends text/plain for the extensions it shows as text in the UI.
  static const char* const text_like[] = {
      "txt", "log", "err",  "cfg", "conf", "cnf", "cf",  "ini", "properties", "prop", "hocon",   "toml",     "yaml",
      "yml", "xml", "json", "js",  "py",   "py3", "csv", "tsv", "md",         "rst",  "mlmodel", "mlproject"};
  for (const char* t : text_like) {
    if (ext == t) return "text/plain";
  }
  static const std::pair<const char*, const char*> known[] = {
      {"png", "image/png"},       {"jpg", "image/jpeg"},       {"jpeg", "image/jpeg"},     {"gif", "image/gif"},
      {"svg", "image/svg+xml"},   {"bmp", "image/bmp"},        {"tif", "image/tiff"},      {"tiff", "image/tiff"},
      {"html", "text/html"},      {"htm", "text/html"},        {"pdf", "application/pdf"}, {"gz", "application/gzip"},
      {"zip", "application/zip"}, {"tar", "application/x-tar"}};
  for (const auto& [e, type] : known) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

}  // namespace mlflow::artifacts
