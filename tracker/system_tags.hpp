#pragma once
// Internal: the context tags MLflow's Python client puts on every new run (mlflow.tracking.context):
// user, source name and type, git commit, and MLFLOW_RUN_CONTEXT. All functions are thread-safe.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mlflow::detail {

inline constexpr const char* TAG_USER = "mlflow.user";
inline constexpr const char* TAG_SOURCE_NAME = "mlflow.source.name";
inline constexpr const char* TAG_SOURCE_TYPE = "mlflow.source.type";
inline constexpr const char* TAG_GIT_COMMIT = "mlflow.source.git.commit";
inline constexpr const char* TAG_RUN_NAME = "mlflow.runName";
inline constexpr const char* TAG_PARENT_RUN_ID = "mlflow.parentRunId";
inline constexpr const char* TAG_NOTE = "mlflow.note.content";

/// argv[0] exactly as the program received it (first entry of /proc/self/cmdline), "<console>" when unknown.
std::string program_argv0();

/// Absolute path of the running executable (/proc/self/exe), empty when unknown.
std::filesystem::path executable_path();

/// The value of mlflow.user: MLFLOW_TRACKING_USERNAME, else mlflow_tracking_username from the [mlflow] section of
/// ~/.mlflow/credentials, else the login name as Python's getpass.getuser() finds it (LOGNAME, USER, LNAME,
/// USERNAME, then the password database), else "unknown".
std::string current_user();

/// The HEAD commit (lower-case hex) of the git work tree containing `start` (a file or a directory), found by
/// walking up to the first `.git` (directory, or file with "gitdir: ..."). Reads HEAD, loose refs and packed-refs
/// directly. std::nullopt when there is no work tree or HEAD does not resolve to a commit (e.g. no commit yet).
std::optional<std::string> git_head_commit(const std::filesystem::path& start);

/// Tags from an MLFLOW_RUN_CONTEXT value: a JSON object; strings are taken as they are, other scalars are printed
/// as Python's str() would. Throws MlflowError(INVALID_PARAMETER_VALUE) when it is not a JSON object.
std::map<std::string, std::string> parse_run_context(std::string_view json);

/// The tags a new run gets before the caller's own: mlflow.user, mlflow.source.name, mlflow.source.type,
/// mlflow.source.git.commit (when the executable is inside a git work tree), then MLFLOW_RUN_CONTEXT.
std::map<std::string, std::string> resolve_system_tags();

}  // namespace mlflow::detail
