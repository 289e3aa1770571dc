#include "storage/sqlite/database.hpp"

#include <sqlite3.h>

#include <cstring>
#include <limits>
#include <utility>

namespace mlflow::sqlite {
namespace {

ErrorCode error_code_for(int extended_code) {
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::TEMPORARILY_UNAVAILABLE;
    case SQLITE_CONSTRAINT:
      return ErrorCode::BAD_REQUEST;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return ErrorCode::INVALID_STATE;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorCode::IO_ERROR;
    default:
      return ErrorCode::INTERNAL_ERROR;
  }
}

// For I/O failures SQLite's text is generic ("disk I/O error"): the system's reason when SQLite kept it
// ("Permission denied"), and for failed writes what to check.
std::string io_hint(sqlite3* db, int rc) {
  std::string hint;
  const int primary = rc & 0xff;
  if (db != nullptr && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN)) {
    if (const int err = sqlite3_system_errno(db); err != 0) hint += ": " + std::string(std::strerror(err));
  }
  if (primary == SQLITE_FULL || rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR_TRUNCATE) {
    hint += ". The file could not be written: check that its disk has free space and that no file size limit "
            "(ulimit -f) or quota is reached; what was committed before is kept";
  }
  return hint;
}

std::string describe(sqlite3* db, int rc, const std::string& path, std::string_view what) {
  std::string message = "SQLite error on '" + path + "'";
  if (!what.empty()) message.append(" while ").append(what);
  message += ": ";
  // The connection's message is more specific (names the table or constraint) when it belongs to rc.
  const char* detail = (db != nullptr && sqlite3_extended_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  message += detail != nullptr ? detail : "unknown error";
  message += " (" + std::string(sqlite3_errstr(rc)) + ", code " + std::to_string(rc) + ")";
  message += io_hint(db, rc);
  return message;
}

int clamp_size(std::size_t n) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                      "value too large for SQLite (" + std::to_string(n) + " bytes)");
  }
  return static_cast<int>(n);
}

}  // namespace

SqliteError::SqliteError(int extended_code, const std::string& message)
    : MlflowError(error_code_for(extended_code), message), extended_code_(extended_code) {}

// ---------------------------------------------------------------------------------------------------------------
// Database

Database::Database(const std::string& path, Options options) : path_(path) {
  // One connection is only ever used under the owner's mutex, so SQLite's own per-connection mutex is not needed.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const int extended = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
    std::string message = describe(db_, extended, path_, "opening the database");
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw SqliteError(extended, message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options.busy_timeout_ms);
  try {
    // Connection-level settings only: none of them reads or writes the file, so opening a file that is not
    // a database leaves it untouched.
    exec("PRAGMA foreign_keys = ON");
    exec("PRAGMA case_sensitive_like = true");
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Database::~Database() {
  cache_.clear();  // statements must be finalized before the connection closes
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void Database::check(int rc, std::string_view what) const {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  throw SqliteError(rc, describe(db_, rc, path_, what));
}

void Database::exec(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const int extended = sqlite3_extended_errcode(db_);
    std::string message = "SQLite error on '" + path_ + "' while executing '" + sql.substr(0, 120) +
                          (sql.size() > 120 ? "...'" : "'") + ": " + (error != nullptr ? error : sqlite3_errstr(rc)) +
                          " (" + sqlite3_errstr(extended) + ", code " + std::to_string(extended) + ")" +
                          io_hint(db_, extended);
    sqlite3_free(error);
    throw SqliteError(extended, message);
  }
}

std::int64_t Database::changes() const noexcept { return sqlite3_changes64(db_); }

std::int64_t Database::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

bool Database::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

Database::Cached Database::cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
  return Cached(*it->second);
}

// ---------------------------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Database& db, std::string_view sql) : db_(db), sql_(sql) {
  const int rc = sqlite3_prepare_v3(db_.handle(), sql_.data(), clamp_size(sql_.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    const int extended = sqlite3_extended_errcode(db_.handle());
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    throw SqliteError(extended, describe(db_.handle(), extended, db_.path(), "preparing '" + sql_ + "'"));
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  db_.check(sqlite3_bind_double(stmt_, index, value), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  db_.check(sqlite3_bind_text(stmt_, index, value.data(), clamp_size(value.size()), SQLITE_TRANSIENT),
            "binding a parameter");
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  db_.check(sqlite3_bind_blob(stmt_, index, bytes.empty() ? "" : bytes.data(), clamp_size(bytes.size()),
                              SQLITE_TRANSIENT),
            "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  db_.check(sqlite3_bind_null(stmt_, index), "binding a parameter");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const int extended = sqlite3_extended_errcode(db_.handle());
  std::string message = describe(db_.handle(), extended, db_.path(), "running '" + sql_ + "'");
  sqlite3_reset(stmt_);
  throw SqliteError(extended, message);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::int64_t Statement::get_int64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::get_double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::get_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string_view Statement::get_text_view(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::string_view Statement::get_blob_view(int column) const {
  const void* bytes = sqlite3_column_blob(stmt_, column);
  if (bytes == nullptr) return {};
  return {static_cast<const char*>(bytes), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::optional<std::int64_t> Statement::get_optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return get_int64(column);
}

// ---------------------------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(Database& db, Mode mode) : db_(db) {
  db_.exec(mode == Mode::immediate ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = true;
}

Transaction::~Transaction() {
  if (!open_) return;
  // A failed COMMIT may already have ended the transaction; ROLLBACK then fails harmlessly.
  if (db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace mlflow::sqlite
