#include "tracker/sync/sync_runner.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "mlflow/error.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "tracker/artifacts/artifact_paths.hpp"
#include "tracker/artifacts/artifact_repository.hpp"
#include "tracker/artifacts/run_artifacts.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/delivery.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow::sync {

namespace {

using State = RunOutcome::State;

bool stopped(const SyncOptions& o) { return o.stop != nullptr && o.stop->load(); }

bool wanted(const SyncOptions& o, std::initializer_list<std::string_view> ids) {
  if (o.run_ids.empty()) return true;
  for (const auto& want : o.run_ids) {
    for (auto id : ids) {
      if (!id.empty() && id == want) return true;
    }
  }
  return false;
}

std::string trim_slash(std::string uri) {
  while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
  return uri;
}

/// One RestStore per server, with the user's transport options.
class Servers {
 public:
  explicit Servers(transport::Options options) : options_(std::move(options)) {}
  rest::RestStore& get(const std::string& uri) {
    auto& slot = stores_[uri];
    if (!slot) slot = std::make_unique<rest::RestStore>(uri, options_);
    return *slot;
  }

 private:
  transport::Options options_;
  std::map<std::string, std::unique_ptr<rest::RestStore>> stores_;
};

void emit(const std::function<void(const SyncEvent&)>& on_event, SyncEvent::Kind kind, std::size_t index,
          std::size_t count, std::int64_t items, const RunOutcome* outcome) {
  if (!on_event) return;
  SyncEvent e;
  e.kind = kind;
  e.run_index = index;
  e.run_count = count;
  e.items = items;
  e.outcome = outcome;
  try {
    on_event(e);
  } catch (...) {
  }
}

// ---------------------------------------------------------------------------------------------------------------
// from the spool

void sync_spool(const SyncOptions& o, SyncReport& report, const std::function<void(const SyncEvent&)>& on_event) {
  const std::string path = o.spool_path.empty() ? spool::Spool::default_path() : o.spool_path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;  // nothing was ever spooled
  spool::Spool spool(path);
  const std::string target_filter = o.to.empty() ? std::string() : trim_slash(o.to);

  struct Candidate {
    spool::RunRecord run;
    std::int64_t pending = 0;
  };
  std::vector<Candidate> candidates;
  for (auto& run : spool.list_runs(target_filter)) {
    if (!wanted(o, {run.local_run_id, run.server_run_id})) continue;
    const std::int64_t left = outstanding(spool, run);
    if (left == 0) continue;
    const std::int64_t pending = spool.pending_items(run.run_key);
    candidates.push_back({std::move(run), pending});
  }

  Servers servers(o.transport);
  std::map<std::string, std::string> unreachable;  // target -> why: not tried again in this sync
  const std::size_t count = candidates.size();
  for (std::size_t i = 0; i < count; ++i) {
    auto& c = candidates[i];
    RunOutcome out;
    out.run_id = c.run.display_id();
    out.run_name = c.run.run_name;
    out.target = transport::redact_password(c.run.target_uri);
    out.server_run_id = c.run.server_run_id;
    emit(on_event, SyncEvent::Kind::run_started, i, count, c.pending, &out);

    if (stopped(o)) {
      out.state = State::interrupted;
    } else {
      // A live program still writing this run keeps delivering it itself.
      std::optional<spool::FileLock> owner = spool::FileLock::try_acquire(spool::owner_lock_path(path, c.run.local_run_id));
      if (!owner && !o.include_running) {
        out.state = State::skipped;
        out.note = "still being written by a running program (pid " + std::to_string(c.run.owner_pid) + " on " +
                   c.run.owner_host + "); use --include-running to deliver what it has logged so far";
      } else if (!o.dry_run && unreachable.count(c.run.target_uri) != 0) {
        out.state = State::failed;
        out.note = "not tried: the server did not answer for an earlier run (" + unreachable[c.run.target_uri] + ")";
      } else if (o.dry_run) {
        out.state = State::would_send;
        out.items = c.pending;
        out.note = c.run.server_run_id.empty() ? "the run will be created" : "";
        if (c.run.terminal_requested && !c.run.terminal_synced) {
          out.note += std::string(out.note.empty() ? "" : "; ") + "status " + c.run.status + " will be set";
        }
      } else {
        // The owner's uploader may be in the middle of a pass: wait for its turn.
        auto delivery = spool::FileLock::acquire(spool::delivery_lock_path(path, c.run.local_run_id), 30000);
        if (!delivery) {
          out.state = State::failed;
          out.note = "another process kept delivering this run for 30 s; try again";
        } else {
          DeliveryControl control;
          control.artifact_transport = &o.transport;
          control.should_stop = [&o] { return stopped(o); };
          control.on_progress = [&](std::int64_t n) {
            report.items_sent += n;
            emit(on_event, SyncEvent::Kind::progress, i, count, n, nullptr);
          };
          control.on_warning = [&](std::string_view m) {
            out.note += std::string(out.note.empty() ? "" : "; ") + std::string(m);
          };
          const auto result = deliver_spooled_run(spool, servers.get(c.run.target_uri), c.run.run_key, control);
          out.items = result.items_sent;
          out.rejected = result.items_rejected;
          if (auto after = spool.get_run(c.run.run_key)) out.server_run_id = after->server_run_id;
          switch (result.status) {
            case DeliveryStatus::complete:
              out.state = (result.items_sent > 0 || result.created_run || result.artifacts_uploaded > 0 ||
                           (c.run.terminal_requested && !c.run.terminal_synced))
                              ? State::delivered
                              : State::up_to_date;
              if (out.rejected > 0) out.state = State::failed;
              break;
            case DeliveryStatus::stopped:
              out.state = State::interrupted;
              break;
            case DeliveryStatus::unavailable:
              out.state = State::failed;
              out.note = "the server did not answer: " + result.error;
              unreachable[c.run.target_uri] = result.error;
              break;
            case DeliveryStatus::refused:
              out.state = State::failed;
              out.note = "the server refused the run: " + result.error;
              break;
          }
        }
      }
    }
    report.runs.push_back(out);
    emit(on_event, SyncEvent::Kind::run_finished, i, count, 0, &report.runs.back());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// from an MLflow-format SQLite file

struct SourceRun {
  std::string run_id, name, experiment_id, experiment_name, user_id, status, lifecycle, artifact_uri;
  std::int64_t start_time = 0;
  std::optional<std::int64_t> end_time;
};

std::vector<SourceRun> source_runs(sqlite::Database& db) {
  std::vector<SourceRun> out;
  sqlite::Statement st(db,
                       "SELECT r.run_uuid, coalesce(r.name, ''), r.experiment_id, coalesce(e.name, ''), "
                       "coalesce(r.user_id, ''), coalesce(r.status, 'RUNNING'), coalesce(r.start_time, 0), r.end_time, "
                       "coalesce(r.lifecycle_stage, 'active'), coalesce(r.artifact_uri, '') FROM runs r LEFT JOIN "
                       "experiments e ON "
                       "e.experiment_id = r.experiment_id ORDER BY r.start_time, r.run_uuid");
  while (st.step()) {
    SourceRun r;
    r.run_id = st.get_text(0);
    r.name = st.get_text(1);
    r.experiment_id = st.get_text(2);
    r.experiment_name = st.get_text(3);
    r.user_id = st.get_text(4);
    r.status = st.get_text(5);
    r.start_time = st.get_int64(6);
    r.end_time = st.get_optional_int64(7);
    r.lifecycle = st.get_text(8);
    r.artifact_uri = st.get_text(9);
    out.push_back(std::move(r));
  }
  return out;
}

std::int64_t count_metrics_after(sqlite::Database& db, const std::string& run_id, std::int64_t after) {
  sqlite::Statement st(db, "SELECT count(*) FROM metrics WHERE run_uuid = ? AND rowid > ?");
  st.bind(1, run_id).bind(2, after);
  return st.step() ? st.get_int64(0) : 0;
}

struct SourceMetric {
  std::int64_t rowid = 0;
  Metric metric;
};

std::vector<SourceMetric> read_metrics(sqlite::Database& db, const std::string& run_id, std::int64_t after,
                                       std::size_t limit) {
  sqlite::Statement st(db,
                       "SELECT rowid, key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND rowid > ? "
                       "ORDER BY rowid LIMIT ?");
  st.bind(1, run_id).bind(2, after).bind(3, static_cast<std::int64_t>(limit));
  std::vector<SourceMetric> out;
  while (st.step()) {
    SourceMetric m;
    m.rowid = st.get_int64(0);
    m.metric.key = st.get_text(1);
    m.metric.value = st.get_int64(5) != 0 ? std::numeric_limits<double>::quiet_NaN() : st.get_double(2);
    m.metric.timestamp = st.get_int64(3);
    m.metric.step = st.get_int64(4);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> read_pairs(sqlite::Database& db, const char* table,
                                                            const std::string& run_id) {
  sqlite::Statement st(db, std::string("SELECT key, coalesce(value, '') FROM ") + table +
                               " WHERE run_uuid = ? ORDER BY key");
  st.bind(1, run_id);
  std::vector<std::pair<std::string, std::string>> out;
  while (st.step()) out.emplace_back(st.get_text(0), st.get_text(1));
  return out;
}

std::vector<ExperimentTag> experiment_tags(sqlite::Database& db, const std::string& experiment_id) {
  sqlite::Statement st(db, "SELECT key, coalesce(value, '') FROM experiment_tags WHERE experiment_id = ? ORDER BY key");
  st.bind(1, experiment_id);
  std::vector<ExperimentTag> out;
  while (st.step()) out.push_back(ExperimentTag{st.get_text(0), st.get_text(1)});
  return out;
}

/// The server experiment for a source run: the one of the same name, or a new one with the source experiment's
/// tags. Its artifact location is the server's choice: the source's is a path on this machine.
std::string target_experiment(sqlite::Database& db, TrackingStore& server, const SourceRun& run) {
  if (run.experiment_name.empty()) return "0";
  if (!server.get_experiment_by_name(run.experiment_name)) {
    try {
      return server.create_experiment(run.experiment_name, std::nullopt, experiment_tags(db, run.experiment_id));
    } catch (const MlflowError& e) {
      if (e.error_code() != ErrorCode::RESOURCE_ALREADY_EXISTS) throw;  // made meanwhile by someone else
    }
  }
  return find_or_create_experiment(server, run.experiment_name);
}

/// Uploads the files of a source run whose artifacts are a local directory into the server run; returns how many.
/// Uploading a file again overwrites it with the same bytes, so a sync that was interrupted may simply repeat.
std::int64_t copy_artifacts(TrackingStore& server, const std::string& target, const SourceRun& run,
                            const std::string& server_run_id, const SyncOptions& o, RunOutcome& out) {
  if (run.artifact_uri.empty()) return 0;
  const std::filesystem::path dir = artifacts::local_path_from_uri(run.artifact_uri);
  if (dir.empty()) {
    out.note = "artifacts not copied: " + run.artifact_uri + " is not a local directory";
    return 0;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return 0;
  const auto files = artifacts::files_to_upload(dir);
  if (files.empty()) return 0;
  const Run server_run = server.get_run(server_run_id);
  auto repository = artifacts::open_artifact_repository(server_run.info.artifact_uri, target, o.transport);
  std::int64_t copied = 0;
  for (const auto& [relative, local] : files) {
    if (stopped(o)) throw std::runtime_error("interrupted");
    repository->upload_file(local, artifacts::normalize_artifact_path(relative, "artifact"));
    ++copied;
  }
  return copied;
}

/// Copies one run; throws MlflowError (unavailable or refused) and keeps the watermark current as it goes.
void copy_run(sqlite::Database& db, spool::Spool& spool, TrackingStore& server, const std::string& target,
              const SourceRun& run, spool::SyncState& state, RunOutcome& out, const SyncOptions& o,
              const std::function<void(std::int64_t)>& progress) {
  if (state.server_run_id.empty()) {
    const std::string experiment_id = target_experiment(db, server, run);
    std::string id = find_run_by_local_id(server, experiment_id, run.run_id);
    if (id.empty()) {
      id = server.create_run(experiment_id, run.user_id, run.start_time, {RunTag{LOCAL_RUN_ID_TAG, run.run_id}},
                             run.name)
               .info.run_id;
    }
    state.server_run_id = id;
    spool.put_sync_state(state);
  }
  out.server_run_id = state.server_run_id;

  // Params and tags are idempotent on the server; a run that was still running may have new ones, so
  // they are sent again until its end has been delivered.
  if (!state.meta_synced || !state.terminal_synced) {
    auto params = read_pairs(db, "params", run.run_id);
    std::vector<RunTag> tags;
    for (auto& [k, v] : read_pairs(db, "tags", run.run_id)) {
      if (k != LOCAL_RUN_ID_TAG) tags.push_back(RunTag{k, v});
    }
    std::size_t pi = 0, ti = 0;
    while (pi < params.size() || ti < tags.size()) {
      std::vector<Param> p;
      std::vector<RunTag> t;
      for (; pi < params.size() && p.size() < 100; ++pi) p.push_back(Param{params[pi].first, params[pi].second});
      for (; ti < tags.size() && t.size() < 100; ++ti) t.push_back(tags[ti]);
      server.log_batch(state.server_run_id, {}, p, t);
      out.items += static_cast<std::int64_t>(p.size() + t.size());
      progress(static_cast<std::int64_t>(p.size() + t.size()));
    }
    if (!state.meta_synced) {
      state.meta_synced = true;
      spool.put_sync_state(state);
    }
  }

  for (;;) {
    if (stopped(o)) throw std::runtime_error("interrupted");
    const auto rows = read_metrics(db, run.run_id, state.acked, 1000);
    if (rows.empty()) break;
    std::vector<Metric> metrics;
    metrics.reserve(rows.size());
    for (const auto& r : rows) metrics.push_back(r.metric);
    if (state.inflight > state.acked) {
      // The answer to the last request was lost: send only what the server does not hold.
      std::vector<Metric> uncertain, rest;
      for (const auto& r : rows) (r.rowid <= state.inflight ? uncertain : rest).push_back(r.metric);
      metrics = metrics_missing_on_server(server, state.server_run_id, uncertain);
      metrics.insert(metrics.end(), rest.begin(), rest.end());
    }
    state.inflight = rows.back().rowid;
    spool.put_sync_state(state);
    if (!metrics.empty()) server.log_batch(state.server_run_id, metrics, {}, {});
    state.acked = rows.back().rowid;
    spool.put_sync_state(state);
    out.items += static_cast<std::int64_t>(rows.size());
    progress(static_cast<std::int64_t>(rows.size()));
  }

  // Before the end status, as the uploader does: a finished run on the server has its files.
  if (!state.terminal_synced) {
    out.artifacts = copy_artifacts(server, target, run, state.server_run_id, o, out);
  }

  if (!state.terminal_synced && run.status != "RUNNING" && run.status != "SCHEDULED") {
    server.update_run_info(state.server_run_id, run_status_from_string(run.status), run.end_time, std::nullopt);
    state.terminal_synced = true;
    spool.put_sync_state(state);
  }
}

void sync_sqlite(const SyncOptions& o, SyncReport& report, const std::function<void(const SyncEvent&)>& on_event) {
  if (o.to.empty()) {
    report.error = "--from needs --to: the tracking server to copy the runs into (http://host:port)";
    return;
  }
  if (!rest::RestStore::handles(o.to)) {
    report.error =
        "--to must be an http:// or https:// tracking server URI, not '" + transport::redact_password(o.to) + "'";
    return;
  }
  const std::string target = trim_slash(o.to);
  const std::string source_path = sqlite::SqliteStore::path_from_uri(o.from);
  std::error_code ec;
  if (!std::filesystem::exists(source_path, ec)) {
    report.error = "there is no file " + source_path + " (from " + transport::redact_password(o.from) + ")";
    return;
  }
  const std::string source_key = std::filesystem::absolute(source_path).lexically_normal().string();
  sqlite::Database::Options db_options;
  db_options.create = false;
  sqlite::Database db(source_path, db_options);

  const std::string spool_path = o.spool_path.empty() ? spool::Spool::default_path() : o.spool_path;
  std::filesystem::create_directories(std::filesystem::path(spool_path).parent_path(), ec);
  spool::Spool spool(spool_path);  // keeps the watermarks of copied runs
  rest::RestStore server(target, o.transport);

  struct Candidate {
    SourceRun run;
    spool::SyncState state;
    std::int64_t pending = 0;
  };
  std::vector<Candidate> candidates;
  for (auto& run : source_runs(db)) {
    if (!wanted(o, {run.run_id})) continue;
    Candidate c;
    auto state = spool.get_sync_state(source_key, run.run_id, target);
    if (state) {
      c.state = *state;
    } else {
      c.state.source = source_key;
      c.state.source_run_id = run.run_id;
      c.state.target_uri = target;
    }
    c.pending = count_metrics_after(db, run.run_id, c.state.acked);
    const bool terminal = run.status != "RUNNING" && run.status != "SCHEDULED";
    if (c.state.terminal_synced && c.pending == 0 && terminal) continue;  // done before
    c.run = std::move(run);
    candidates.push_back(std::move(c));
  }

  const std::size_t count = candidates.size();
  for (std::size_t i = 0; i < count; ++i) {
    auto& c = candidates[i];
    RunOutcome out;
    out.run_id = c.run.run_id;
    out.run_name = c.run.name;
    out.target = transport::redact_password(target);
    out.server_run_id = c.state.server_run_id;
    emit(on_event, SyncEvent::Kind::run_started, i, count, c.pending, &out);
    const bool running = c.run.status == "RUNNING" || c.run.status == "SCHEDULED";
    if (stopped(o)) {
      out.state = State::interrupted;
    } else if (c.run.lifecycle == "deleted") {
      out.state = State::skipped;
      out.note = "deleted in " + transport::redact_password(o.from);
    } else if (running && !o.include_running) {
      out.state = State::skipped;
      out.note = "status " + c.run.status + " in the file: it may still be written; use --include-running to copy it";
    } else if (o.dry_run) {
      out.state = State::would_send;
      out.items = c.pending;
      if (c.state.server_run_id.empty()) out.note = "the run will be created";
    } else {
      try {
        copy_run(db, spool, server, target, c.run, c.state, out, o, [&](std::int64_t n) {
          report.items_sent += n;
          emit(on_event, SyncEvent::Kind::progress, i, count, n, nullptr);
        });
        out.state = out.items == 0 && out.artifacts == 0 ? State::up_to_date : State::delivered;
      } catch (const MlflowError& e) {
        out.state = State::failed;
        out.note = (is_unavailable(e) ? "the server did not answer: " : "the server refused it: ") + std::string(e.what());
      } catch (const std::exception& e) {
        out.state = stopped(o) ? State::interrupted : State::failed;
        if (!stopped(o)) out.note = e.what();
      }
    }
    report.runs.push_back(out);
    emit(on_event, SyncEvent::Kind::run_finished, i, count, 0, &report.runs.back());
  }
}

}  // namespace

std::size_t SyncReport::failed() const {
  return static_cast<std::size_t>(
      std::count_if(runs.begin(), runs.end(), [](const RunOutcome& r) { return r.state == State::failed; }));
}

int SyncReport::exit_code() const {
  if (!error.empty() || failed() > 0) return 1;
  for (const auto& r : runs) {
    if (r.state == State::interrupted) return 1;
  }
  return 0;
}

SyncReport run_sync(const SyncOptions& options, const std::function<void(const SyncEvent&)>& on_event) {
  SyncReport report;
  try {
    if (options.from.empty()) {
      sync_spool(options, report, on_event);
    } else {
      sync_sqlite(options, report, on_event);
    }
  } catch (const std::exception& e) {
    report.error = e.what();
  }
  return report;
}

std::vector<SpoolRunStatus> spool_status(const std::string& spool_path) {
  spool::Spool spool(spool_path);
  std::vector<SpoolRunStatus> out;
  for (auto& run : spool.list_runs()) {
    SpoolRunStatus s;
    s.pending_items = spool.pending_items(run.run_key);
    s.needs_create = run.server_run_id.empty();
    s.needs_status = run.terminal_requested && !run.terminal_synced;
    s.refused = run.abandoned;
    s.needs_artifacts = artifacts::has_spooled_artifacts(spool_path, run.local_run_id);
    if (outstanding(spool, run) == 0 && !s.refused) continue;
    s.being_written = !spool::FileLock::try_acquire(spool::owner_lock_path(spool_path, run.local_run_id)).has_value();
    s.run = std::move(run);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace mlflow::sync
