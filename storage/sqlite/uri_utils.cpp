#include "storage/sqlite/uri_utils.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <vector>

namespace mlflow::sqlite {
namespace {

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

struct SplitUri {
  std::string scheme;
  bool has_netloc = false;
  std::string netloc;
  std::string path;
  std::string query;
  bool has_query = false;
  std::string fragment;
  bool has_fragment = false;
};

// urllib.parse.urlsplit, without the legacy ";params" split (MLflow's locations never use it).
SplitUri split(std::string_view uri) {
  SplitUri out;
  out.scheme = uri_scheme(uri);
  std::string_view rest = uri;
  if (!out.scheme.empty()) rest.remove_prefix(out.scheme.size() + 1);
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    const auto end = rest.find_first_of("/?#");
    out.has_netloc = true;
    out.netloc = std::string(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    out.has_fragment = true;
    out.fragment = std::string(rest.substr(hash + 1));
    rest = rest.substr(0, hash);
  }
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    out.has_query = true;
    out.query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  out.path = std::string(rest);
  return out;
}

bool uses_netloc(const std::string& scheme) {
  static const std::array<std::string_view, 25> schemes = {
      "",        "ftp",   "http",  "gopher", "nntp",     "telnet", "imap",  "wais",  "file",
      "mms",     "https", "shttp", "snews",  "prospero", "rtsp",   "rtspu", "rsync", "svn",
      "svn+ssh", "sftp",  "nfs",   "git",    "git+ssh",  "ws",     "wss"};
  return std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
}

// urllib.parse.urlunsplit.
std::string unsplit(const SplitUri& u) {
  std::string url = u.path;
  if (!u.netloc.empty() || (!u.scheme.empty() && uses_netloc(u.scheme) && url.substr(0, 2) != "//")) {
    if (!url.empty() && url.front() != '/') url = "/" + url;
    url = "//" + u.netloc + url;
  }
  if (!u.scheme.empty()) url = u.scheme + ":" + url;
  if (!u.query.empty()) url += "?" + u.query;
  if (!u.fragment.empty()) url += "#" + u.fragment;
  return url;
}

// posixpath.join(prefix, suffix.lstrip("/")) unless prefix is empty (MLflow's
// _join_posixpaths_and_append_absolute_suffixes).
std::string join_posix(std::string_view prefix, std::string_view suffix) {
  if (prefix.empty()) return std::string(suffix);
  while (!suffix.empty() && suffix.front() == '/') suffix.remove_prefix(1);
  std::string out(prefix);
  if (out.back() != '/') out += '/';
  out += suffix;
  return out;
}

// pathlib.Path.cwd().joinpath(relative).as_posix(): "." and empty parts vanish, ".." stays.
std::string absolute_posix(std::string_view relative) {
  std::string out = std::filesystem::current_path().generic_string();
  std::size_t pos = 0;
  while (pos <= relative.size()) {
    auto end = relative.find('/', pos);
    if (end == std::string_view::npos) end = relative.size();
    const auto part = relative.substr(pos, end - pos);
    if (!part.empty() && part != ".") {
      if (out.empty() || out.back() != '/') out += '/';
      out += part;
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace

std::string uri_scheme(std::string_view uri) {
  const auto colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(uri.front())) return "";
  for (std::size_t i = 0; i < colon; ++i) {
    if (!is_scheme_char(uri[i])) return "";
  }
  std::string scheme(uri.substr(0, colon));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  return scheme;
}

std::string resolve_uri_if_local(std::string_view uri) {
  if (uri.empty()) return std::string(uri);
  const SplitUri u = split(uri);
  if (u.scheme.empty()) {
    if (uri.front() == '/') return std::string(uri);
    return absolute_posix(uri);
  }
  if (u.scheme == "file") {
    const bool local_host = u.netloc.empty() || u.netloc == "." || u.netloc.rfind("localhost", 0) == 0 ||
                            u.netloc.rfind("127.0.0.1", 0) == 0;
    if (!local_host || (!u.path.empty() && u.path.front() == '/')) return std::string(uri);
    SplitUri resolved = u;
    resolved.netloc.clear();
    resolved.path = absolute_posix(u.path);
    return unsplit(resolved);
  }
  return std::string(uri);
}

std::string append_to_uri_path(std::string_view uri, std::initializer_list<std::string_view> parts) {
  std::string path;
  for (const auto part : parts) path = join_posix(path, part);
  SplitUri u = split(uri);
  if (u.scheme.empty()) return join_posix(uri, path);
  std::string prefix;
  if (u.path.empty() || u.path.front() != '/') {
    // urlunsplit would drop a scheme whose path is relative; MLflow keeps it as a literal prefix.
    prefix = u.scheme + ":";
    u.scheme.clear();
  }
  u.path = join_posix(u.path, path);
  return prefix + unsplit(u);
}

}  // namespace mlflow::sqlite
