#pragma once
// The local spool: a SQLite file (our own format, WAL mode) in which everything logged for a tracking server is
// made durable before it is uploaded, with the bookkeeping that makes the upload exactly-once.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlflow::sqlite {
class Database;
}

namespace mlflow::spool {

/// What one spooled item is. Numbers are stored in the file; do not renumber. metric_block is how the file
/// keeps consecutive metric points of a run (one row for up to MAX_BLOCK_POINTS of them); it is never the kind
/// of an Item read back, which are single metrics.
enum class ItemKind : int { metric = 0, param = 1, tag = 2, delete_tag = 3, metric_block = 4 };

/// Metric points per block row. A block's points have consecutive seqs; the row's seq is its last point's.
inline constexpr std::size_t MAX_BLOCK_POINTS = 1000;

/// Writes a metric point in the form the uploader sends it (for a tracking server: its JSON object), so that
/// the encoding is done once, when the point is spooled, and not on the upload path. Must be thread-safe.
using WireEncoder = void (*)(std::string& out, std::string_view key, double value, std::int64_t timestamp,
                             std::int64_t step);

/// An item to append: borrowed strings, valid for the duration of the append call. A value type.
struct ItemView {
  std::int64_t run_key = 0;
  ItemKind kind = ItemKind::metric;
  std::string_view key;
  std::string_view text;  ///< param or tag value
  double value = 0.0;     ///< metric value (NaN and +-Inf are kept)
  std::int64_t timestamp = 0;
  std::int64_t step = 0;
};

/// An item read back, with its sequence number (monotonic across the whole file). A value type.
struct Item {
  std::int64_t seq = 0;
  ItemKind kind = ItemKind::metric;
  std::string key;
  std::string text;
  double value = 0.0;
  std::int64_t timestamp = 0;
  std::int64_t step = 0;
  std::string wire;  ///< a metric's pre-encoded form (see WireEncoder); empty when it was spooled without one
};

/// The metrics append_wire_metrics took. A value type.
struct WireRange {
  std::size_t points = 0;
  std::int64_t last_seq = 0;  ///< seq of the last point taken (0: none)
};

/// One run as the spool knows it. A value type.
struct RunRecord {
  std::int64_t run_key = 0;          ///< row id in the spool
  std::string local_run_id;          ///< 32 hex chars made by the client; also the server tag mlflow-cpp.local_run_id
  std::string target_uri;            ///< the tracking server this run belongs to
  std::string experiment_id;         ///< the server's experiment id, when known
  std::string experiment_name;       ///< used to find or create the experiment when the id is not known
  std::string run_name;
  std::string user_id;
  std::int64_t start_time = 0;
  std::optional<std::int64_t> end_time;
  std::string status = "RUNNING";    ///< "RUNNING", "FINISHED", "FAILED", "KILLED" (as MLflow spells them)
  bool terminal_requested = false;   ///< a status change (end_run, resume) must reach the server
  bool terminal_synced = false;      ///< ...and it has
  bool attached = false;             ///< a run the server already had (resumed): never created by us
  std::string server_run_id;         ///< empty until known
  std::int64_t acked_seq = 0;        ///< every item of this run with seq <= acked_seq reached the server
  std::int64_t inflight_seq = 0;     ///< > acked_seq while a request holding items up to it may have been applied
  std::string owner_host;
  std::int64_t owner_pid = 0;
  std::int64_t created_time = 0;     ///< ms since the epoch
  std::string last_error;            ///< the last upload failure, for `mlflow-cpp status` and sync's report
  bool abandoned = false;            ///< the server refused the run for good (deleted, ...): not retried

  /// The id the user sees: the server's when it answered at start, else the local one.
  const std::string& display_id() const noexcept { return server_run_id.empty() ? local_run_id : server_run_id; }
};

/// Watermark of a run copied from another store (sync --from), keyed by (source, source run id, target).
/// A value type.
struct SyncState {
  std::string source;         ///< e.g. the absolute path of the source sqlite file
  std::string source_run_id;
  std::string target_uri;
  std::string server_run_id;  ///< empty until known
  std::int64_t acked = 0;     ///< highest source row id (metrics rowid) acknowledged by the server
  std::int64_t inflight = 0;  ///< > acked while a request with rows up to it may have been applied
  bool meta_synced = false;   ///< params and tags delivered
  bool terminal_synced = false;
};

/// Counts for `mlflow-cpp status`. A value type.
struct RunSummary {
  RunRecord run;
  std::int64_t pending_items = 0;
};

/// A spool file. Thread-safe: one connection behind a mutex. Several processes may use one file at once
/// (WAL, BEGIN IMMEDIATE for every write, busy timeout). Every commit survives a crash of the process
/// (kill -9); synchronous=NORMAL trades the last commits on power loss for speed.
/// Throws mlflow::MlflowError (SQLite failures keep their codes: busy -> TEMPORARILY_UNAVAILABLE, ...).
class Spool {
 public:
  /// Opens or creates the file (not its directory). Refuses a file of a newer spool format (INVALID_STATE).
  explicit Spool(const std::string& path);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// MLFLOW_CPP_SPOOL_DIR, else $XDG_DATA_HOME/mlflow-cpp, else $HOME/.local/share/mlflow-cpp.
  static std::string default_directory();
  /// default_directory() + "/spool.db".
  static std::string default_path();
  const std::string& path() const noexcept { return path_; }

  // ---- runs ----
  /// Inserts the run (run_key is assigned and returned); local_run_id must be new.
  std::int64_t add_run(RunRecord& run);
  /// By local id or server id; target_uri empty matches any target.
  std::optional<RunRecord> find_run(std::string_view id, std::string_view target_uri = {});
  std::optional<RunRecord> get_run(std::int64_t run_key);
  /// Every run, oldest first; target_uri empty: all targets.
  std::vector<RunRecord> list_runs(std::string_view target_uri = {});
  void set_server_run_id(std::int64_t run_key, const std::string& server_run_id);
  void set_experiment_id(std::int64_t run_key, const std::string& experiment_id);
  /// Records a status change (end_run, or RUNNING again on resume) that the server must get once everything
  /// logged before it is there. An unset end_time leaves the stored one as it is.
  void set_terminal(std::int64_t run_key, std::string_view status, std::optional<std::int64_t> end_time);
  void set_run_name(std::int64_t run_key, std::string_view run_name);
  /// The status change as read (status, end_time) reached the server; a newer one stays pending.
  void mark_terminal_synced(std::int64_t run_key, std::string_view status, std::optional<std::int64_t> end_time);
  void set_last_error(std::int64_t run_key, std::string_view error, bool abandoned = false);
  /// Deletes a run and everything spooled for it.
  void remove_run(std::int64_t run_key);

  // ---- items ----
  /// The encoder append() stores beside each metric point from now on (none by default). Set it before
  /// appending from several threads.
  void set_wire_encoder(WireEncoder encoder) noexcept { wire_encoder_ = encoder; }
  /// Appends the items in one transaction, in order. Consecutive metrics of one run are stored as blocks.
  void append(std::size_t count, const std::function<ItemView(std::size_t)>& item);
  void append(const std::vector<ItemView>& items);
  /// Items of a run with seq > after_seq, oldest first, at most `limit`.
  std::vector<Item> read_items(std::int64_t run_key, std::int64_t after_seq, std::size_t limit);
  /// The same into `out` (replacing its contents): its elements and their strings are reused, so that a
  /// delivery loop reading window after window allocates nothing once warm.
  void read_items(std::int64_t run_key, std::int64_t after_seq, std::size_t limit, std::vector<Item>& out);
  /// Appends to `out` the wire forms of the run's metrics with seq > after_seq, at most `max_points`, each
  /// followed by a comma; stops before the first item that is not a metric or has no wire form. The uploader's
  /// fast path: one copy per block instead of one Item per point.
  WireRange append_wire_metrics(std::int64_t run_key, std::int64_t after_seq, std::size_t max_points,
                                std::string& out);
  /// Items of the run above its watermark.
  std::int64_t pending_items(std::int64_t run_key);
  /// Whether the run has any item above its watermark (pending_items() > 0 without counting them all).
  bool has_pending_items(std::int64_t run_key);
  /// Items above the watermark over all runs (of one target when given).
  std::int64_t pending_items_total(std::string_view target_uri = {});
  /// Notes that a request holding the run's items up to `seq` is about to be sent.
  void mark_inflight(std::int64_t run_key, std::int64_t seq);
  /// The server acknowledged every item up to `seq`: the watermark moves and, with `purge`, those items are
  /// deleted (else purge_acknowledged() deletes them later, in one go). With `maybe_applied`, the caller knows
  /// that no item after it can have reached the server: the in-flight mark becomes max(watermark, maybe_applied),
  /// lower than it was if a window was marked ahead, so the next delivery does not check those items again.
  void acknowledge(std::int64_t run_key, std::int64_t seq, bool purge = true,
                   std::optional<std::int64_t> maybe_applied = std::nullopt);
  /// Deletes the items of a run at or below its watermark.
  void purge_acknowledged(std::int64_t run_key);

  /// Runs with anything left to deliver (items, creation or terminal status), with their item counts.
  std::vector<RunSummary> pending_runs(std::string_view target_uri = {});

  // ---- experiments known offline ----
  /// Remembers the server's id for an experiment name on a target.
  void remember_experiment(std::string_view target_uri, std::string_view name, std::string_view experiment_id);
  std::optional<std::string> experiment_id_for(std::string_view target_uri, std::string_view name);
  std::optional<std::string> experiment_name_for(std::string_view target_uri, std::string_view experiment_id);

  // ---- sync --from bookkeeping ----
  std::optional<SyncState> get_sync_state(std::string_view source, std::string_view source_run_id,
                                          std::string_view target_uri);
  void put_sync_state(const SyncState& state);

 private:
  RunRecord read_run_row(void* statement);
  void update_run_field(std::int64_t run_key, const char* sql, const std::function<void(void*)>& bind);

  std::string path_;
  std::mutex mutex_;
  std::unique_ptr<sqlite::Database> db_;
  WireEncoder wire_encoder_ = nullptr;
};

/// An exclusive advisory lock on a file (flock), released when the object goes away or the process dies,
/// even by kill -9. Used so that one process at a time writes or delivers a spooled run. Not thread-safe.
class FileLock {
 public:
  /// Creates the file (and its directory) when missing. Returns nothing when another holder has it.
  static std::optional<FileLock> try_acquire(const std::string& path);
  /// Waits until the lock is free (or `timeout_ms` passed: nothing is returned then).
  static std::optional<FileLock> acquire(const std::string& path, int timeout_ms);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// The lock file a spooled run's writer (the process logging it) holds: "<spool>.locks/<local id>.owner".
std::string owner_lock_path(const std::string& spool_path, std::string_view local_run_id);
/// The lock file whoever delivers a run to its server holds: "<spool>.locks/<local id>.deliver".
std::string delivery_lock_path(const std::string& spool_path, std::string_view local_run_id);

/// 32 random lower-case hex characters (a uuid4-like id, as MLflow's run ids).
std::string new_local_id();

}  // namespace mlflow::spool
