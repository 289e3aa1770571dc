#include "storage/spool/spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <random>
#include <thread>

#include "mlflow/error.hpp"
#include "storage/sqlite/database.hpp"

namespace mlflow::spool {

namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

/// Bumped when the layout changes incompatibly; a newer file is refused rather than misread.
/// 2: metric points are kept in blocks (spool_items.n_items, spool_items.block).
constexpr int SPOOL_FORMAT_VERSION = 2;

constexpr const char* SCHEMA = R"sql(
CREATE TABLE IF NOT EXISTS spool_runs (
  run_key INTEGER PRIMARY KEY,
  local_run_id TEXT NOT NULL UNIQUE,
  target_uri TEXT NOT NULL,
  experiment_id TEXT NOT NULL DEFAULT '',
  experiment_name TEXT NOT NULL DEFAULT '',
  run_name TEXT NOT NULL DEFAULT '',
  user_id TEXT NOT NULL DEFAULT '',
  start_time INTEGER NOT NULL,
  end_time INTEGER,
  status TEXT NOT NULL DEFAULT 'RUNNING',
  terminal_requested INTEGER NOT NULL DEFAULT 0,
  terminal_synced INTEGER NOT NULL DEFAULT 0,
  attached INTEGER NOT NULL DEFAULT 0,
  server_run_id TEXT NOT NULL DEFAULT '',
  acked_seq INTEGER NOT NULL DEFAULT 0,
  inflight_seq INTEGER NOT NULL DEFAULT 0,
  owner_host TEXT NOT NULL DEFAULT '',
  owner_pid INTEGER NOT NULL DEFAULT 0,
  created_time INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  abandoned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spool_runs_server_id ON spool_runs (server_run_id);
CREATE TABLE IF NOT EXISTS spool_items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_key INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  key TEXT NOT NULL,
  value REAL,
  text TEXT,
  timestamp INTEGER NOT NULL DEFAULT 0,
  step INTEGER NOT NULL DEFAULT 0,
  n_items INTEGER NOT NULL DEFAULT 1,
  block BLOB
);
CREATE INDEX IF NOT EXISTS spool_items_run ON spool_items (run_key, seq);
CREATE TABLE IF NOT EXISTS spool_experiments (
  target_uri TEXT NOT NULL,
  name TEXT NOT NULL,
  experiment_id TEXT NOT NULL,
  PRIMARY KEY (target_uri, name)
);
CREATE TABLE IF NOT EXISTS sync_state (
  source TEXT NOT NULL,
  source_run_id TEXT NOT NULL,
  target_uri TEXT NOT NULL,
  server_run_id TEXT NOT NULL DEFAULT '',
  acked INTEGER NOT NULL DEFAULT 0,
  inflight INTEGER NOT NULL DEFAULT 0,
  meta_synced INTEGER NOT NULL DEFAULT 0,
  terminal_synced INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (source, source_run_id, target_uri)
);
)sql";

constexpr const char* RUN_COLUMNS =
    "run_key, local_run_id, target_uri, experiment_id, experiment_name, run_name, user_id, start_time, end_time, "
    "status, terminal_requested, terminal_synced, attached, server_run_id, acked_seq, inflight_seq, owner_host, "
    "owner_pid, created_time, last_error, abandoned";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

/// The wrapper binds a string_view without data as NULL; an empty view must stay an empty string.
std::string_view text(std::string_view s) { return s.data() != nullptr ? s : std::string_view("", 0); }

std::string locks_dir(const std::string& spool_path) { return spool_path + ".locks"; }

// A metric block, as stored in spool_items.block (host byte order; a spool is a local file of one machine):
//   u32 point count, u32 key count, per key {u32 length, bytes},
//   per point {u32 key index, f64 value, i64 timestamp, i64 step, u32 wire length}, then the wire bytes: each
//   point's wire form followed by a comma (length 0: none was made).
// One row per block instead of one per point is what makes spooling and uploading cheap: a row costs far more
// to insert, read and delete than the point it holds.

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

/// Packs metric points into a block. Not thread-safe; reused from append to append.
class BlockWriter {
 public:
  std::size_t size() const noexcept { return points_; }
  void clear() {
    keys_.clear();
    key_index_.clear();
    points_ = 0;
    entries_.clear();
    wire_.clear();
  }
  void add(const ItemView& v, WireEncoder encoder) {
    // Few keys per block in practice: a scan beats hashing until there are many.
    std::optional<std::uint32_t> index;
    if (keys_.size() <= 16) {
      for (std::size_t k = 0; k < keys_.size(); ++k) {
        if (keys_[k] == v.key) index = static_cast<std::uint32_t>(k);
      }
    } else if (auto it = key_index_.find(v.key); it != key_index_.end()) {
      index = it->second;
    }
    if (!index) {
      index = static_cast<std::uint32_t>(keys_.size());
      keys_.emplace_back(v.key);
      key_index_.emplace(keys_.back(), *index);
    }
    const std::size_t before = wire_.size();
    if (encoder != nullptr) {
      encoder(wire_, v.key, v.value, v.timestamp, v.step);
      wire_ += ',';  // kept with each form, so that a run of points is one copy into a request body
    }
    put(entries_, *index);
    put(entries_, v.value);
    put(entries_, v.timestamp);
    put(entries_, v.step);
    put(entries_, static_cast<std::uint32_t>(wire_.size() - before));
    ++points_;
  }
  /// The block's bytes (valid until the next change).
  std::string_view bytes() {
    out_.clear();
    put(out_, static_cast<std::uint32_t>(points_));
    put(out_, static_cast<std::uint32_t>(keys_.size()));
    for (const auto& k : keys_) {
      put(out_, static_cast<std::uint32_t>(k.size()));
      out_ += k;
    }
    out_ += entries_;
    out_ += wire_;
    return out_;
  }

 private:
  std::deque<std::string> keys_;  // stable addresses: key_index_ views them
  std::unordered_map<std::string_view, std::uint32_t> key_index_;
  std::size_t points_ = 0;
  std::string entries_;
  std::string wire_;
  std::string out_;
};

/// Reads a block back, refusing one that does not hold together (a damaged file) instead of reading past it.
class BlockReader {
 public:
  BlockReader(std::string_view bytes, std::int64_t seq, const std::string& path) : bytes_(bytes), seq_(seq), path_(path) {
    points_ = get<std::uint32_t>();
    const auto key_count = get<std::uint32_t>();
    if (key_count > bytes_.size()) damaged();
    keys_.reserve(key_count);
    for (std::uint32_t i = 0; i < key_count; ++i) {
      const auto n = get<std::uint32_t>();
      keys_.push_back(take(n));
    }
    constexpr std::size_t ENTRY = 4 + 8 + 8 + 8 + 4;
    if (points_ > (bytes_.size() - pos_) / ENTRY) damaged();
    entries_ = pos_;
    wire_ = pos_ + points_ * ENTRY;
  }
  std::uint32_t points() const noexcept { return points_; }
  /// Point i; calls must go in increasing order of i (the wire offsets are summed along the way).
  void point(std::uint32_t i, Item& out) {
    pos_ = entries_ + static_cast<std::size_t>(i) * (4 + 8 + 8 + 8 + 4);
    const auto key = get<std::uint32_t>();
    if (key >= keys_.size()) damaged();
    out.key.assign(keys_[key]);
    out.value = get<double>();
    out.timestamp = get<std::int64_t>();
    out.step = get<std::int64_t>();
    const auto wire_length = get<std::uint32_t>();
    pos_ = wire_;
    const auto wire = take(wire_length);
    out.wire.assign(wire.substr(0, wire.empty() ? 0 : wire.size() - 1));  // without its comma
    wire_ = pos_;
  }
  /// The wire bytes (forms and commas) of points [from, to), up to the first point without a wire form;
  /// returns how many points they cover.
  std::uint32_t wire_range(std::uint32_t from, std::uint32_t to, std::string_view& bytes) {
    constexpr std::size_t ENTRY = 4 + 8 + 8 + 8 + 4;
    std::size_t offset = 0;
    std::size_t length = 0;
    std::uint32_t covered = 0;
    for (std::uint32_t i = 0; i < to; ++i) {
      std::uint32_t n = 0;
      std::memcpy(&n, bytes_.data() + entries_ + static_cast<std::size_t>(i) * ENTRY + ENTRY - 4, sizeof n);
      if (i < from) {
        offset += n;
        continue;
      }
      if (n == 0) break;
      length += n;
      ++covered;
    }
    pos_ = wire_ + offset;
    bytes = take(length);
    return covered;
  }

 private:
  template <typename T>
  T get() {
    T v;
    const auto b = take(sizeof v);
    std::memcpy(&v, b.data(), sizeof v);
    return v;
  }
  std::string_view take(std::size_t n) {
    if (pos_ > bytes_.size() || n > bytes_.size() - pos_) damaged();
    const auto out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  [[noreturn]] void damaged() const {
    throw MlflowError(ErrorCode::INVALID_STATE, "The spool file '" + path_ + "' holds a damaged metric block (seq " +
                                                    std::to_string(seq_) +
                                                    "). Move the file aside to keep logging; what it held up to "
                                                    "that block can still be read with sqlite3.");
  }

  std::string_view bytes_;
  std::int64_t seq_;
  const std::string& path_;
  std::size_t pos_ = 0;
  std::uint32_t points_ = 0;
  std::vector<std::string_view> keys_;
  std::size_t entries_ = 0;
  std::size_t wire_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

Spool::Spool(const std::string& path) : path_(path) {
  db_ = std::make_unique<Database>(path);
  int version = 0;
  {
    Statement st(*db_, "PRAGMA user_version");
    if (st.step()) version = static_cast<int>(st.get_int64(0));
  }
  if (version > SPOOL_FORMAT_VERSION) {
    throw MlflowError(ErrorCode::INVALID_STATE,
                      "The spool file '" + path + "' has format version " + std::to_string(version) +
                          ", newer than this mlflow-cpp understands (" + std::to_string(SPOOL_FORMAT_VERSION) +
                          "). Use the mlflow-cpp that wrote it to sync it, or set MLFLOW_CPP_SPOOL_DIR to another "
                          "directory.");
  }
  if (version == 0) {
    // Tables other than the spool's in a file of format 0 mean another program's database (an MLflow tracking
    // store given as the spool, ...): refuse it before anything (WAL mode included) changes the file. The
    // spool's own tables may be there already: another process may have just created them.
    Statement st(*db_,
                 "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('spool_runs', 'spool_items', "
                 "'spool_experiments', 'sync_state', 'sqlite_sequence') ORDER BY name LIMIT 4");
    std::string names;
    while (st.step()) names += (names.empty() ? "" : ", ") + st.get_text(0);
    if (!names.empty()) {
      throw MlflowError(ErrorCode::INVALID_STATE,
                        "The file '" + path + "' is not an mlflow-cpp spool: it holds tables of another program (" +
                            names + "). It was left untouched. Point MLFLOW_CPP_SPOOL_DIR at a directory of its own.");
    }
  }
  // WAL lets the uploader read while the logger writes, and a commit costs no fsync of the main file.
  {
    Statement st(*db_, "PRAGMA journal_mode=WAL");
    st.run();
  }
  db_->exec("PRAGMA synchronous=NORMAL");
  // Debian's SQLite zeroes every freed page (SQLITE_SECURE_DELETE): purging delivered blocks would then write
  // each one again, costing more than the upload it follows. FAST still clears what costs no extra I/O.
  db_->exec("PRAGMA secure_delete=FAST");
  if (version < SPOOL_FORMAT_VERSION) {
    Transaction tx(*db_, Transaction::Mode::immediate);
    // Read again under the write lock: another process may have created or upgraded the file meanwhile.
    {
      Statement st(*db_, "PRAGMA user_version");
      version = st.step() ? static_cast<int>(st.get_int64(0)) : 0;
    }
    if (version == 1) {
      db_->exec(
          "ALTER TABLE spool_items ADD COLUMN n_items INTEGER NOT NULL DEFAULT 1; "
          "ALTER TABLE spool_items ADD COLUMN block BLOB;");
    } else if (version == 0) {
      db_->exec(SCHEMA);
    }
    if (version < SPOOL_FORMAT_VERSION) {
      db_->exec("PRAGMA user_version = " + std::to_string(SPOOL_FORMAT_VERSION));
    }
    tx.commit();
  }
}

Spool::~Spool() = default;

std::string Spool::default_directory() {
  if (const char* dir = std::getenv("MLFLOW_CPP_SPOOL_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/mlflow-cpp";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : ".") + "/.local/share/mlflow-cpp";
}

std::string Spool::default_path() { return default_directory() + "/spool.db"; }

RunRecord Spool::read_run_row(void* statement) {
  auto& st = *static_cast<Statement*>(statement);
  RunRecord r;
  r.run_key = st.get_int64(0);
  r.local_run_id = st.get_text(1);
  r.target_uri = st.get_text(2);
  r.experiment_id = st.get_text(3);
  r.experiment_name = st.get_text(4);
  r.run_name = st.get_text(5);
  r.user_id = st.get_text(6);
  r.start_time = st.get_int64(7);
  r.end_time = st.get_optional_int64(8);
  r.status = st.get_text(9);
  r.terminal_requested = st.get_int64(10) != 0;
  r.terminal_synced = st.get_int64(11) != 0;
  r.attached = st.get_int64(12) != 0;
  r.server_run_id = st.get_text(13);
  r.acked_seq = st.get_int64(14);
  r.inflight_seq = st.get_int64(15);
  r.owner_host = st.get_text(16);
  r.owner_pid = st.get_int64(17);
  r.created_time = st.get_int64(18);
  r.last_error = st.get_text(19);
  r.abandoned = st.get_int64(20) != 0;
  return r;
}

std::int64_t Spool::add_run(RunRecord& run) {
  std::lock_guard lock(mutex_);
  if (run.created_time == 0) run.created_time = now_ms();
  if (run.owner_host.empty()) run.owner_host = host_name();
  if (run.owner_pid == 0) run.owner_pid = static_cast<std::int64_t>(getpid());
  Transaction tx(*db_, Transaction::Mode::immediate);
  auto st = db_->cached(
      "INSERT INTO spool_runs (local_run_id, target_uri, experiment_id, experiment_name, run_name, user_id, "
      "start_time, end_time, status, terminal_requested, terminal_synced, attached, server_run_id, acked_seq, "
      "inflight_seq, owner_host, owner_pid, created_time, last_error, abandoned) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  st->bind(1, run.local_run_id)
      .bind(2, run.target_uri)
      .bind(3, run.experiment_id)
      .bind(4, run.experiment_name)
      .bind(5, run.run_name)
      .bind(6, run.user_id)
      .bind(7, run.start_time)
      .bind(8, run.end_time)
      .bind(9, run.status)
      .bind(10, static_cast<std::int64_t>(run.terminal_requested))
      .bind(11, static_cast<std::int64_t>(run.terminal_synced))
      .bind(12, static_cast<std::int64_t>(run.attached))
      .bind(13, run.server_run_id)
      .bind(14, run.acked_seq)
      .bind(15, run.inflight_seq)
      .bind(16, run.owner_host)
      .bind(17, run.owner_pid)
      .bind(18, run.created_time)
      .bind(19, run.last_error)
      .bind(20, static_cast<std::int64_t>(run.abandoned));
  st->run();
  run.run_key = db_->last_insert_rowid();
  tx.commit();
  return run.run_key;
}

std::optional<RunRecord> Spool::find_run(std::string_view id, std::string_view target_uri) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(std::string("SELECT ") + RUN_COLUMNS +
                        " FROM spool_runs WHERE (local_run_id = ?1 OR server_run_id = ?1) AND (?2 = '' OR "
                        "target_uri = ?2) ORDER BY run_key DESC LIMIT 1");
  st->bind(1, std::string(id)).bind(2, std::string(target_uri));
  if (!st->step()) return std::nullopt;
  return read_run_row(&*st);
}

std::optional<RunRecord> Spool::get_run(std::int64_t run_key) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(std::string("SELECT ") + RUN_COLUMNS + " FROM spool_runs WHERE run_key = ?");
  st->bind(1, run_key);
  if (!st->step()) return std::nullopt;
  return read_run_row(&*st);
}

std::vector<RunRecord> Spool::list_runs(std::string_view target_uri) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(std::string("SELECT ") + RUN_COLUMNS +
                        " FROM spool_runs WHERE ?1 = '' OR target_uri = ?1 ORDER BY run_key");
  st->bind(1, std::string(target_uri));
  std::vector<RunRecord> out;
  while (st->step()) out.push_back(read_run_row(&*st));
  return out;
}

void Spool::update_run_field(std::int64_t run_key, const char* sql, const std::function<void(void*)>& bind) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  auto st = db_->cached(sql);
  bind(&*st);
  st->bind(1, run_key);
  st->run();
  if (db_->changes() == 0) {
    throw MlflowError(ErrorCode::RESOURCE_DOES_NOT_EXIST,
                      "No spooled run with key " + std::to_string(run_key) + " in '" + path_ + "'");
  }
  tx.commit();
}

void Spool::set_server_run_id(std::int64_t run_key, const std::string& server_run_id) {
  update_run_field(run_key, "UPDATE spool_runs SET server_run_id = ?2 WHERE run_key = ?1",
                   [&](void* s) { static_cast<Statement*>(s)->bind(2, server_run_id); });
}

void Spool::set_experiment_id(std::int64_t run_key, const std::string& experiment_id) {
  update_run_field(run_key, "UPDATE spool_runs SET experiment_id = ?2 WHERE run_key = ?1",
                   [&](void* s) { static_cast<Statement*>(s)->bind(2, text(experiment_id)); });
}

void Spool::set_terminal(std::int64_t run_key, std::string_view status, std::optional<std::int64_t> end_time) {
  update_run_field(run_key,
                   "UPDATE spool_runs SET status = ?2, end_time = coalesce(?3, end_time), terminal_requested = 1, "
                   "terminal_synced = 0 WHERE run_key = ?1",
                   [&](void* s) { static_cast<Statement*>(s)->bind(2, text(status)).bind(3, end_time); });
}

void Spool::set_run_name(std::int64_t run_key, std::string_view run_name) {
  update_run_field(run_key, "UPDATE spool_runs SET run_name = ?2 WHERE run_key = ?1",
                   [&](void* s) { static_cast<Statement*>(s)->bind(2, text(run_name)); });
}

void Spool::mark_terminal_synced(std::int64_t run_key, std::string_view status, std::optional<std::int64_t> end_time) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  auto st = db_->cached(
      "UPDATE spool_runs SET terminal_synced = 1, last_error = '' WHERE run_key = ?1 AND status = ?2 AND "
      "end_time IS ?3");
  st->bind(1, run_key).bind(2, text(status)).bind(3, end_time);
  st->run();
  tx.commit();
}

void Spool::set_last_error(std::int64_t run_key, std::string_view error, bool abandoned) {
  update_run_field(run_key, "UPDATE spool_runs SET last_error = ?2, abandoned = ?3 WHERE run_key = ?1",
                   [&](void* s) { static_cast<Statement*>(s)->bind(2, text(error)).bind(3, static_cast<std::int64_t>(abandoned)); });
}

void Spool::remove_run(std::int64_t run_key) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  {
    auto st = db_->cached("DELETE FROM spool_items WHERE run_key = ?");
    st->bind(1, run_key);
    st->run();
  }
  {
    auto st = db_->cached("DELETE FROM spool_runs WHERE run_key = ?");
    st->bind(1, run_key);
    st->run();
  }
  tx.commit();
}

void Spool::append(std::size_t count, const std::function<ItemView(std::size_t)>& item) {
  if (count == 0) return;
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  // Seqs are given here, not by SQLite, because a block takes one per point. AUTOINCREMENT's counter still
  // moves with them, so a seq is never given twice, even after the rows holding the highest were deleted.
  std::int64_t next = 1;
  {
    auto st = db_->cached(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'spool_items'), 0), "
        "coalesce((SELECT max(seq) FROM spool_items), 0))");
    if (st->step()) next = st->get_int64(0) + 1;
    st->reset();
  }
  auto single = db_->cached(
      "INSERT INTO spool_items (seq, run_key, kind, key, value, text, timestamp, step) VALUES (?,?,?,?,?,?,?,?)");
  auto blocks = db_->cached(
      "INSERT INTO spool_items (seq, run_key, kind, key, n_items, block) VALUES (?, ?, 4, '', ?, ?)");
  thread_local BlockWriter block;
  block.clear();
  std::int64_t block_run = 0;
  auto write_block = [&] {
    if (block.size() == 0) return;
    const auto n = static_cast<std::int64_t>(block.size());
    blocks->bind(1, next + n - 1).bind(2, block_run).bind(3, n).bind_blob(4, block.bytes());
    blocks->run();
    blocks->reset();
    next += n;
    block.clear();
  };
  for (std::size_t i = 0; i < count; ++i) {
    const ItemView v = item(i);
    if (v.kind == ItemKind::metric) {
      if (block.size() != 0 && (v.run_key != block_run || block.size() == MAX_BLOCK_POINTS)) write_block();
      block_run = v.run_key;
      block.add(v, wire_encoder_);
      continue;
    }
    write_block();
    single->bind(1, next++).bind(2, v.run_key).bind(3, static_cast<std::int64_t>(v.kind)).bind(4, text(v.key));
    single->bind_null(5).bind(6, text(v.text)).bind(7, v.timestamp).bind(8, v.step);
    single->run();
    single->reset();
  }
  write_block();
  tx.commit();
}

void Spool::append(const std::vector<ItemView>& items) {
  append(items.size(), [&](std::size_t i) { return items[i]; });
}

std::vector<Item> Spool::read_items(std::int64_t run_key, std::int64_t after_seq, std::size_t limit) {
  std::vector<Item> out;
  read_items(run_key, after_seq, limit, out);
  return out;
}

void Spool::read_items(std::int64_t run_key, std::int64_t after_seq, std::size_t limit, std::vector<Item>& out) {
  std::lock_guard lock(mutex_);
  // A block's row seq is its last point's: a block partly acknowledged is still found by seq > after_seq.
  auto st = db_->cached(
      "SELECT seq, kind, key, value, text, timestamp, step, n_items, block FROM spool_items WHERE run_key = ? AND "
      "seq > ? ORDER BY seq LIMIT ?");
  st->bind(1, run_key).bind(2, after_seq).bind(3, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::size_t n = 0;
  // A failed read leaves nothing half-filled behind.
  struct TrimOnError {
    std::vector<Item>& out;
    int exceptions = std::uncaught_exceptions();
    ~TrimOnError() {
      if (std::uncaught_exceptions() > exceptions) out.clear();
    }
  } trim{out};
  auto next_item = [&]() -> Item& {
    if (n == out.size()) out.emplace_back();
    return out[n++];
  };
  while (n < limit && st->step()) {
    const std::int64_t seq = st->get_int64(0);
    const auto kind = static_cast<ItemKind>(st->get_int64(1));
    if (kind == ItemKind::metric_block) {
      BlockReader block(st->get_blob_view(8), seq, path_);
      const std::int64_t first = seq - static_cast<std::int64_t>(block.points()) + 1;
      if (static_cast<std::int64_t>(block.points()) != st->get_int64(7)) {
        throw MlflowError(ErrorCode::INVALID_STATE, "The spool file '" + path_ + "' holds a metric block (seq " +
                                                        std::to_string(seq) + ") whose count does not match its row");
      }
      for (std::uint32_t i = 0; i < block.points() && n < limit; ++i) {
        Item probe;
        Item& it = first + i > after_seq ? next_item() : probe;
        block.point(i, it);  // read in order even when skipped: the wire offsets add up
        it.seq = first + i;
        it.kind = ItemKind::metric;
        it.text.clear();
      }
      continue;
    }
    Item& it = next_item();
    it.seq = seq;
    it.kind = kind;
    it.key.assign(st->get_text_view(2));
    it.wire.clear();
    if (it.kind == ItemKind::metric) {
      it.value = st->is_null(3) ? std::numeric_limits<double>::quiet_NaN() : st->get_double(3);
      it.text.clear();
    } else {
      it.value = 0;
      it.text.assign(st->get_text_view(4));
    }
    it.timestamp = st->get_int64(5);
    it.step = st->get_int64(6);
  }
  st->reset();
  out.resize(n);
}

WireRange Spool::append_wire_metrics(std::int64_t run_key, std::int64_t after_seq, std::size_t max_points,
                                     std::string& out) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(
      "SELECT seq, kind, n_items, block FROM spool_items WHERE run_key = ? AND seq > ? ORDER BY seq LIMIT ?");
  st->bind(1, run_key).bind(2, after_seq).bind(3, static_cast<std::int64_t>(std::min<std::size_t>(max_points, INT64_MAX)));
  WireRange got;
  const std::size_t size_before = out.size();
  try {
    while (got.points < max_points && st->step()) {
      const std::int64_t seq = st->get_int64(0);
      if (static_cast<ItemKind>(st->get_int64(1)) != ItemKind::metric_block) break;
      BlockReader block(st->get_blob_view(3), seq, path_);
      const auto count = static_cast<std::int64_t>(block.points());
      if (count != st->get_int64(2) || count == 0) {
        throw MlflowError(ErrorCode::INVALID_STATE, "The spool file '" + path_ + "' holds a metric block (seq " +
                                                        std::to_string(seq) + ") whose count does not match its row");
      }
      const std::int64_t first = seq - count + 1;
      const auto from = static_cast<std::uint32_t>(std::max<std::int64_t>(after_seq + 1 - first, 0));
      const auto to = static_cast<std::uint32_t>(
          std::min<std::int64_t>(count, from + static_cast<std::int64_t>(max_points - got.points)));
      std::string_view bytes;
      const std::uint32_t covered = block.wire_range(from, to, bytes);
      out += bytes;
      got.points += covered;
      if (covered > 0) got.last_seq = first + from + covered - 1;
      if (covered < to - from) break;  // a point without a wire form: the caller encodes it
    }
  } catch (...) {
    out.resize(size_before);
    st->reset();
    throw;
  }
  st->reset();
  return got;
}

std::int64_t Spool::pending_items(std::int64_t run_key) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(
      "SELECT coalesce(sum(min(i.n_items, i.seq - r.acked_seq)), 0) FROM spool_items i JOIN spool_runs r ON "
      "r.run_key = i.run_key WHERE i.run_key = ?1 AND i.seq > r.acked_seq");
  st->bind(1, run_key);
  return st->step() ? st->get_int64(0) : 0;
}

bool Spool::has_pending_items(std::int64_t run_key) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(
      "SELECT EXISTS (SELECT 1 FROM spool_items WHERE run_key = ?1 AND seq > (SELECT acked_seq FROM spool_runs "
      "WHERE run_key = ?1))");
  st->bind(1, run_key);
  return st->step() && st->get_int64(0) != 0;
}

std::int64_t Spool::pending_items_total(std::string_view target_uri) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(
      "SELECT coalesce(sum(min(i.n_items, i.seq - r.acked_seq)), 0) FROM spool_items i JOIN spool_runs r ON "
      "r.run_key = i.run_key WHERE i.seq > r.acked_seq "
      "AND r.abandoned = 0 AND (?1 = '' OR r.target_uri = ?1)");
  st->bind(1, std::string(target_uri));
  return st->step() ? st->get_int64(0) : 0;
}

void Spool::mark_inflight(std::int64_t run_key, std::int64_t seq) {
  update_run_field(run_key, "UPDATE spool_runs SET inflight_seq = max(inflight_seq, ?2) WHERE run_key = ?1",
                   [&](void* s) { static_cast<Statement*>(s)->bind(2, seq); });
}

void Spool::acknowledge(std::int64_t run_key, std::int64_t seq, bool purge, std::optional<std::int64_t> maybe_applied) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  {
    auto st = db_->cached(
        "UPDATE spool_runs SET acked_seq = max(acked_seq, ?2), inflight_seq = CASE WHEN ?3 IS NULL THEN "
        "max(inflight_seq, ?2) ELSE max(acked_seq, ?2, ?3) END, last_error = '' WHERE run_key = ?1");
    st->bind(1, run_key).bind(2, seq).bind(3, maybe_applied);
    st->run();
  }
  if (purge) {
    // Delivered items are not kept: the spool stays as small as what is still pending.
    auto st = db_->cached("DELETE FROM spool_items WHERE run_key = ? AND seq <= ?");
    st->bind(1, run_key).bind(2, seq);
    st->run();
  }
  tx.commit();
}

void Spool::purge_acknowledged(std::int64_t run_key) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  auto st = db_->cached(
      "DELETE FROM spool_items WHERE run_key = ?1 AND seq <= (SELECT acked_seq FROM spool_runs WHERE run_key = ?1)");
  st->bind(1, run_key);
  st->run();
  tx.commit();
}

std::vector<RunSummary> Spool::pending_runs(std::string_view target_uri) {
  std::vector<RunSummary> out;
  for (auto& run : list_runs(target_uri)) {
    if (run.abandoned) continue;
    RunSummary s;
    s.pending_items = pending_items(run.run_key);
    const bool needs_create = run.server_run_id.empty();
    const bool needs_terminal = run.terminal_requested && !run.terminal_synced;
    if (s.pending_items == 0 && !needs_create && !needs_terminal) continue;
    s.run = std::move(run);
    out.push_back(std::move(s));
  }
  return out;
}

void Spool::remember_experiment(std::string_view target_uri, std::string_view name, std::string_view experiment_id) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  auto st = db_->cached("INSERT OR REPLACE INTO spool_experiments (target_uri, name, experiment_id) VALUES (?,?,?)");
  st->bind(1, text(target_uri)).bind(2, text(name)).bind(3, text(experiment_id));
  st->run();
  tx.commit();
}

std::optional<std::string> Spool::experiment_id_for(std::string_view target_uri, std::string_view name) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached("SELECT experiment_id FROM spool_experiments WHERE target_uri = ? AND name = ?");
  st->bind(1, text(target_uri)).bind(2, text(name));
  if (!st->step()) return std::nullopt;
  return st->get_text(0);
}

std::optional<std::string> Spool::experiment_name_for(std::string_view target_uri, std::string_view experiment_id) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached("SELECT name FROM spool_experiments WHERE target_uri = ? AND experiment_id = ?");
  st->bind(1, text(target_uri)).bind(2, text(experiment_id));
  if (!st->step()) return std::nullopt;
  return st->get_text(0);
}

std::optional<SyncState> Spool::get_sync_state(std::string_view source, std::string_view source_run_id,
                                               std::string_view target_uri) {
  std::lock_guard lock(mutex_);
  auto st = db_->cached(
      "SELECT server_run_id, acked, inflight, meta_synced, terminal_synced FROM sync_state WHERE source = ? AND "
      "source_run_id = ? AND target_uri = ?");
  st->bind(1, text(source)).bind(2, text(source_run_id)).bind(3, text(target_uri));
  if (!st->step()) return std::nullopt;
  SyncState s;
  s.source = source;
  s.source_run_id = source_run_id;
  s.target_uri = target_uri;
  s.server_run_id = st->get_text(0);
  s.acked = st->get_int64(1);
  s.inflight = st->get_int64(2);
  s.meta_synced = st->get_int64(3) != 0;
  s.terminal_synced = st->get_int64(4) != 0;
  return s;
}

void Spool::put_sync_state(const SyncState& s) {
  std::lock_guard lock(mutex_);
  Transaction tx(*db_, Transaction::Mode::immediate);
  auto st = db_->cached(
      "INSERT OR REPLACE INTO sync_state (source, source_run_id, target_uri, server_run_id, acked, inflight, "
      "meta_synced, terminal_synced) VALUES (?,?,?,?,?,?,?,?)");
  st->bind(1, s.source)
      .bind(2, s.source_run_id)
      .bind(3, s.target_uri)
      .bind(4, s.server_run_id)
      .bind(5, s.acked)
      .bind(6, s.inflight)
      .bind(7, static_cast<std::int64_t>(s.meta_synced))
      .bind(8, static_cast<std::int64_t>(s.terminal_synced));
  st->run();
  tx.commit();
}

// ---------------------------------------------------------------------------------------------------------------

std::optional<FileLock> FileLock::try_acquire(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw MlflowError(ErrorCode::IO_ERROR, "Cannot open the lock file '" + path + "'");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return FileLock(fd);
}

std::optional<FileLock> FileLock::acquire(const std::string& path, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (auto lock = try_acquire(path)) return lock;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

std::string owner_lock_path(const std::string& spool_path, std::string_view local_run_id) {
  return locks_dir(spool_path) + "/" + std::string(local_run_id) + ".owner";
}

std::string delivery_lock_path(const std::string& spool_path, std::string_view local_run_id) {
  return locks_dir(spool_path) + "/" + std::string(local_run_id) + ".deliver";
}

std::string new_local_id() {
  static thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd(), static_cast<unsigned>(getpid()),
                       static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count())};
    return std::mt19937_64(seed);
  }();
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = rng();
    for (int i = 0; i < 16; ++i) {
      id[static_cast<std::size_t>(half * 16 + i)] = hex[bits & 0xf];
      bits >>= 4;
    }
  }
  return id;
}

}  // namespace mlflow::spool
