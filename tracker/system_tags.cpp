// Context tags of a new run, resolved the way MLflow's Python run-context providers do (Default, Git,
// SystemEnvironment), without spawning git: HEAD and refs are read from the repository files.

#include "tracker/system_tags.hpp"

#include <pwd.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "mlflow/error.hpp"
#include "mlflow/fluent.hpp"
#include "storage/utf8.hpp"

namespace mlflow::detail {
namespace fs = std::filesystem;
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// Tag values must be UTF-8 (validation refuses anything else). A program path or user name from the system may
// hold other bytes; each invalid byte becomes U+FFFD, as Python's "replace" error handler does.
std::string valid_utf8(const std::string& s) {
  if (!first_invalid_utf8(s)) return s;
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    if (next_code_point(s, i)) {
      out.append(s, start, i - start);
    } else {
      out += "\xEF\xBF\xBD";
    }
  }
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// mlflow_tracking_username from the [mlflow] section of ~/.mlflow/credentials (configparser syntax: keys are
// case-insensitive, '=' or ':' separates, ';' and '#' start comment lines).
std::string credentials_file_username() {
  std::string home = env_or_empty("HOME");
  if (home.empty()) return {};
  const auto text = read_file(fs::path(home) / ".mlflow" / "credentials");
  if (!text) return {};
  std::istringstream lines(*text);
  std::string line;
  bool in_mlflow = false;
  while (std::getline(lines, line)) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      in_mlflow = trim(std::string_view(t).substr(1, t.size() - 2)) == "mlflow";
      continue;
    }
    if (!in_mlflow) continue;
    const auto sep = t.find_first_of("=:");
    if (sep == std::string::npos) continue;
    if (to_lower(trim(std::string_view(t).substr(0, sep))) == "mlflow_tracking_username")
      return trim(std::string_view(t).substr(sep + 1));
  }
  return {};
}

// Python's getpass.getuser(): the environment first, then the password database.
std::string login_name() {
  for (const char* name : {"LOGNAME", "USER", "LNAME", "USERNAME"}) {
    std::string v = env_or_empty(name);
    if (!v.empty()) return v;
  }
  std::vector<char> buffer(16384);
  passwd pwd{};
  passwd* result = nullptr;
  if (getpwuid_r(getuid(), &pwd, buffer.data(), buffer.size(), &result) == 0 && result != nullptr &&
      result->pw_name != nullptr && *result->pw_name != '\0') {
    return result->pw_name;
  }
  char name[256] = {};
  if (getlogin_r(name, sizeof name) == 0 && name[0] != '\0') return name;
  return {};
}

bool is_hex_sha(std::string_view s) {
  if (s.size() != 40 && s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

struct GitDirs {
  fs::path git_dir;     // per-worktree directory: HEAD lives here
  fs::path common_dir;  // shared refs and packed-refs (differs from git_dir in linked worktrees)
};

std::optional<GitDirs> find_git_dirs(const fs::path& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec);
  if (ec) return std::nullopt;
  dir = dir.lexically_normal();
  if (!fs::is_directory(dir, ec)) dir = dir.parent_path();
  while (true) {
    const fs::path dot_git = dir / ".git";
    std::optional<fs::path> git_dir;
    if (fs::is_directory(dot_git, ec)) {
      git_dir = dot_git;
    } else if (fs::is_regular_file(dot_git, ec)) {
      // Linked worktrees and submodules: ".git" is a file "gitdir: <path>".
      if (const auto text = read_file(dot_git); text && text->rfind("gitdir:", 0) == 0) {
        fs::path target = trim(std::string_view(*text).substr(7));
        git_dir = target.is_absolute() ? target : dir / target;
      }
    }
    if (git_dir && fs::is_regular_file(*git_dir / "HEAD", ec)) {
      GitDirs dirs{*git_dir, *git_dir};
      if (const auto common = read_file(*git_dir / "commondir")) {
        fs::path c = trim(*common);
        dirs.common_dir = c.is_absolute() ? c : *git_dir / c;
      }
      return dirs;
    }
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

std::optional<std::string> resolve_ref(const GitDirs& dirs, const std::string& ref, int depth) {
  if (depth > 8 || ref.empty() || ref.find("..") != std::string::npos) return std::nullopt;
  for (const fs::path& base : {dirs.git_dir, dirs.common_dir}) {
    if (const auto text = read_file(base / ref)) {
      const std::string value = trim(*text);
      if (value.rfind("ref:", 0) == 0) return resolve_ref(dirs, trim(std::string_view(value).substr(4)), depth + 1);
      if (is_hex_sha(value)) return to_lower(value);
      return std::nullopt;
    }
  }
  if (const auto packed = read_file(dirs.common_dir / "packed-refs")) {
    std::istringstream lines(*packed);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#' || line[0] == '^') continue;
      const auto space = line.find(' ');
      if (space == std::string::npos) continue;
      if (trim(std::string_view(line).substr(space + 1)) == ref) {
        const std::string sha = line.substr(0, space);
        return is_hex_sha(sha) ? std::optional<std::string>(to_lower(sha)) : std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::string python_str(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string: return std::string(v.get_string());
    case boost::json::kind::bool_: return v.get_bool() ? "True" : "False";
    case boost::json::kind::int64: return std::to_string(v.get_int64());
    case boost::json::kind::uint64: return std::to_string(v.get_uint64());
    case boost::json::kind::double_: return python_float_repr(v.get_double());
    case boost::json::kind::null: return "None";
    default: return boost::json::serialize(v);
  }
}

}  // namespace

std::string program_argv0() {
  if (const auto cmdline = read_file("/proc/self/cmdline")) {
    const std::string argv0 = cmdline->substr(0, cmdline->find('\0'));
    if (!argv0.empty()) return argv0;
  }
  return "<console>";
}

fs::path executable_path() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

std::string current_user() {
  if (std::string v = env_or_empty("MLFLOW_TRACKING_USERNAME"); !v.empty()) return v;
  if (std::string v = credentials_file_username(); !v.empty()) return v;
  if (std::string v = login_name(); !v.empty()) return v;
  return "unknown";
}

std::optional<std::string> git_head_commit(const fs::path& start) {
  try {
    const auto dirs = find_git_dirs(start);
    if (!dirs) return std::nullopt;
    const auto head = read_file(dirs->git_dir / "HEAD");
    if (!head) return std::nullopt;
    const std::string value = trim(*head);
    if (value.rfind("ref:", 0) == 0) return resolve_ref(*dirs, trim(std::string_view(value).substr(4)), 0);
    if (is_hex_sha(value)) return to_lower(value);
  } catch (const std::exception&) {
    // A repository we cannot read is treated like no repository: the tag is optional, as in MLflow.
  }
  return std::nullopt;
}

std::map<std::string, std::string> parse_run_context(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(json, ec);
  if (ec || !parsed.is_object()) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "MLFLOW_RUN_CONTEXT must hold a JSON object of tags such as {\"team\": \"vision\"}, got '" +
                          std::string(json) + "'" + (ec ? " (" + ec.message() + ")" : std::string()));
  }
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : parsed.get_object()) tags[std::string(key)] = python_str(value);
  return tags;
}

std::map<std::string, std::string> resolve_system_tags() {
  std::map<std::string, std::string> tags;
  tags[TAG_USER] = current_user();
  tags[TAG_SOURCE_NAME] = program_argv0();
  tags[TAG_SOURCE_TYPE] = "LOCAL";
  // Python looks for the repository holding sys.argv[0]; for a compiled program that is the executable.
  if (const fs::path exe = executable_path(); !exe.empty()) {
    if (auto commit = git_head_commit(exe.parent_path())) tags[TAG_GIT_COMMIT] = std::move(*commit);
  }
  if (const std::string context = env_or_empty("MLFLOW_RUN_CONTEXT"); !context.empty()) {
    for (auto& [key, value] : parse_run_context(context)) tags[key] = std::move(value);
  }
  for (auto& entry : tags) entry.second = valid_utf8(entry.second);
  return tags;
}

}  // namespace mlflow::detail
