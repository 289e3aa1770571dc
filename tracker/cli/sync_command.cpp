// mlflow-cpp sync: delivers what the local spool holds to its servers, or copies the runs of an MLflow-format
// SQLite file into a server (--from/--to), exactly once and resumably. Also the spool report of `status`.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "tracker/cli/commands.hpp"
#include "tracker/cli/output.hpp"
#include "tracker/sync/sync_runner.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow::cli {

namespace json = boost::json;

namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted.store(true); }

std::string state_name(sync::RunOutcome::State state) {
  using S = sync::RunOutcome::State;
  switch (state) {
    case S::delivered: return "delivered";
    case S::up_to_date: return "up to date";
    case S::would_send: return "would send";
    case S::skipped: return "skipped";
    case S::failed: return "FAILED";
    case S::interrupted: return "interrupted";
  }
  return "?";
}

std::string run_label(const sync::RunOutcome& r) {
  return r.run_id + (r.run_name.empty() ? "" : " (" + r.run_name + ")");
}

/// Draws "[=====>    ] 2/5 runs  12345 points  4567 points/s" on one terminal line, at most 10 times a second.
class ProgressBar {
 public:
  void update(std::size_t runs_done, std::size_t runs, std::int64_t points, bool force = false) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double seconds = std::chrono::duration<double>(now - started_).count();
    const double rate = seconds > 0 ? static_cast<double>(points) / seconds : 0.0;
    constexpr int width = 24;
    const int filled = runs == 0 ? width : static_cast<int>(width * runs_done / runs);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>';
    bar.resize(width, ' ');
    std::fprintf(stderr, "\r[%s] %zu/%zu runs  %lld points  %.0f points/s\033[K", bar.c_str(), runs_done, runs,
                 static_cast<long long>(points), rate);
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear() {
    if (!drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
  bool drawn_ = false;
};

json::object outcome_json(const sync::RunOutcome& r) {
  return json::object{{"run_id", r.run_id},     {"run_name", r.run_name}, {"target", r.target},
                      {"server_run_id", r.server_run_id}, {"state", state_name(r.state)}, {"items", r.items},
                      {"rejected", r.rejected}, {"artifacts", r.artifacts}, {"note", r.note}};
}

struct SyncFlags {
  std::string from;
  std::string to;
  std::string spool;
  std::vector<std::string> runs;
  bool dry_run = false;
  bool include_running = false;
  bool no_progress = false;
};

int do_sync(CliContext& ctx, const SyncFlags& flags) {
  sync::SyncOptions options;
  options.from = flags.from;
  options.to = flags.to;
  options.spool_path = flags.spool.empty() ? default_spool_path().string() : flags.spool;
  options.run_ids = flags.runs;
  options.dry_run = flags.dry_run;
  options.include_running = flags.include_running;
  options.stop = &interrupted;
  interrupted.store(false);
  auto previous = std::signal(SIGINT, on_interrupt);
  auto previous_term = std::signal(SIGTERM, on_interrupt);

  const bool bar_wanted = !ctx.json && !flags.no_progress && isatty(fileno(stderr)) != 0;
  ProgressBar bar;
  std::int64_t points = 0;
  std::size_t runs_done = 0;
  auto on_event = [&](const sync::SyncEvent& e) {
    if (e.kind == sync::SyncEvent::Kind::progress) {
      points += e.items;
      if (bar_wanted) bar.update(runs_done, e.run_count, points);
      return;
    }
    if (e.kind == sync::SyncEvent::Kind::run_started) {
      if (bar_wanted) bar.update(runs_done, e.run_count, points, true);
      return;
    }
    ++runs_done;
    if (ctx.json || e.outcome == nullptr) return;
    const auto& r = *e.outcome;
    if (bar_wanted) bar.clear();
    std::ostringstream line;
    line << state_name(r.state) << "  " << run_label(r) << " -> " << r.target;
    if (r.state == sync::RunOutcome::State::would_send || r.items > 0) {
      line << ": " << r.items << (r.state == sync::RunOutcome::State::would_send ? " items to send" : " items sent");
    }
    if (r.artifacts > 0) line << (r.items > 0 ? ", " : ": ") << r.artifacts << " artifact files copied";
    if (!r.server_run_id.empty() && r.server_run_id != r.run_id) line << " (server run " << r.server_run_id << ")";
    if (!r.note.empty()) line << " - " << r.note;
    std::cout << line.str() << std::endl;
    if (bar_wanted) bar.update(runs_done, e.run_count, points, true);
  };

  const sync::SyncReport report = sync::run_sync(options, on_event);
  if (bar_wanted) bar.clear();
  std::signal(SIGINT, previous);
  std::signal(SIGTERM, previous_term);

  if (ctx.json) {
    json::array runs;
    for (const auto& r : report.runs) runs.push_back(outcome_json(r));
    json::object out{{"runs", std::move(runs)},
                     {"items_sent", report.items_sent},
                     {"failed", report.failed()},
                     {"dry_run", flags.dry_run}};
    if (!report.error.empty()) out["error"] = report.error;
    write_json(std::cout, out);
    return report.exit_code();
  }
  if (!report.error.empty()) {
    std::cerr << "sync: " << report.error << '\n';
    return exit_code::error;
  }
  if (report.runs.empty()) {
    std::cout << (flags.from.empty() ? "Nothing to sync: the spool " + options.spool_path + " holds nothing pending"
                                     : "Nothing to copy from " + transport::redact_password(flags.from))
              << '\n';
    return exit_code::ok;
  }
  std::size_t delivered = 0, skipped = 0, interrupted_runs = 0;
  for (const auto& r : report.runs) {
    if (r.state == sync::RunOutcome::State::delivered) ++delivered;
    if (r.state == sync::RunOutcome::State::skipped) ++skipped;
    if (r.state == sync::RunOutcome::State::interrupted) ++interrupted_runs;
  }
  std::cout << (flags.dry_run ? "Dry run: nothing sent. " : "") << report.runs.size() << " run(s): " << delivered
            << " delivered, " << skipped << " skipped, " << report.failed() << " failed";
  if (interrupted_runs > 0) std::cout << ", " << interrupted_runs << " interrupted";
  std::cout << "; " << report.items_sent << " items sent.\n";
  if (report.failed() > 0) {
    std::cout << "Failed runs keep their data; run `mlflow-cpp sync` again once the problem is fixed:\n";
    for (const auto& r : report.runs) {
      if (r.state == sync::RunOutcome::State::failed) std::cout << "  " << run_label(r) << ": " << r.note << '\n';
    }
  }
  if (interrupted_runs > 0) std::cout << "Interrupted: the next `mlflow-cpp sync` goes on where this one stopped.\n";
  return report.exit_code();
}

}  // namespace

void add_sync_command(CLI::App& app, CliContext& ctx) {
  auto flags = std::make_shared<SyncFlags>();
  auto* cmd = app.add_subcommand(
      "sync",
      "Deliver what the local spool holds to its tracking servers (runs logged while a server was away), or copy "
      "the runs of an MLflow SQLite file into a server with --from sqlite:///file.db --to http://host:port. "
      "Exactly once: an interrupted or repeated sync never duplicates a run or a point.");
  cmd->add_option("--from", flags->from, "Copy runs from this MLflow SQLite store (sqlite:///file.db) instead of the spool");
  cmd->add_option("--to", flags->to,
                  "The tracking server to copy into (with --from); with the spool, only runs for this server");
  cmd->add_option("--run", flags->runs, "Only this run (local, server or source run id); may be repeated");
  cmd->add_option("--spool", flags->spool, "The spool file (default: $MLFLOW_CPP_SPOOL_DIR/spool.db, else "
                                           "~/.local/share/mlflow-cpp/spool.db)");
  cmd->add_flag("--dry-run", flags->dry_run, "List what would be sent; send nothing");
  cmd->add_flag("--include-running", flags->include_running,
                "Also deliver runs a running program is still logging (or RUNNING in the --from file)");
  cmd->add_flag("--no-progress", flags->no_progress, "No progress bar, even on a terminal");
  cmd->callback([&ctx, flags] { ctx.exit_code = do_sync(ctx, *flags); });
}

int print_spool_status(CliContext& ctx, const std::filesystem::path& spool_file) {
  std::vector<sync::SpoolRunStatus> runs;
  try {
    runs = sync::spool_status(spool_file.string());
  } catch (const std::exception& e) {
    if (ctx.json) {
      write_json(std::cout, json::object{{"spool", spool_file.string()}, {"error", e.what()}});
    } else {
      std::cerr << "status: cannot read the spool " << spool_file.string() << ": " << e.what() << '\n';
    }
    return exit_code::error;
  }
  std::int64_t items = 0;
  for (const auto& r : runs) items += r.pending_items;
  auto state_of = [](const sync::SpoolRunStatus& r) -> std::string {
    if (r.refused) return "refused by the server";
    if (r.being_written) return "being logged (pid " + std::to_string(r.run.owner_pid) + ")";
    if (r.needs_create) return "not on the server yet";
    if (r.pending_items > 0) return "partly uploaded";
    if (r.needs_status) return "end not delivered";
    return "artifacts not uploaded";
  };
  if (ctx.json) {
    json::array list;
    for (const auto& r : runs) {
      list.push_back(json::object{{"run_id", r.run.display_id()},
                                  {"local_run_id", r.run.local_run_id},
                                  {"server_run_id", r.run.server_run_id},
                                  {"run_name", r.run.run_name},
                                  {"target", transport::redact_password(r.run.target_uri)},
                                  {"status", r.run.status},
                                  {"pending_items", r.pending_items},
                                  {"needs_create", r.needs_create},
                                  {"needs_status", r.needs_status},
                                  {"needs_artifacts", r.needs_artifacts},
                                  {"being_written", r.being_written},
                                  {"refused", r.refused},
                                  {"last_error", r.run.last_error}});
    }
    write_json(std::cout, json::object{{"spool", spool_file.string()},
                                       {"exists", true},
                                       {"pending_items", items},
                                       {"runs", std::move(list)}});
    return exit_code::ok;
  }
  if (runs.empty()) {
    std::cout << "Nothing pending in " << spool_file.string() << '\n';
    return exit_code::ok;
  }
  Table table({"RUN", "NAME", "SERVER", "STATUS", "PENDING", "STATE", "LAST ERROR"});
  table.align_right(4);
  for (const auto& r : runs) {
    std::string error = r.run.last_error;
    if (error.size() > 60) error = error.substr(0, 57) + "...";
    table.add_row({r.run.display_id(), r.run.run_name, transport::redact_password(r.run.target_uri), r.run.status,
                   std::to_string(r.pending_items), state_of(r), error});
  }
  table.print(std::cout);
  std::cout << '\n'
            << items << " item(s) of " << runs.size() << " run(s) wait in " << spool_file.string()
            << "; `mlflow-cpp sync` delivers them.\n";
  return exit_code::ok;
}

}  // namespace mlflow::cli
