#pragma once
// What `mlflow-cpp sync` and `mlflow-cpp status` do, as a library: deliver what the spool holds, copy runs
// of an MLflow-format SQLite file into a server, and report what is pending.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage/spool/spool.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::sync {

/// Options of one sync. A value type.
struct SyncOptions {
  std::string spool_path;            ///< empty: spool::Spool::default_path()
  std::string from;                  ///< empty: the spool; else "sqlite:///file.db" to copy runs from
  std::string to;                    ///< the server; required with `from`; with the spool, only runs for it
  std::vector<std::string> run_ids;  ///< only these runs (local, server or source ids); empty: all
  bool dry_run = false;              ///< list what would be sent, send nothing
  bool include_running = false;      ///< also runs a live program is still writing (or RUNNING in a file)
  transport::Options transport = transport::Options::from_env();
  const std::atomic<bool>* stop = nullptr;  ///< set (e.g. by SIGINT) to stop after the current request
};

/// What happened to one run. A value type.
struct RunOutcome {
  enum class State {
    delivered,     ///< everything is on the server now
    up_to_date,    ///< there was nothing to send
    would_send,    ///< dry run
    skipped,       ///< left alone (still being written, deleted in the source...); see note
    failed,        ///< see error; the rest is kept for the next sync
    interrupted,   ///< stopped by the caller; resumes from the watermark next time
  };
  State state = State::up_to_date;
  std::string run_id;         ///< as the user knows it (local/server id, or the source run id)
  std::string run_name;
  std::string target;         ///< the server, for showing: its password masked (transport::redact_password)
  std::string server_run_id;  ///< once known
  std::int64_t items = 0;     ///< sent (or, dry run: to send)
  std::int64_t rejected = 0;  ///< refused one by one by the server
  std::int64_t artifacts = 0; ///< artifact files copied (sync --from)
  std::string note;           ///< why skipped / what failed
};

/// Progress as it happens, for a progress bar or plain lines. A value type.
struct SyncEvent {
  enum class Kind { run_started, progress, run_finished } kind = Kind::progress;
  std::size_t run_index = 0;  ///< 0-based
  std::size_t run_count = 0;
  std::int64_t items = 0;     ///< run_started: items to send; progress: items just acknowledged
  const RunOutcome* outcome = nullptr;  ///< run_started and run_finished
};

/// The whole sync. A value type.
struct SyncReport {
  std::vector<RunOutcome> runs;
  std::int64_t items_sent = 0;
  std::string error;  ///< a failure before any run (no spool, bad URI...)
  std::size_t failed() const;
  /// 0 when nothing failed, 1 otherwise.
  int exit_code() const;
};

/// Runs one sync; never throws (failures are in the report). `on_event` may be empty.
SyncReport run_sync(const SyncOptions& options, const std::function<void(const SyncEvent&)>& on_event = {});

/// One spooled run as `mlflow-cpp status` shows it. A value type.
struct SpoolRunStatus {
  spool::RunRecord run;
  std::int64_t pending_items = 0;
  bool needs_create = false;   ///< not on the server yet
  bool needs_status = false;   ///< its end (or status change) is not on the server yet
  bool needs_artifacts = false;  ///< files logged while it was only in the spool wait next to it
  bool being_written = false;  ///< a live program holds it
  bool refused = false;        ///< the server refused it; `mlflow-cpp sync` retries
};

/// Every spooled run with something left to deliver (or refused), oldest first. Throws MlflowError when the
/// file cannot be read.
std::vector<SpoolRunStatus> spool_status(const std::string& spool_path);

}  // namespace mlflow::sync
