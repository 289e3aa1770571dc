// mlflow-cpp: list, inspect and sync MLflow experiments and runs from a terminal.
// Exit codes: 0 ok, 1 error from MLflow or the store, 2 usage error, 3 not found.

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "tracker/cli/commands.hpp"

#ifndef MLFLOW_CPP_VERSION
#define MLFLOW_CPP_VERSION "unknown"
#endif

namespace mlflow::cli {

std::string CliContext::tracking_uri() const {
  return tracking_uri_flag.empty() ? mlflow::default_tracking_uri() : tracking_uri_flag;
}

mlflow::MlflowClient& CliContext::client() {
  if (!client_) client_ = std::make_unique<mlflow::MlflowClient>(tracking_uri());
  return *client_;
}

namespace {

int run(int argc, char** argv) {
  CliContext ctx;
  CLI::App app{"mlflow-cpp: list, inspect and sync MLflow experiments and runs.\n"
               "Exit codes: 0 ok, 1 error from MLflow or the store, 2 usage error, 3 not found.",
               "mlflow-cpp"};
  // Global options are accepted after the subcommand too: `mlflow-cpp runs list --json`.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mlflow-cpp ") + MLFLOW_CPP_VERSION,
                       "Print the version and exit");
  app.add_option("--tracking-uri", ctx.tracking_uri_flag,
                 "sqlite:///file.db, sqlite:////abs/file.db or http(s)://host:port "
                 "(default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)");
  app.add_flag("--json", ctx.json, "Print JSON instead of tables (for scripts)");

  add_experiments_command(app, ctx);
  add_runs_command(app, ctx);
  add_metrics_command(app, ctx);
  add_status_command(app, ctx);
  add_sync_command(app, ctx);
  add_doctor_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (argc == 1) {  // a bare `mlflow-cpp`: show what there is
      std::cerr << app.help();
      return exit_code::usage;
    }
    // Help and --version are "errors" with code 0; everything else the user typed wrong is 2.
    const int code = app.exit(error);
    return code == 0 ? exit_code::ok : exit_code::usage;
  } catch (const mlflow::MlflowError& error) {
    std::cerr << "mlflow-cpp: " << error.what() << '\n';
    const bool not_found = error.error_code() == ErrorCode::RESOURCE_DOES_NOT_EXIST ||
                           error.error_code() == ErrorCode::NOT_FOUND;
    return not_found ? exit_code::not_found : exit_code::error;
  }
  return ctx.exit_code;
}

}  // namespace
}  // namespace mlflow::cli

int main(int argc, char** argv) {
  try {
    return mlflow::cli::run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "mlflow-cpp: error: " << error.what() << '\n';
    return mlflow::cli::exit_code::error;
  }
}
