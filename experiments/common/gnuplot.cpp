#include "common/gnuplot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace mlflow::experiments {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";  // gnuplot's escape for a line break inside double quotes
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

void run_gnuplot(const std::string& script, const std::filesystem::path& work_dir, const std::string& name) {
  const std::filesystem::path script_path = work_dir / (name + ".gp");
  const std::filesystem::path err_path = work_dir / (name + ".stderr");
  {
    std::ofstream out(script_path, std::ios::binary);
    out << script;
    if (!out) throw std::runtime_error("cannot write the gnuplot script " + script_path.string());
  }
  const char* env = std::getenv("MLFLOW_CPP_GNUPLOT");
  const std::string program = (env != nullptr && *env != '\0') ? env : "gnuplot";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // gnuplot resolves the script's relative file names against its working directory.
  posix_spawn_file_actions_addchdir_np(&actions, work_dir.c_str());
  const std::string script_arg = script_path.filename().string();
  std::vector<char*> argv{const_cast<char*>(program.c_str()), const_cast<char*>(script_arg.c_str()), nullptr};
  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    throw std::runtime_error("cannot run '" + program + "': " + std::strerror(spawn_error) +
                             ". Install gnuplot (Debian: apt-get install gnuplot-nox) or set MLFLOW_CPP_GNUPLOT.");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(std::string("waitpid on gnuplot failed: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // posix_spawnp reports a missing program as exit status 127 of the child.
    const bool missing = WIFEXITED(status) && WEXITSTATUS(status) == 127;
    throw std::runtime_error("gnuplot failed on " + script_path.string() +
                             (missing ? std::string(": '" + program +
                                                    "' was not found. Install gnuplot (Debian: apt-get install "
                                                    "gnuplot-nox) or set MLFLOW_CPP_GNUPLOT.")
                                      : ": " + read_text(err_path)));
  }
}

}  // namespace mlflow::experiments
