// mlflow-cpp status: what is waiting in the local spool for upload.

#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "storage/spool/spool.hpp"
#include "tracker/cli/commands.hpp"
#include "tracker/cli/output.hpp"

namespace mlflow::cli {

namespace json = boost::json;

std::filesystem::path default_spool_path() { return spool::Spool::default_path(); }

// Weak so that the offline work can provide the real one in any file of the executable without
// touching this one; this default only keeps the command honest until then.
__attribute__((weak)) int print_spool_status(CliContext& ctx, const std::filesystem::path& spool_file) {
  const std::string message = "cannot read the spool at " + spool_file.string() + ": not available in this build";
  if (ctx.json) {
    write_json(std::cout, json::object{{"spool", spool_file.string()}, {"error", message}});
  } else {
    std::cerr << "status: " << message << '\n';
  }
  return exit_code::error;
}

void add_status_command(CLI::App& app, CliContext& ctx) {
  auto* status = app.add_subcommand("status", "What is waiting in the local spool for upload, per run and server");
  status->callback([&ctx] {
    const std::filesystem::path spool = default_spool_path();
    std::error_code error;
    if (!std::filesystem::exists(spool, error)) {
      if (ctx.json) {
        write_json(std::cout, json::object{{"spool", spool.string()}, {"exists", false}, {"runs", json::array{}}});
      } else {
        std::cout << "Nothing pending: no spool at " << spool.string() << '\n';
      }
      return;
    }
    ctx.exit_code = print_spool_status(ctx, spool);
  });
}

}  // namespace mlflow::cli
