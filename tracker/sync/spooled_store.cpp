#include "tracker/sync/spooled_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "mlflow/error.hpp"
#include "storage/run_names.hpp"
#include "tracker/logging/env.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/delivery.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow::sync {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// After a failed attempt, start_run and friends do not wait for the server again for this long (the
/// uploader keeps trying and clears it as soon as the server answers).
constexpr std::int64_t DOWN_GRACE_MS = 15000;

/// Ids handed out for experiments named while the server is away; resolved by name at upload.
constexpr std::string_view PROVISIONAL_PREFIX = "offline-";

spool::ItemView view_of(std::int64_t run_key, const logging::LogRecord& r) {
  spool::ItemView v;
  v.run_key = run_key;
  v.key = r.key();
  switch (r.kind()) {
    case logging::LogRecord::Kind::metric:
      v.kind = spool::ItemKind::metric;
      v.value = r.value();
      v.timestamp = r.timestamp();
      v.step = r.step();
      break;
    case logging::LogRecord::Kind::param:
      v.kind = spool::ItemKind::param;
      v.text = r.text();
      break;
    case logging::LogRecord::Kind::tag:
      v.kind = spool::ItemKind::tag;
      v.text = r.text();
      break;
  }
  return v;
}

}  // namespace

SpooledStoreOptions SpooledStoreOptions::from_env() {
  SpooledStoreOptions o;
  o.server_wait = std::chrono::milliseconds(logging::env_int("MLFLOW_CPP_SERVER_WAIT_SECONDS", 3, 0, 3600) * 1000);
  o.upload_wait = std::chrono::milliseconds(logging::env_int("MLFLOW_CPP_UPLOAD_WAIT_SECONDS", 10, 0, 86400) * 1000);
  o.retry_max =
      std::chrono::milliseconds(logging::env_int("MLFLOW_CPP_UPLOAD_RETRY_MAX_SECONDS", 30, 1, 86400) * 1000);
  o.transport = transport::Options::from_env();
  return o;
}

SpooledStore::SpooledStore(const std::string& tracking_uri, SpooledStoreOptions options)
    : uri_(tracking_uri), shown_uri_(transport::redact_password(tracking_uri)), options_(std::move(options)) {
  while (uri_.size() > 1 && uri_.back() == '/') uri_.pop_back();
  spool_path_ = options_.spool_path.empty() ? spool::Spool::default_path() : options_.spool_path;
  server_ = std::make_unique<rest::RestStore>(uri_, options_.transport);
  transport::Options probe = options_.transport;
  probe.request_timeout = std::max(options_.server_wait, std::chrono::milliseconds(1));
  probe.total_timeout = probe.request_timeout;
  probe.max_retries = 0;
  probe_ = std::make_unique<rest::RestStore>(uri_, probe);
  transport::Options upload = options_.transport;
  upload.request_timeout = std::min(upload.request_timeout, options_.upload_request_timeout);
  upload.total_timeout = upload.request_timeout;
  upload.max_retries = 0;  // the uploader backs off and retries by itself, and must never sit in a long wait
  upload_ = std::make_unique<rest::RestStore>(uri_, upload);
  upload_transport_ = upload;

  backoff_ = options_.retry_min;
}

spool::Spool& SpooledStore::spool() {
  // Opened on first use, so that a store that only reads (or is never used) leaves no file behind.
  std::call_once(open_once_, [this] {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(spool_path_).parent_path(), ec);
    auto local = std::make_unique<spool::Spool>(spool_path_);
    local->set_wire_encoder(&rest::append_metric_json);
    upload_spool_ = std::make_unique<spool::Spool>(spool_path_);
    spool_ = std::move(local);
    uploader_ = std::thread([this] { uploader_loop(); });
    opened_.store(true);
  });
  return *spool_;
}

SpooledStore::~SpooledStore() {
  if (!opened_.load()) return;  // nothing was ever logged or read through the spool
  try {
    wait_for(std::nullopt, options_.upload_wait);
  } catch (...) {
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stopping_.store(true);
  wake_.notify_all();
  if (uploader_.joinable()) uploader_.join();
  try {
    std::int64_t items = 0, runs = 0;
    bool news = false;
    std::lock_guard lock(mutex_);
    for (const auto& [key, owned] : owned_) {
      const auto run = spool().get_run(key);
      if (!run || run->abandoned) continue;
      const std::int64_t left = outstanding(spool(), *run);
      if (left == 0) continue;
      items += spool().pending_items(key);
      ++runs;
      auto it = reported_pending_.find(key);
      if (it == reported_pending_.end() || it->second != left) news = true;
    }
    if (runs > 0 && news) {
      const std::string what = items > 0 ? std::to_string(items) + " logged items of " + std::to_string(runs) + " run(s)"
                                         : std::to_string(runs) + " run(s) (their creation or end)";
      message(what + " have not reached " + shown_uri_ + " yet; they are kept in " + spool_path_ +
              " and `mlflow-cpp sync` will deliver them");
    }
  } catch (...) {
  }
}

// ---------------------------------------------------------------------------------------------------------------
// small helpers

void SpooledStore::message(const std::string& line) {
  try {
    if (options_.message_handler) {
      options_.message_handler(line);
    } else {
      std::fprintf(stderr, "mlflow-cpp: %s\n", line.c_str());
    }
  } catch (...) {
  }
}

bool SpooledStore::server_may_be_up() const { return wall_ms() >= server_down_until_ms_.load(); }

bool SpooledStore::note_server_down(const std::string& why, bool announce) {
  server_down_until_ms_.store(wall_ms() + DOWN_GRACE_MS);
  std::lock_guard lock(mutex_);
  if (outage_reported_) return false;
  outage_reported_ = true;
  if (announce) {
    message("the tracking server " + shown_uri_ + " does not answer (" + why +
            "); logging goes on into the local spool " + spool_path_ +
            " and is uploaded when the server is back (or by `mlflow-cpp sync`)");
  }
  return true;
}

void SpooledStore::note_server_up() { server_down_until_ms_.store(0); }

void SpooledStore::register_run(const spool::RunRecord& run) {
  key_by_id_[run.local_run_id] = run.run_key;
  if (!run.server_run_id.empty()) key_by_id_[run.server_run_id] = run.run_key;
  if (owned_.count(run.run_key) == 0) {
    OwnedRun owned;
    owned.local_run_id = run.local_run_id;
    // Held while this process may write the run, so that `mlflow-cpp sync` leaves it alone.
    try {
      owned.owner_lock = spool::FileLock::try_acquire(spool::owner_lock_path(spool_path_, run.local_run_id));
    } catch (...) {
    }
    owned_.emplace(run.run_key, std::move(owned));
  }
}

std::int64_t SpooledStore::resolve_run_locked(const std::string& run_id) {
  auto it = key_by_id_.find(run_id);
  if (it != key_by_id_.end()) return it->second;
  if (auto run = spool().find_run(run_id, uri_)) {
    register_run(*run);
    return run->run_key;
  }
  // A run this store did not create (resumed by id): logging into it is spooled all the same.
  spool::RunRecord run;
  run.local_run_id = spool::new_local_id();
  run.target_uri = uri_;
  run.server_run_id = run_id;
  run.attached = true;
  run.start_time = wall_ms();
  spool().add_run(run);
  register_run(run);
  return run.run_key;
}

std::int64_t SpooledStore::resolve_run(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  return resolve_run_locked(run_id);
}

std::optional<spool::RunRecord> SpooledStore::known_run(const std::string& run_id) {
  std::optional<std::int64_t> key;
  {
    std::lock_guard lock(mutex_);
    auto it = key_by_id_.find(run_id);
    if (it != key_by_id_.end()) key = it->second;
  }
  if (key) return spool().get_run(*key);
  return spool().find_run(run_id, uri_);
}

std::string SpooledStore::server_id_or_throw(const std::string& run_id, const char* what) {
  const auto run = known_run(run_id);
  if (!run) return run_id;
  if (run->server_run_id.empty()) {
    throw MlflowError(ErrorCode::INVALID_STATE,
                      std::string("Cannot ") + what + " run " + run_id + ": it has not reached the server " + shown_uri_ +
                          " yet (it is in the spool " + spool_path_ + "). Run `mlflow-cpp sync` first.");
  }
  return run->server_run_id;
}

std::string SpooledStore::provisional_name(const std::string& experiment_id) {
  std::lock_guard lock(mutex_);
  auto it = provisional_experiments_.find(experiment_id);
  return it == provisional_experiments_.end() ? std::string() : it->second;
}

std::int64_t SpooledStore::outstanding(spool::Spool& spool, const spool::RunRecord& run) {
  return sync::outstanding(spool, run);
}

Run SpooledStore::local_run(const spool::RunRecord& run, const std::string& shown_id) {
  Run out;
  out.info.run_id = shown_id;
  out.info.run_name = run.run_name;
  out.info.experiment_id = run.experiment_id;
  out.info.user_id = run.user_id;
  out.info.status = run_status_from_string(run.status);
  out.info.start_time = run.start_time;
  out.info.end_time = run.end_time;
  out.info.lifecycle_stage = "active";
  // What the run holds so far, from the items still in the spool (nothing was delivered yet).
  std::map<std::string, Metric> latest;
  std::map<std::string, std::string> params, tags;
  for (const auto& it : spool().read_items(run.run_key, 0, std::numeric_limits<std::int32_t>::max())) {
    switch (it.kind) {
      case spool::ItemKind::metric: {
        Metric m{it.key, it.value, it.timestamp, it.step};
        auto found = latest.find(it.key);
        auto rank = [](const Metric& x) {
          return std::make_tuple(x.step, x.timestamp, std::isnan(x.value) ? 0.0 : x.value);
        };
        if (found == latest.end() || rank(found->second) < rank(m)) latest[it.key] = m;
        break;
      }
      case spool::ItemKind::param:
        params[it.key] = it.text;
        break;
      case spool::ItemKind::tag:
        tags[it.key] = it.text;
        break;
      case spool::ItemKind::delete_tag:
        tags.erase(it.key);
        break;
      case spool::ItemKind::metric_block:
        break;  // read back as metrics
    }
  }
  for (auto& [k, m] : latest) out.data.metrics.push_back(m);
  for (auto& [k, v] : params) out.data.params.push_back(Param{k, v});
  for (auto& [k, v] : tags) out.data.tags.push_back(RunTag{k, v});
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// the uploader

void SpooledStore::wake_uploader(bool kick) {
  {
    std::lock_guard lock(mutex_);
    dirty_ = true;
    if (kick) kick_ = true;
  }
  wake_.notify_all();
}

bool SpooledStore::wait_for(std::optional<std::int64_t> run_key, std::chrono::milliseconds timeout) {
  if (!opened_.load()) return true;  // nothing was ever spooled
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  if (stop_) return false;
  dirty_ = true;
  kick_ = true;
  // Only a pass that begins after this point has seen what the caller just spooled: a pass already under way
  // may have counted the run's outstanding work before it, and would end the wait too early.
  const auto start_pass = passes_started_;
  wake_.notify_all();
  auto left = [&] {
    if (run_key) {
      auto it = outstanding_.find(*run_key);
      return it == outstanding_.end() ? std::int64_t{1} : it->second;
    }
    std::int64_t n = 0;
    for (const auto& [key, count] : outstanding_) n += count;
    return n;
  };
  // One attempt after the call is enough to know that the server is away: no point waiting out the timeout.
  progress_.wait_until(lock, deadline, [&] {
    return stop_ || (passes_ > start_pass && (left() == 0 || last_pass_unavailable_));
  });
  return passes_ > start_pass && left() == 0;
}

bool SpooledStore::wait_uploaded(std::chrono::milliseconds timeout) { return wait_for(std::nullopt, timeout); }

UploadBacklog SpooledStore::backlog() {
  UploadBacklog b;
  if (!opened_.load()) return b;
  std::vector<std::int64_t> keys;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, owned] : owned_) keys.push_back(key);
  }
  for (auto key : keys) {
    const auto run = spool().get_run(key);
    if (!run || run->abandoned) continue;
    if (outstanding(spool(), *run) == 0) continue;
    b.items += spool().pending_items(key);
    ++b.runs;
  }
  return b;
}

void SpooledStore::uploader_loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (stop_) return;
        if (kick_ || (dirty_ && Clock::now() >= next_attempt_)) break;
        if (dirty_) {
          wake_.wait_until(lock, next_attempt_);
        } else {
          wake_.wait(lock);
        }
      }
      dirty_ = false;
      kick_ = false;
      ++passes_started_;
    }
    upload_pass();
  }
}

void SpooledStore::upload_pass() {
  std::vector<std::pair<std::int64_t, std::string>> runs;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, owned] : owned_) runs.emplace_back(key, owned.local_run_id);
  }
  bool unavailable = false;
  std::string why;
  std::map<std::int64_t, std::int64_t> left;
  DeliveryControl control;
  control.artifact_transport = &upload_transport_;
  control.should_stop = [this] { return stopping_.load(); };
  control.on_warning = [this](std::string_view m) { message(std::string(m)); };
  for (const auto& [key, local_id] : runs) {
    try {
      auto run = upload_spool_->get_run(key);
      if (!run) continue;
      // has_pending_items first: counting a large backlog (outstanding) costs a scan of it on every pass.
      if (!run->abandoned && !unavailable &&
          (upload_spool_->has_pending_items(key) || outstanding(*upload_spool_, *run) > 0)) {
        // `mlflow-cpp sync` may be delivering this run right now (--include-running): then it is its turn.
        auto lock = spool::FileLock::try_acquire(spool::delivery_lock_path(spool_path_, local_id));
        if (lock) {
          const auto result = deliver_spooled_run(*upload_spool_, *upload_, key, control);
          if (result.status == DeliveryStatus::unavailable) {
            unavailable = true;
            why = result.error;
          } else if (result.status == DeliveryStatus::refused) {
            message("run " + (run->server_run_id.empty() ? run->local_run_id : run->server_run_id) +
                    " could not be delivered to " + shown_uri_ + ": " + result.error +
                    "; its items stay in " + spool_path_ + " (`mlflow-cpp sync` retries it)");
          }
          run = upload_spool_->get_run(key);
        }
      }
      left[key] = (!run || run->abandoned) ? 0 : outstanding(*upload_spool_, *run);
    } catch (const std::exception& e) {
      // Spool trouble (busy, disk): try again later like an outage.
      unavailable = true;
      why = e.what();
      left[key] = 1;
    }
  }

  bool recovered = false;
  {
    std::lock_guard lock(mutex_);
    ++passes_;
    last_pass_unavailable_ = unavailable;
    outstanding_ = std::move(left);
    if (unavailable) {
      dirty_ = true;  // try again after the back-off
      next_attempt_ = Clock::now() + backoff_;
      backoff_ = std::min(backoff_ * 2, options_.retry_max);
    } else {
      backoff_ = options_.retry_min;
      next_attempt_ = Clock::now();
      recovered = outage_reported_;
      outage_reported_ = false;
    }
  }
  progress_.notify_all();
  if (unavailable) {
    note_server_down(why);
  } else {
    note_server_up();
    if (recovered) message("the tracking server " + shown_uri_ + " answers again; the spooled items are being uploaded");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LogSink

void SpooledStore::write_batch(std::span<const logging::LogRecord> records) {
  if (records.empty()) return;
  std::vector<std::int64_t> keys(records.size());
  {
    std::lock_guard lock(mutex_);
    std::string_view last_id;
    std::int64_t last_key = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto id = records[i].run_id();
      if (i == 0 || id != last_id) {
        last_key = resolve_run_locked(std::string(id));
        last_id = id;
      }
      keys[i] = last_key;
    }
  }
  spool().append(records.size(), [&](std::size_t i) { return view_of(keys[i], records[i]); });
  wake_uploader(false);
}

// ---------------------------------------------------------------------------------------------------------------
// experiments: tried on the server (bounded), provisional while it is away

std::optional<Experiment> SpooledStore::get_experiment_by_name(const std::string& name) {
  if (server_may_be_up()) {
    try {
      auto experiment = probe_->get_experiment_by_name(name);
      note_server_up();
      if (experiment) spool().remember_experiment(uri_, name, experiment->experiment_id);
      return experiment;
    } catch (const MlflowError& e) {
      if (!is_unavailable(e)) throw;
      note_server_down(e.what());
    }
  }
  Experiment experiment;
  experiment.name = name;
  experiment.lifecycle_stage = "active";
  if (auto id = spool().experiment_id_for(uri_, name)) {
    experiment.experiment_id = *id;
    return experiment;
  }
  std::lock_guard lock(mutex_);
  for (const auto& [id, known] : provisional_experiments_) {
    if (known == name) {
      experiment.experiment_id = id;
      return experiment;
    }
  }
  experiment.experiment_id = std::string(PROVISIONAL_PREFIX) + spool::new_local_id().substr(0, 16);
  provisional_experiments_[experiment.experiment_id] = name;
  return experiment;
}

std::string SpooledStore::create_experiment(const std::string& name,
                                            const std::optional<std::string>& artifact_location,
                                            const std::vector<ExperimentTag>& tags) {
  if (server_may_be_up()) {
    try {
      auto id = probe_->create_experiment(name, artifact_location, tags);
      note_server_up();
      spool().remember_experiment(uri_, name, id);
      return id;
    } catch (const MlflowError& e) {
      if (!is_unavailable(e)) throw;
      note_server_down(e.what());
    }
  }
  if (artifact_location || !tags.empty()) {
    message("the experiment '" + name +
            "' will be created by name when its first run is uploaded, without the artifact location and tags "
            "given here (the server is away)");
  }
  return get_experiment_by_name(name)->experiment_id;
}

Experiment SpooledStore::get_experiment(const std::string& experiment_id) {
  if (const auto name = provisional_name(experiment_id); !name.empty()) {
    Experiment e;
    e.experiment_id = experiment_id;
    e.name = name;
    return e;
  }
  if (server_may_be_up()) {
    try {
      auto experiment = probe_->get_experiment(experiment_id);
      note_server_up();
      return experiment;
    } catch (const MlflowError& e) {
      if (!is_unavailable(e)) throw;
      note_server_down(e.what());
    }
  }
  Experiment e;
  e.experiment_id = experiment_id;
  if (auto name = spool().experiment_name_for(uri_, experiment_id)) e.name = *name;
  return e;
}

PagedList<Experiment> SpooledStore::search_experiments(ViewType view_type, std::int64_t max_results,
                                                       const std::string& filter_string,
                                                       const std::vector<std::string>& order_by,
                                                       const std::string& page_token) {
  return server_->search_experiments(view_type, max_results, filter_string, order_by, page_token);
}

void SpooledStore::rename_experiment(const std::string& experiment_id, const std::string& new_name) {
  server_->rename_experiment(experiment_id, new_name);
}

void SpooledStore::delete_experiment(const std::string& experiment_id) { server_->delete_experiment(experiment_id); }

void SpooledStore::restore_experiment(const std::string& experiment_id) {
  server_->restore_experiment(experiment_id);
}

void SpooledStore::set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) {
  server_->set_experiment_tag(experiment_id, tag);
}

// ---------------------------------------------------------------------------------------------------------------
// runs

Run SpooledStore::create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                             const std::vector<RunTag>& tags, const std::string& run_name) {
  spool::RunRecord record;
  record.local_run_id = spool::new_local_id();
  record.target_uri = uri_;
  record.user_id = user_id;
  record.start_time = start_time;
  record.experiment_name = provisional_name(experiment_id);
  record.experiment_id = record.experiment_name.empty() ? experiment_id : std::string();

  std::string why;
  if (server_may_be_up()) {
    try {
      if (record.experiment_id.empty()) {
        record.experiment_id = find_or_create_experiment(*probe_, record.experiment_name);
        spool().remember_experiment(uri_, record.experiment_name, record.experiment_id);
      }
      std::vector<RunTag> with_id = tags;
      with_id.push_back(RunTag{LOCAL_RUN_ID_TAG, record.local_run_id});
      Run run = probe_->create_run(record.experiment_id, user_id, start_time, with_id, run_name);
      note_server_up();
      record.server_run_id = run.info.run_id;
      record.run_name = run.info.run_name;
      {
        std::lock_guard lock(mutex_);
        spool().add_run(record);
        register_run(record);
      }
      return run;
    } catch (const MlflowError& e) {
      if (!is_unavailable(e)) throw;
      why = e.what();
    }
  }
  // One line says both that the server is away and what happens to this run.
  if (why.empty()) why = "it did not answer a moment ago";
  const bool first_notice = note_server_down(why, false);

  // Offline: the run lives in the spool until the uploader (or `mlflow-cpp sync`) creates it on the server.
  record.run_name = run_name;
  if (record.run_name.empty()) {
    for (const auto& t : tags) {
      if (t.key == "mlflow.runName") record.run_name = t.value;
    }
  }
  if (record.run_name.empty()) record.run_name = detail::generate_run_name();
  {
    std::lock_guard lock(mutex_);
    spool().add_run(record);
    register_run(record);
  }
  std::vector<spool::ItemView> items;
  for (const auto& t : tags) {
    spool::ItemView v;
    v.run_key = record.run_key;
    v.kind = spool::ItemKind::tag;
    v.key = t.key;
    v.text = t.value;
    items.push_back(v);
  }
  spool().append(items);
  wake_uploader(false);
  if (first_notice) {
    message("the tracking server " + shown_uri_ + " does not answer (" + why + "); run " + record.local_run_id + " (" +
            record.run_name + ") starts offline: it is kept in the local spool " + spool_path_ +
            " and uploaded when the server is back (or by `mlflow-cpp sync`)");
  } else {
    message("run " + record.local_run_id + " (" + record.run_name + ") starts offline; it will be created on " +
            shown_uri_ + " when the server answers");
  }

  Run run;
  run.info.run_id = record.local_run_id;
  run.info.run_name = record.run_name;
  run.info.experiment_id = experiment_id;
  run.info.user_id = user_id;
  run.info.status = RunStatus::RUNNING;
  run.info.start_time = start_time;
  run.info.lifecycle_stage = "active";
  run.data.tags = tags;
  return run;
}

Run SpooledStore::get_run(const std::string& run_id) {
  if (const auto run = known_run(run_id)) {
    if (run->server_run_id.empty()) return local_run(*run, run_id);
    return server_->get_run(run->server_run_id);
  }
  return server_->get_run(run_id);
}

RunInfo SpooledStore::update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                                      std::optional<std::int64_t> end_time,
                                      const std::optional<std::string>& run_name) {
  const std::int64_t key = resolve_run(run_id);
  if (run_name) {
    spool().set_run_name(key, *run_name);
    spool::ItemView v;
    v.run_key = key;
    v.kind = spool::ItemKind::tag;
    v.key = "mlflow.runName";  // renames the server run, as set-tag does
    v.text = *run_name;
    spool().append({v});
  }
  if (status || end_time) {
    std::string status_name;
    if (status) {
      status_name = std::string(to_string(*status));
    } else {
      status_name = spool().get_run(key)->status;
    }
    spool().set_terminal(key, status_name, end_time);
  }
  wake_uploader(true);

  if (status && is_terminated(*status)) {
    if (!wait_for(key, options_.upload_wait)) {
      const auto run = spool().get_run(key);
      const std::int64_t items = spool().pending_items(key);
      if (run && !run->abandoned) {
        {
          std::lock_guard lock(mutex_);
          reported_pending_[key] = outstanding(spool(), *run);
        }
        message("run " + run_id + " ended with " + std::to_string(items) + " logged items" +
                (run->server_run_id.empty() ? " (and the run itself)" : "") + " not yet on " + shown_uri_ +
                "; they are kept in " + spool_path_ + " and `mlflow-cpp sync` will deliver them");
      }
    }
  }

  const auto run = spool().get_run(key);
  RunInfo info;
  info.run_id = run_id;
  if (run) {
    info.run_name = run->run_name;
    info.experiment_id = run->experiment_id;
    info.user_id = run->user_id;
    info.status = run_status_from_string(run->status);
    info.start_time = run->start_time;
    info.end_time = run->end_time;
  }
  info.lifecycle_stage = "active";
  return info;
}

void SpooledStore::delete_run(const std::string& run_id) {
  server_->delete_run(server_id_or_throw(run_id, "delete"));
}

void SpooledStore::restore_run(const std::string& run_id) {
  server_->restore_run(server_id_or_throw(run_id, "restore"));
}

void SpooledStore::delete_tag(const std::string& run_id, const std::string& key) {
  spool::ItemView v;
  v.run_key = resolve_run(run_id);
  v.kind = spool::ItemKind::delete_tag;
  v.key = key;
  spool().append({v});
  wake_uploader(false);
}

void SpooledStore::log_batch(const std::string& run_id, const std::vector<Metric>& metrics,
                             const std::vector<Param>& params, const std::vector<RunTag>& tags) {
  const std::int64_t key = resolve_run(run_id);
  std::vector<spool::ItemView> items;
  items.reserve(metrics.size() + params.size() + tags.size());
  for (const auto& p : params) items.push_back({key, spool::ItemKind::param, p.key, p.value, 0.0, 0, 0});
  for (const auto& t : tags) items.push_back({key, spool::ItemKind::tag, t.key, t.value, 0.0, 0, 0});
  for (const auto& m : metrics) items.push_back({key, spool::ItemKind::metric, m.key, {}, m.value, m.timestamp, m.step});
  spool().append(items);
  wake_uploader(false);
}

std::vector<Metric> SpooledStore::get_metric_history(const std::string& run_id, const std::string& key) {
  if (const auto run = known_run(run_id); run && run->server_run_id.empty()) {
    std::vector<Metric> out;
    for (const auto& it : spool().read_items(run->run_key, 0, std::numeric_limits<std::int32_t>::max())) {
      if (it.kind == spool::ItemKind::metric && it.key == key) out.push_back(Metric{it.key, it.value, it.timestamp, it.step});
    }
    return out;
  } else if (run) {
    return server_->get_metric_history(run->server_run_id, key);
  }
  return server_->get_metric_history(run_id, key);
}

PagedList<Run> SpooledStore::search_runs(const std::vector<std::string>& experiment_ids,
                                         const std::string& filter_string, ViewType run_view_type,
                                         std::int64_t max_results, const std::vector<std::string>& order_by,
                                         const std::string& page_token) {
  return server_->search_runs(experiment_ids, filter_string, run_view_type, max_results, order_by, page_token);
}

}  // namespace mlflow::sync
