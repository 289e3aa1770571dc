#pragma once
// SpooledStore: the TrackingStore for http(s):// URIs. Logging goes into the local spool (never onto the
// network on the caller's thread); an uploader thread owned by the store delivers it; runs start offline
// when the server does not answer in time.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/tracking_store.hpp"
#include "storage/spool/spool.hpp"
#include "tracker/logging/log_record.hpp"
#include "tracker/transport/options.hpp"

namespace mlflow::rest {
class RestStore;
}

namespace mlflow::sync {

/// Options of a SpooledStore. from_env() reads:
///   MLFLOW_CPP_SPOOL_DIR                 directory of spool.db (default ~/.local/share/mlflow-cpp)
///   MLFLOW_CPP_SERVER_WAIT_SECONDS       how long start_run/set_experiment wait for the server before going
///                                        on offline (default 3)
///   MLFLOW_CPP_UPLOAD_WAIT_SECONDS       how long end_run and the end of the program wait for the upload
///                                        (default 10)
///   MLFLOW_CPP_UPLOAD_RETRY_MAX_SECONDS  longest pause between upload attempts while the server is away
///                                        (default 30)
/// plus the transport variables (MLFLOW_HTTP_REQUEST_*, MLFLOW_TRACKING_*). A value type.
struct SpooledStoreOptions {
  std::string spool_path;  ///< empty: spool::Spool::default_path()
  std::chrono::milliseconds server_wait{3000};
  std::chrono::milliseconds upload_wait{10000};
  std::chrono::milliseconds retry_min{200};
  std::chrono::milliseconds retry_max{30000};
  /// Deadline of one upload request (the uploader retries by itself, so it never waits long on one).
  std::chrono::milliseconds upload_request_timeout{10000};
  transport::Options transport;
  /// One line per call, for the user (offline start, outage, pending items). Unset: stderr, "mlflow-cpp: ".
  std::function<void(std::string_view)> message_handler;

  static SpooledStoreOptions from_env();
};

/// What is still to be delivered for the runs of one store. A value type.
struct UploadBacklog {
  std::int64_t items = 0;  ///< spooled items not acknowledged yet
  std::int64_t runs = 0;   ///< runs with items, a missing server run or a status change still to send
};

/// The store for a tracking server, backed by a spool. Thread-safe. Also the LogSink its AsyncLogger writes to.
class SpooledStore final : public TrackingStore, public logging::LogSink {
 public:
  SpooledStore(const std::string& tracking_uri, SpooledStoreOptions options);
  /// Waits (at most upload_wait) for the upload, stops the uploader, and prints one line when something is
  /// left for `mlflow-cpp sync`.
  ~SpooledStore() override;

  const std::string& tracking_uri() const noexcept { return uri_; }
  const std::string& spool_path() const noexcept { return spool_path_; }
  /// The spool file, opened (and the uploader started) on first use.
  spool::Spool& spool();

  /// Waits until every run of this store is delivered, the server has failed an attempt made after the call,
  /// or the timeout passed. True when everything is delivered.
  bool wait_uploaded(std::chrono::milliseconds timeout);
  UploadBacklog backlog();

  // ---- LogSink (the AsyncLogger's worker) ----
  void write_batch(std::span<const logging::LogRecord> records) override;

  // ---- TrackingStore ----
  std::string create_experiment(const std::string& name, const std::optional<std::string>& artifact_location,
                                const std::vector<ExperimentTag>& tags) override;
  Experiment get_experiment(const std::string& experiment_id) override;
  std::optional<Experiment> get_experiment_by_name(const std::string& name) override;
  PagedList<Experiment> search_experiments(ViewType view_type, std::int64_t max_results,
                                           const std::string& filter_string, const std::vector<std::string>& order_by,
                                           const std::string& page_token) override;
  void rename_experiment(const std::string& experiment_id, const std::string& new_name) override;
  void delete_experiment(const std::string& experiment_id) override;
  void restore_experiment(const std::string& experiment_id) override;
  void set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) override;
  Run create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                 const std::vector<RunTag>& tags, const std::string& run_name) override;
  Run get_run(const std::string& run_id) override;
  RunInfo update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                          std::optional<std::int64_t> end_time, const std::optional<std::string>& run_name) override;
  void delete_run(const std::string& run_id) override;
  void restore_run(const std::string& run_id) override;
  void delete_tag(const std::string& run_id, const std::string& key) override;
  /// Appends to the spool in one transaction (the synchronous path; the logger uses write_batch).
  void log_batch(const std::string& run_id, const std::vector<Metric>& metrics, const std::vector<Param>& params,
                 const std::vector<RunTag>& tags) override;
  std::vector<Metric> get_metric_history(const std::string& run_id, const std::string& key) override;
  PagedList<Run> search_runs(const std::vector<std::string>& experiment_ids, const std::string& filter_string,
                             ViewType run_view_type, std::int64_t max_results,
                             const std::vector<std::string>& order_by, const std::string& page_token) override;

 private:
  struct OwnedRun {
    std::string local_run_id;
    std::optional<spool::FileLock> owner_lock;
  };

  std::int64_t resolve_run(const std::string& run_id);      ///< spool key of a run id, attaching unknown ones
  std::int64_t resolve_run_locked(const std::string& run_id);
  void register_run(const spool::RunRecord& run);            ///< mutex_ held
  std::optional<spool::RunRecord> known_run(const std::string& run_id);  ///< no attaching
  std::string server_id_or_throw(const std::string& run_id, const char* what);
  Run local_run(const spool::RunRecord& run, const std::string& shown_id);
  bool server_may_be_up() const;
  /// Returns true for the first notice of an outage (announced on the message handler when `announce`).
  bool note_server_down(const std::string& why, bool announce = true);
  void note_server_up();
  void message(const std::string& line);
  void wake_uploader(bool kick);
  bool wait_for(std::optional<std::int64_t> run_key, std::chrono::milliseconds timeout);
  void uploader_loop();
  void upload_pass();
  std::int64_t outstanding(spool::Spool& spool, const spool::RunRecord& run);
  std::string provisional_name(const std::string& experiment_id);

  std::string uri_;
  std::string shown_uri_;  ///< uri_ without its password, for messages
  SpooledStoreOptions options_;
  std::string spool_path_;
  std::unique_ptr<rest::RestStore> server_;  ///< reads and administration, with the user's transport options
  std::unique_ptr<rest::RestStore> probe_;   ///< start of a run: bounded by server_wait
  std::unique_ptr<rest::RestStore> upload_;  ///< the uploader's own connection
  transport::Options upload_transport_;      ///< its options, also for spooled artifacts
  std::unique_ptr<spool::Spool> spool_;         ///< callers and the logger
  std::unique_ptr<spool::Spool> upload_spool_;  ///< the uploader (its own connection: reads never wait on writes)

  std::mutex mutex_;  ///< guards everything below
  std::map<std::string, std::int64_t> key_by_id_;
  std::map<std::int64_t, OwnedRun> owned_;
  std::map<std::string, std::string> provisional_experiments_;  ///< offline experiment id -> name
  std::map<std::int64_t, std::int64_t> reported_pending_;       ///< what end_run already told the user
  std::condition_variable wake_;
  std::condition_variable progress_;
  bool dirty_ = false;
  bool kick_ = false;
  bool stop_ = false;
  std::uint64_t passes_ = 0;          ///< upload passes completed
  std::uint64_t passes_started_ = 0;  ///< upload passes begun (one uploader thread: passes never overlap)
  bool last_pass_unavailable_ = false;
  std::map<std::int64_t, std::int64_t> outstanding_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  bool outage_reported_ = false;

  std::atomic<std::int64_t> server_down_until_ms_{0};
  std::atomic<bool> stopping_{false};
  std::once_flag open_once_;
  std::atomic<bool> opened_{false};
  std::thread uploader_;
};

}  // namespace mlflow::sync
