#pragma once
// The pieces of the mlflow-cpp command: the shared context, one add_<group>_command per command group,
// and the few helpers several groups use. Internal to the executable.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mlflow/client.hpp"

namespace CLI {
class App;
}

namespace mlflow::cli {

/// Exit codes scripts can rely on (documented in the README).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int error = 1;      ///< MLflow or the store refused or failed (the message says why)
inline constexpr int usage = 2;      ///< bad command line
inline constexpr int not_found = 3;  ///< the experiment, run or metric named does not exist
}  // namespace exit_code

/// What every command shares: the global options and the client, opened on first use.
/// Not thread-safe; the command runs on the main thread.
class CliContext {
 public:
  std::string tracking_uri_flag;  ///< --tracking-uri as given; empty when not given
  bool json = false;              ///< --json
  int exit_code = exit_code::ok;  ///< set by a command that fails without throwing (doctor, sync, status)

  /// --tracking-uri, else MLFLOW_TRACKING_URI, else mlflow::default_tracking_uri().
  std::string tracking_uri() const;
  /// The client for tracking_uri(); throws MlflowError when the store cannot be opened.
  mlflow::MlflowClient& client();

 private:
  std::unique_ptr<mlflow::MlflowClient> client_;
};

void add_experiments_command(CLI::App& app, CliContext& ctx);
void add_runs_command(CLI::App& app, CliContext& ctx);
void add_metrics_command(CLI::App& app, CliContext& ctx);
void add_status_command(CLI::App& app, CliContext& ctx);
void add_doctor_command(CLI::App& app, CliContext& ctx);
/// Owned by the offline work (tracker/cli/sync_command.cpp).
void add_sync_command(CLI::App& app, CliContext& ctx);

/// The experiment a user named: an id when `ref` is all digits and such an experiment exists, else a
/// name. Deleted experiments are found too. Throws MlflowError(RESOURCE_DOES_NOT_EXIST) otherwise.
mlflow::Experiment resolve_experiment(CliContext& ctx, const std::string& ref);

/// "active", "deleted" or "all" (the --view choices) as a ViewType.
mlflow::ViewType view_from_flag(const std::string& view);

/// Follows next_page_token until `max` items (0: all) or the last page. fetch(page_size, token)
/// returns a PagedList<T>.
template <typename T, typename Fetch>
std::vector<T> collect_pages(std::int64_t max, Fetch fetch) {
  std::vector<T> items;
  std::string token;
  do {
    std::int64_t page_size = 1000;
    if (max > 0) page_size = std::min<std::int64_t>(page_size, max - static_cast<std::int64_t>(items.size()));
    auto page = fetch(page_size, token);
    for (auto& item : page.items) items.push_back(std::move(item));
    token = std::move(page.next_page_token);
  } while (!token.empty() && (max <= 0 || static_cast<std::int64_t>(items.size()) < max));
  if (max > 0 && static_cast<std::int64_t>(items.size()) > max) items.resize(static_cast<std::size_t>(max));
  return items;
}

/// The spool file `status` and `sync` look at (spool::Spool::default_path()): $MLFLOW_CPP_SPOOL_DIR/spool.db,
/// else $XDG_DATA_HOME/mlflow-cpp/spool.db, else ~/.local/share/mlflow-cpp/spool.db.
std::filesystem::path default_spool_path();

/// Prints what is pending in an existing spool file, per run and target (a table, or JSON with
/// ctx.json) and returns the exit code. To be provided by the offline work; until then a weak
/// default in status_command.cpp says that this build cannot read the spool.
int print_spool_status(CliContext& ctx, const std::filesystem::path& spool_file);

}  // namespace mlflow::cli
