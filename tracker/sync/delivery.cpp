#include "tracker/sync/delivery.hpp"

#include "tracker/artifacts/run_artifacts.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/rest/rest_store.hpp"

#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <limits>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace mlflow::sync {

namespace {

/// The server is not answering: stop and try later.
struct Unavailable {
  std::string message;
};
/// The server run is gone (deleted, purged): nothing more can be delivered into it.
struct RunGone {
  std::string message;
};

constexpr std::size_t MAX_METRICS = 1000;
constexpr std::size_t MAX_PARAMS_TAGS = 100;

std::string_view kind_name(spool::ItemKind kind) {
  switch (kind) {
    case spool::ItemKind::metric: return "metric";
    case spool::ItemKind::param: return "param";
    case spool::ItemKind::tag: return "tag";
    case spool::ItemKind::delete_tag: return "tag deletion";
    case spool::ItemKind::metric_block: return "metric";
  }
  return "item";
}

/// A metric value as a SQL-backed server keeps it, for comparing points.
std::tuple<std::int64_t, std::int64_t, std::string, bool, double> point_key(const Metric& m) {
  double v = m.value;
  const bool nan = std::isnan(v);
  if (nan) v = 0.0;
  if (std::isinf(v)) v = v > 0 ? std::numeric_limits<double>::max() : -std::numeric_limits<double>::max();
  return {m.timestamp, m.step, m.key, nan, v};
}

void warn(const DeliveryControl& control, const std::string& message) {
  if (control.on_warning) {
    try {
      control.on_warning(message);
    } catch (...) {
    }
  }
}

bool stop_requested(const DeliveryControl& control) { return control.should_stop && control.should_stop(); }

/// Sends items (already a server-legal request) with log_batch; a refused request is split in halves until
/// the items the server refuses are alone, so everything else still arrives.
void send_items(TrackingStore& server, const std::string& server_run_id, std::span<const spool::Item* const> items,
                DeliveryResult& result, const DeliveryControl& control, bool& run_checked) {
  std::vector<Metric> metrics;
  std::vector<Param> params;
  std::vector<RunTag> tags;
  for (const auto* it : items) {
    switch (it->kind) {
      case spool::ItemKind::metric:
        metrics.push_back(Metric{it->key, it->value, it->timestamp, it->step});
        break;
      case spool::ItemKind::param:
        params.push_back(Param{it->key, it->text});
        break;
      case spool::ItemKind::tag:
        tags.push_back(RunTag{it->key, it->text});
        break;
      case spool::ItemKind::delete_tag:
      case spool::ItemKind::metric_block:
        break;  // never part of a batch; never read back
    }
  }
  if (metrics.empty() && params.empty() && tags.empty()) return;
  try {
    server.log_batch(server_run_id, metrics, params, tags);
    return;
  } catch (const MlflowError& e) {
    if (is_unavailable(e)) throw Unavailable{e.what()};
    if (e.error_code() == ErrorCode::RESOURCE_DOES_NOT_EXIST) throw RunGone{e.what()};
    if (!run_checked) {
      // A deleted run refuses everything: say so once instead of refusing item by item.
      try {
        const Run run = server.get_run(server_run_id);
        if (run.info.lifecycle_stage == "deleted") {
          throw RunGone{"run " + server_run_id + " is deleted on the server (" + std::string(e.what()) + ")"};
        }
      } catch (const MlflowError& check) {
        if (is_unavailable(check)) throw Unavailable{check.what()};
        if (check.error_code() == ErrorCode::RESOURCE_DOES_NOT_EXIST) throw RunGone{check.what()};
      }
      run_checked = true;
    }
    if (items.size() == 1) {
      ++result.items_rejected;
      warn(control, "the server refused " + std::string(kind_name(items[0]->kind)) + " '" + items[0]->key +
                        "' of run " + server_run_id + ": " + e.what());
      return;
    }
    const std::size_t half = items.size() / 2;
    send_items(server, server_run_id, items.subspan(0, half), result, control, run_checked);
    send_items(server, server_run_id, items.subspan(half), result, control, run_checked);
  }
}

/// Requests (and the reads before them) per window: the window is marked in flight once, and acknowledged
/// and purged once.
constexpr std::size_t REQUESTS_PER_WINDOW = 8;

/// One log-batch request of metrics, encoded, with the last seq it carries.
struct EncodedRequest {
  std::string body;
  std::int64_t last_seq = 0;
  std::int64_t items = 0;
};

/// Hands encoded requests from the thread that builds them to the one that sends them, bounded so that the
/// builder stays a few requests ahead, and hands acknowledgements back: the builder writes them into the spool
/// while it would otherwise wait, so that no spool commit stands between two requests. Thread-safe.
class RequestQueue {
 public:
  /// Waits for room, writing posted acknowledgements meanwhile with `acknowledge`. False when the sender gave
  /// up (the request is dropped).
  template <typename Acknowledge>
  bool push(EncodedRequest&& request, Acknowledge&& acknowledge) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (cancelled_) return false;
      // Written a window at a time: each write is a spool commit, and the CPU it takes is shared with the
      // sending thread (and, on a small machine, with the server). A crash loses at most a window of
      // acknowledgements, which the next delivery checks against the server's history.
      if (acks_unwritten_ >= REQUESTS_PER_WINDOW) {
        acks_unwritten_ = 0;
        const std::int64_t seq = ack_;
        lock.unlock();
        acknowledge(seq);
        lock.lock();
        continue;
      }
      if (queue_.size() < CAPACITY) break;
      changed_.wait(lock);
    }
    queue_.push_back(std::move(request));
    changed_.notify_all();
    return true;
  }
  /// The builder is done (error: what stopped it).
  void finish(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    done_ = true;
    error_ = std::move(error);
    changed_.notify_all();
  }
  /// False when nothing more will come; rethrows the builder's error then.
  bool pop(EncodedRequest& out) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return done_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return false;
    }
    out = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return true;
  }
  /// The server acknowledged everything up to `seq`; the buffer of that request comes back for reuse.
  void acknowledged(std::int64_t seq, std::string&& buffer) {
    std::lock_guard lock(mutex_);
    ack_ = std::max(ack_, seq);
    ++acks_unwritten_;
    if (spare_.size() < CAPACITY + 2) spare_.push_back(std::move(buffer));
    changed_.notify_all();
  }
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
  }
  bool cancelled() {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }
  std::string take_buffer() {
    std::lock_guard lock(mutex_);
    if (spare_.empty()) return {};
    std::string out = std::move(spare_.back());
    spare_.pop_back();
    return out;
  }

 private:
  static constexpr std::size_t CAPACITY = 3;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<EncodedRequest> queue_;
  std::vector<std::string> spare_;
  std::int64_t ack_ = 0;
  std::size_t acks_unwritten_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

/// Builds the requests for the run's metrics from `after` on until something other than a metric comes (the
/// general path takes it) or nothing is left. Points spooled with their wire form are copied a block at a time;
/// others are encoded here. A window of requests ahead is marked in flight before any of them can be sent.
void build_metric_requests(spool::Spool& spool, std::int64_t run_key, const std::string& server_run_id,
                           std::int64_t after, std::size_t per_request, RequestQueue& queue) {
  try {
    std::vector<spool::Item> items;
    std::int64_t marked = 0;
    const auto acknowledge = [&](std::int64_t seq) { spool.acknowledge(run_key, seq, true); };
    for (;;) {
      if (queue.cancelled()) break;
      EncodedRequest request;
      request.body = queue.take_buffer();
      rest::RestStore::begin_metrics_body(request.body, server_run_id);
      const spool::WireRange got = spool.append_wire_metrics(run_key, after, per_request, request.body);
      request.items = static_cast<std::int64_t>(got.points);
      request.last_seq = got.last_seq;
      if (got.points == 0) {
        // Metrics spooled without a wire form (an older spool, another writer): encoded now.
        spool.read_items(run_key, after, per_request, items);
        for (const auto& it : items) {
          if (it.kind != spool::ItemKind::metric) break;
          rest::append_metric_json(request.body, it.key, it.value, it.timestamp, it.step);
          request.body += ',';
          ++request.items;
          request.last_seq = it.seq;
        }
      }
      if (request.items == 0) break;
      request.body.pop_back();  // the last comma
      rest::RestStore::end_metrics_body(request.body);
      if (request.last_seq > marked) {
        // Seqs run across runs, so this covers at most a window of this run's points.
        marked = request.last_seq + static_cast<std::int64_t>(per_request * REQUESTS_PER_WINDOW);
        spool.mark_inflight(run_key, marked);
      }
      after = request.last_seq;
      if (!queue.push(std::move(request), acknowledge)) return;
    }
    queue.finish(nullptr);
  } catch (...) {
    queue.finish(std::current_exception());
  }
}

/// The fast path of a delivery: the run's metrics from `acked` on, as far as they go without another kind of
/// item in between, sent while the next request is built (and the spool written) on a second thread. Returns
/// the new watermark, acknowledged in the spool, and sets `refused` when the server refused a request: the
/// general path then takes that request apart. Throws Unavailable.
std::int64_t send_metrics_pipelined(spool::Spool& spool, rest::RestStore& server, std::int64_t run_key,
                                    const std::string& server_run_id, std::int64_t acked, std::size_t per_request,
                                    DeliveryResult& result, const DeliveryControl& control, bool& refused) {
  RequestQueue queue;
  std::thread builder(build_metric_requests, std::ref(spool), run_key, std::cref(server_run_id), acked, per_request,
                      std::ref(queue));
  struct Join {
    RequestQueue& queue;
    std::thread& thread;
    ~Join() {
      queue.cancel();
      if (thread.joinable()) thread.join();
    }
  } join{queue, builder};
  // Beyond `acked`, only the request whose answer never came may be on the server: everything else the builder
  // marked in flight ahead was not sent, or was refused. The mark is brought back to that, so that the next
  // delivery checks only what may really be there (what the server acknowledged stays acknowledged too).
  std::int64_t maybe_applied = acked;
  auto write_acknowledgement = [&] {
    queue.cancel();
    if (builder.joinable()) builder.join();
    spool.acknowledge(run_key, acked, true, std::max(acked, maybe_applied));
  };
  EncodedRequest request;
  try {
    while (queue.pop(request)) {
      if (stop_requested(control)) break;
      try {
        server.post_log_batch(request.body);
      } catch (const MlflowError& e) {
        if (is_unavailable(e)) {
          maybe_applied = request.last_seq;
          throw Unavailable{e.what()};
        }
        refused = true;
        break;
      }
      acked = request.last_seq;
      result.items_sent += request.items;
      if (control.on_progress) control.on_progress(request.items);
      queue.acknowledged(acked, std::move(request.body));
    }
  } catch (...) {
    write_acknowledgement();
    throw;
  }
  write_acknowledgement();
  return acked;
}

void ensure_server_run(spool::Spool& spool, TrackingStore& server, spool::RunRecord& run, DeliveryResult& result) {
  if (!run.server_run_id.empty()) return;
  if (run.experiment_id.empty()) {
    std::string id;
    if (run.experiment_name.empty()) {
      id = "0";
    } else if (auto cached = spool.experiment_id_for(run.target_uri, run.experiment_name)) {
      id = *cached;
    } else {
      id = find_or_create_experiment(server, run.experiment_name);
      spool.remember_experiment(run.target_uri, run.experiment_name, id);
    }
    spool.set_experiment_id(run.run_key, id);
    run.experiment_id = id;
  }
  // Looked up before creating: a create whose answer was lost has made the run already.
  std::string server_run_id = find_run_by_local_id(server, run.experiment_id, run.local_run_id);
  if (server_run_id.empty()) {
    const Run created = server.create_run(run.experiment_id, run.user_id, run.start_time,
                                          {RunTag{LOCAL_RUN_ID_TAG, run.local_run_id}}, run.run_name);
    server_run_id = created.info.run_id;
    result.created_run = true;
  }
  spool.set_server_run_id(run.run_key, server_run_id);
  run.server_run_id = server_run_id;
}

}  // namespace

std::int64_t outstanding(spool::Spool& spool, const spool::RunRecord& run) {
  std::int64_t n = spool.pending_items(run.run_key);
  if (run.server_run_id.empty()) ++n;
  if (run.terminal_requested && !run.terminal_synced) ++n;
  if (artifacts::has_spooled_artifacts(spool.path(), run.local_run_id)) ++n;
  return n;
}

bool is_unavailable(const MlflowError& error) {
  // A proxy's error page (a 400 or 413 in HTML, ...) is not the server's verdict on the items.
  if (dynamic_cast<const rest::NotMlflowAnswer*>(&error) != nullptr) return true;
  const auto status = error.http_status();
  if (!status) {
    // No HTTP answer: connection refused, reset, timeout. Errors raised by the client itself before
    // sending (a bad argument) are not "unavailable".
    switch (error.error_code()) {
      case ErrorCode::INVALID_PARAMETER_VALUE:
      case ErrorCode::BAD_REQUEST:
      case ErrorCode::MALFORMED_REQUEST:
      case ErrorCode::INVALID_STATE:
        return false;
      default:
        return true;
    }
  }
  // Answers that are not the MLflow server's verdict on the data keep it in the spool for a later attempt:
  // a 2xx whose body is not MLflow's JSON (cut off, garbage), a redirect, a page saying there is no such
  // endpoint (a proxy or a wrong path prefix), missing or refused credentials. Treating them as refusals
  // would acknowledge (delete) the items, and a proxy hiccup or an expired token would lose data.
  if (*status < 300 || (*status >= 300 && *status < 400) || error.error_code() == ErrorCode::ENDPOINT_NOT_FOUND ||
      error.error_code() == ErrorCode::UNAUTHENTICATED || error.error_code() == ErrorCode::PERMISSION_DENIED) {
    return true;
  }
  switch (*status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      // A 500 MLflow error with a definite code is a refusal (e.g. INVALID_STATE); a bare 500 is trouble.
      return !(*status == 500 && (error.error_code() == ErrorCode::INVALID_STATE ||
                                  error.error_code() == ErrorCode::INVALID_PARAMETER_VALUE));
    default:
      return false;
  }
}

std::string local_run_id_filter(std::string_view local_run_id) {
  std::string value;
  for (char c : local_run_id) {
    if (c == '\'') value += '\\';
    value += c;
  }
  return std::string("tags.`") + LOCAL_RUN_ID_TAG + "` = '" + value + "'";
}

std::string find_or_create_experiment(TrackingStore& server, const std::string& name) {
  auto experiment = server.get_experiment_by_name(name);
  if (!experiment) {
    try {
      return server.create_experiment(name);
    } catch (const MlflowError& e) {
      // Made by someone else between the lookup and the create.
      if (e.error_code() != ErrorCode::RESOURCE_ALREADY_EXISTS) throw;
      experiment = server.get_experiment_by_name(name);
      if (!experiment) throw;
    }
  }
  if (experiment->lifecycle_stage == "deleted") {
    throw MlflowError(ErrorCode::INVALID_STATE,
                      "The experiment '" + name + "' (id " + experiment->experiment_id +
                          ") is deleted on the server. Restore it (mlflow experiments restore) or delete it for good "
                          "(mlflow gc), then sync again.");
  }
  return experiment->experiment_id;
}

std::string find_run_by_local_id(TrackingStore& server, const std::string& experiment_id,
                                 const std::string& local_run_id) {
  const auto page = server.search_runs({experiment_id}, local_run_id_filter(local_run_id), ViewType::ALL, 10);
  if (page.items.empty()) return {};
  // Several would mean someone copied the tag; the oldest is the one made from this local run.
  const Run* best = &page.items.front();
  for (const auto& r : page.items) {
    if (r.info.start_time < best->info.start_time) best = &r;
  }
  return best->info.run_id;
}

std::vector<Metric> metrics_missing_on_server(TrackingStore& server, const std::string& run_id,
                                              const std::vector<Metric>& candidates) {
  std::unordered_map<std::string, std::set<std::tuple<std::int64_t, std::int64_t, std::string, bool, double>>> known;
  for (const auto& m : candidates) {
    if (known.count(m.key) != 0) continue;
    auto& points = known[m.key];
    for (const auto& p : server.get_metric_history(run_id, m.key)) points.insert(point_key(p));
  }
  std::vector<Metric> missing;
  for (const auto& m : candidates) {
    if (known[m.key].count(point_key(m)) == 0) missing.push_back(m);
  }
  return missing;
}

DeliveryResult deliver_spooled_run(spool::Spool& spool, TrackingStore& server, std::int64_t run_key,
                                   const DeliveryControl& control) {
  DeliveryResult result;
  auto record_error = [&](const std::string& message, bool abandoned) {
    result.error = message;
    try {
      spool.set_last_error(run_key, message, abandoned);
    } catch (...) {
    }
  };
  try {
    auto run = spool.get_run(run_key);
    if (!run) {
      result.status = DeliveryStatus::refused;
      result.error = "no run with key " + std::to_string(run_key) + " in the spool";
      return result;
    }
    ensure_server_run(spool, server, *run, result);
    const std::string server_run_id = run->server_run_id;
    std::int64_t acked = run->acked_seq;
    // Items up to this seq were in a request whose answer never came back: they may be on the server.
    std::int64_t uncertain_upto = run->inflight_seq > acked ? run->inflight_seq : 0;
    const std::size_t per_request = std::min<std::size_t>(std::max<std::size_t>(control.items_per_request, 1), 1000);
    bool run_checked = false;
    std::unordered_map<std::string, std::set<std::tuple<std::int64_t, std::int64_t, std::string, bool, double>>>
        server_points;

    // Metrics go through the pipelined fast path when the server is a REST store; the general path below
    // takes everything else (params, tags, items that may be on the server already, a refused request).
    auto* rest_server = dynamic_cast<rest::RestStore*>(&server);
    bool fast_refused = false;

    // Items are read a window of several requests at a time: the window is marked in flight once, each
    // request's acknowledgement is a small update, and delivered rows are deleted once per window, so that
    // little spool work stands between two requests.
    std::vector<spool::Item> window;  // reused: its strings keep their capacity from window to window
    for (;;) {
      if (stop_requested(control)) {
        spool.purge_acknowledged(run_key);
        result.status = DeliveryStatus::stopped;
        return result;
      }
      if (rest_server != nullptr && uncertain_upto == 0 && !fast_refused) {
        acked = send_metrics_pipelined(spool, *rest_server, run_key, server_run_id, acked, per_request, result,
                                       control, fast_refused);
        if (stop_requested(control)) continue;
      }
      spool.read_items(run_key, acked, per_request * REQUESTS_PER_WINDOW, window);
      if (window.empty()) break;
      spool.mark_inflight(run_key, window.back().seq);
      std::size_t pos = 0;
      while (pos < window.size()) {
        if (stop_requested(control)) break;
        const spool::Item& first = window[pos];
        if (first.kind == spool::ItemKind::delete_tag) {
          try {
            server.delete_tag(server_run_id, first.key);
          } catch (const MlflowError& e) {
            if (is_unavailable(e)) throw Unavailable{e.what()};
            // An absent tag answers RESOURCE_DOES_NOT_EXIST: already what was asked.
            if (e.error_code() != ErrorCode::RESOURCE_DOES_NOT_EXIST) {
              ++result.items_rejected;
              warn(control, "the server refused to delete tag '" + first.key + "' of run " + server_run_id + ": " +
                                e.what());
            }
          }
          spool.acknowledge(run_key, first.seq, false);
          acked = first.seq;
          ++result.items_sent;
          ++pos;
          continue;
        }

        // The longest run of items from `pos` that is one legal log-batch request.
        std::vector<const spool::Item*> chunk;
        std::unordered_set<std::string_view> param_keys;
        std::size_t metrics = 0, params = 0, tags = 0;
        for (std::size_t j = pos; j < window.size() && chunk.size() < per_request; ++j) {
          const auto& it = window[j];
          if (it.kind == spool::ItemKind::delete_tag) break;
          if (it.kind == spool::ItemKind::metric) {
            if (metrics == MAX_METRICS) break;
            ++metrics;
          } else if (it.kind == spool::ItemKind::param) {
            if (params == MAX_PARAMS_TAGS || !param_keys.insert(it.key).second) break;
            ++params;
          } else {
            if (tags == MAX_PARAMS_TAGS) break;
            ++tags;
          }
          chunk.push_back(&it);
        }
        const std::int64_t last = chunk.back()->seq;

        std::vector<const spool::Item*> to_send = chunk;
        if (uncertain_upto > 0 && chunk.front()->seq <= uncertain_upto) {
          std::vector<Metric> candidates;
          for (const auto* it : chunk) {
            if (it->kind == spool::ItemKind::metric && it->seq <= uncertain_upto) {
              candidates.push_back(Metric{it->key, it->value, it->timestamp, it->step});
            }
          }
          // Each key's history is fetched once per delivery, however many requests the range spans.
          for (const auto& m : candidates) {
            if (server_points.count(m.key) != 0) continue;
            auto& points = server_points[m.key];
            try {
              for (const auto& p : server.get_metric_history(server_run_id, m.key)) points.insert(point_key(p));
            } catch (const MlflowError& e) {
              if (is_unavailable(e)) throw Unavailable{e.what()};
              throw;
            }
          }
          to_send.clear();
          for (const auto* it : chunk) {
            if (it->kind == spool::ItemKind::metric && it->seq <= uncertain_upto &&
                server_points[it->key].count(point_key(Metric{it->key, it->value, it->timestamp, it->step})) != 0) {
              continue;  // already on the server
            }
            to_send.push_back(it);
          }
        }

        send_items(server, server_run_id, to_send, result, control, run_checked);
        spool.acknowledge(run_key, last, false);
        acked = last;
        if (acked >= uncertain_upto) uncertain_upto = 0;
        pos += chunk.size();
        result.items_sent += static_cast<std::int64_t>(chunk.size());
        if (control.on_progress) control.on_progress(static_cast<std::int64_t>(chunk.size()));
      }
      spool.purge_acknowledged(run_key);
    }

    run = spool.get_run(run_key);
    if (run && artifacts::has_spooled_artifacts(spool.path(), run->local_run_id)) {
      // Files logged while the run was only in the spool: now there is a server run to put them in.
      try {
        const auto uploaded =
            control.artifact_transport != nullptr
                ? artifacts::upload_spooled_artifacts(spool.path(), server, *run, *control.artifact_transport)
                : artifacts::upload_spooled_artifacts(spool.path(), server, *run);
        result.artifacts_uploaded += uploaded.files;
      } catch (const MlflowError& e) {
        if (is_unavailable(e)) throw Unavailable{e.what()};
        throw;
      }
    }
    if (run && run->terminal_requested && !run->terminal_synced) {
      try {
        server.update_run_info(server_run_id, run_status_from_string(run->status), run->end_time, std::nullopt);
      } catch (const MlflowError& e) {
        if (is_unavailable(e)) throw Unavailable{e.what()};
        if (e.error_code() == ErrorCode::RESOURCE_DOES_NOT_EXIST) throw RunGone{e.what()};
        throw;
      }
      spool.mark_terminal_synced(run_key, run->status, run->end_time);
    }
    if (run && run->abandoned) spool.set_last_error(run_key, "", false);
    result.status = DeliveryStatus::complete;
  } catch (const Unavailable& u) {
    result.status = DeliveryStatus::unavailable;
    record_error(u.message, false);
  } catch (const RunGone& g) {
    result.status = DeliveryStatus::refused;
    record_error(g.message, true);
  } catch (const MlflowError& e) {
    result.status = is_unavailable(e) ? DeliveryStatus::unavailable : DeliveryStatus::refused;
    record_error(e.what(), false);
  } catch (const std::exception& e) {
    result.status = DeliveryStatus::unavailable;
    record_error(e.what(), false);
  }
  return result;
}

}  // namespace mlflow::sync
