#pragma once
// What many tests need around the code under test: a temporary directory, an environment variable set for one
// scope, small file helpers, and the check that a call throws MlflowError with a given code.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/error.hpp"

namespace mlflow::test {

/// A fresh directory under the system temp dir ("<prefix>-XXXXXX", made by mkdtemp), removed with everything in
/// it when the object goes away. Not thread-safe; not copyable.
class TempDir {
 public:
  /// Throws std::system_error when the directory cannot be made.
  explicit TempDir(std::string_view prefix = "mlflow-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  /// path() / name, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Sets an environment variable (or unsets it, for a null value) for one scope and restores what was there
/// before. Not thread-safe: the environment belongs to the whole process.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/// Writes `text` to `path` (binary), creating the parent directories.
void write_file(const std::filesystem::path& path, const std::string& text);
/// The whole file, byte for byte ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);
/// Every regular file below `root`, as sorted relative paths with '/' separators.
std::vector<std::string> files_under(const std::filesystem::path& root);

/// Runs `call` and expects it to throw MlflowError with `code` and a message holding every one of `parts`;
/// anything else is a test failure. Returns the error (a stand-in error when none was thrown).
MlflowError expect_error(const std::function<void()>& call, ErrorCode code, const std::vector<std::string>& parts = {});

}  // namespace mlflow::test
