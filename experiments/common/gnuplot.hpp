#pragma once
// Drawing plots with gnuplot (Debian's gnuplot-nox), run as a child process on a script file.
// Free functions: thread-safe (each call uses its own files and process).

#include <filesystem>
#include <string>

namespace mlflow::experiments {

/// Writes `script` to `<work_dir>/<name>.gp` and runs `gnuplot <that file>` with `work_dir` as its current
/// directory (so the script may name its data and output files relatively). Throws std::runtime_error with
/// gnuplot's own error output when it cannot be started or exits with a failure.
/// The program is $MLFLOW_CPP_GNUPLOT when set, else "gnuplot" from PATH.
void run_gnuplot(const std::string& script, const std::filesystem::path& work_dir, const std::string& name);

/// Text for a gnuplot string literal in double quotes (backslashes and quotes escaped, newlines as \\n).
std::string gnuplot_quote(const std::string& text);

}  // namespace mlflow::experiments
