#pragma once
// Small RAII types over the SQLite C API (in the spirit of SQLiteCpp): Database, Statement, Transaction.
// Internal to mlflow::storage; sqlite3.h stays in the .cpp (only opaque forward declarations here).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mlflow/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace mlflow::sqlite {

/// An SQLite failure as an MlflowError: keeps SQLite's primary and extended result codes. Immutable.
/// Codes map like MLflow's session wrapper: busy/locked -> TEMPORARILY_UNAVAILABLE, constraint -> BAD_REQUEST,
/// not-a-database/corrupt -> INVALID_STATE, I/O and open failures -> IO_ERROR, the rest -> INTERNAL_ERROR.
class SqliteError : public MlflowError {
 public:
  SqliteError(int extended_code, const std::string& message);
  int code() const noexcept { return extended_code_ & 0xff; }
  int extended_code() const noexcept { return extended_code_; }

 private:
  int extended_code_;
};

class Statement;

/// One SQLite connection with MLflow's per-connection settings (foreign keys on, busy timeout,
/// case-sensitive LIKE) and a cache of prepared statements. Not thread-safe: guard it with a mutex.
class Database {
 public:
  struct Options {
    int busy_timeout_ms = 20000;  ///< as MLflow's SQLAlchemy store
    bool create = true;           ///< create the file when it does not exist
  };

  /// Opens (and, with options.create, creates) the file; ":memory:" gives a private in-memory database.
  explicit Database(const std::string& path, Options options);
  explicit Database(const std::string& path) : Database(path, Options{}) {}
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Runs one or more statements without results.
  void exec(const std::string& sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const noexcept;
  std::int64_t last_insert_rowid() const noexcept;
  /// True while a transaction is open on this connection.
  bool in_transaction() const noexcept;

  /// A prepared statement kept for the life of the connection; reset when the returned handle goes away.
  class Cached;
  Cached cached(const std::string& sql);

  const std::string& path() const noexcept { return path_; }
  sqlite3* handle() const noexcept { return db_; }
  /// Throws SqliteError for rc unless it is SQLITE_OK/ROW/DONE; `what` says what was being done.
  void check(int rc, std::string_view what) const;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

/// One prepared statement. Binding indexes are 1-based, column indexes 0-based (as in SQLite).
/// Not thread-safe; belongs to its Database's thread of use.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::optional<std::int64_t> value);
  Statement& bind_null(int index);
  /// Binds bytes as a BLOB (copied): unlike text, they need not be UTF-8.
  Statement& bind_blob(int index, std::string_view bytes);

  /// Steps once: true when a row is available, false when done.
  bool step();
  /// Steps to completion (statements without rows).
  void run();
  /// Makes the statement ready to run again with no bindings; never throws.
  void reset() noexcept;

  bool is_null(int column) const;
  std::int64_t get_int64(int column) const;
  double get_double(int column) const;
  std::string get_text(int column) const;
  /// The text of a column without a copy; valid until the next step() or reset().
  std::string_view get_text_view(int column) const;
  /// A BLOB column's bytes, valid until the next step/reset (empty for NULL).
  std::string_view get_blob_view(int column) const;
  std::optional<std::int64_t> get_optional_int64(int column) const;

  const std::string& sql() const noexcept { return sql_; }

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

/// A cached statement on loan: resets it (releasing any read lock it holds) when it goes out of scope.
class Database::Cached {
 public:
  explicit Cached(Statement& statement) : statement_(&statement) {}
  ~Cached() { statement_->reset(); }
  Cached(const Cached&) = delete;
  Cached& operator=(const Cached&) = delete;
  Statement* operator->() const noexcept { return statement_; }
  Statement& operator*() const noexcept { return *statement_; }

 private:
  Statement* statement_;
};

/// A transaction scope: rolls back on destruction unless commit() was called; the destructor never throws.
/// `immediate` takes the write lock at once (BEGIN IMMEDIATE), so concurrent writers queue on the busy
/// timeout instead of failing with a deadlock when they upgrade. Not thread-safe.
class Transaction {
 public:
  enum class Mode { deferred, immediate };
  Transaction(Database& db, Mode mode);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool open_ = false;
};

}  // namespace mlflow::sqlite
