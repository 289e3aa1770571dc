// The file layout SqliteStore creates and the files it agrees (or refuses) to open.
// Real SQLite files in a temporary directory; the store's file is inspected with the raw SQLite C API.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/error.hpp"
#include "storage/sqlite/database.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "support/sqlite_query.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using mlflow::ErrorCode;
using mlflow::MlflowError;
using mlflow::sqlite::SqliteStore;
using mlflow::test::expect_error;
using mlflow::test::Rows;
using mlflow::test::TempDir;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string data_file(const std::string& name) { return std::string(MLFLOW_TEST_DATA_DIR) + "/" + name; }


// Runs SQL on its own connection (not the store's), creating the file when it is missing.
Rows query(const std::string& path, const std::string& sql) { return mlflow::test::sqlite_query(path, sql, true); }

void exec(const std::string& path, const std::string& sql) { query(path, sql); }

std::string collapse_whitespace(const std::string& s) {
  std::string out;
  bool space = false;
  for (const char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The statements of a `.schema` dump. The sqlite3 shell prints `CREATE TABLE "x"` as
// `CREATE TABLE IF NOT EXISTS "x"`; undo that to get what sqlite_master holds.
std::vector<std::string> dump_statements(const std::string& dump) {
  std::vector<std::string> statements;
  std::size_t start = 0;
  while (true) {
    const auto end = dump.find(";\n", start);
    std::string statement = dump.substr(start, end == std::string::npos ? std::string::npos : end - start);
    statement = collapse_whitespace(statement);
    const std::string shell_form = "CREATE TABLE IF NOT EXISTS ";
    if (statement.rfind(shell_form, 0) == 0) statement = "CREATE TABLE " + statement.substr(shell_form.size());
    if (!statement.empty()) statements.push_back(statement);
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return statements;
}

std::vector<std::string> master_statements(const std::string& path) {
  std::vector<std::string> statements;
  for (const auto& row : query(path, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")) {
    statements.push_back(collapse_whitespace(row[0]));
  }
  return statements;
}

// Builds an MLflow-made file from a DDL dump: the dump's statements as MLflow left them, plus a stamp.
void make_mlflow_file(const std::string& path, const std::string& ddl, const std::string& stamp) {
  std::string script = "BEGIN;\n" + ddl;
  if (!stamp.empty()) script += "INSERT INTO alembic_version (version_num) VALUES ('" + stamp + "');\n";
  exec(path, script + "COMMIT;");
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  if (pos == std::string::npos) throw std::runtime_error("fixture text not found: " + from);
  return text.replace(pos, from.size(), to);
}

std::string sqlite_uri(const std::string& path) { return "sqlite:///" + path; }  // path is absolute

}  // namespace

TEST(SqliteSchema, new_file_ddl_equals_mlflow_2_17_2_dump_statement_by_statement) {
  TempDir dir;
  const auto path = dir.file("new.db");
  { SqliteStore store(sqlite_uri(path)); }
  const auto expected = dump_statements(read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")));
  const auto actual = master_statements(path);
  ASSERT_EQ(expected.size(), 30u);  // 19 tables and 11 explicit indexes in MLflow 2.17.2's file
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(actual[i], expected[i]) << "statement " << i;
}

TEST(SqliteSchema, new_file_has_the_same_tables_and_indexes_as_mlflow_including_automatic_ones) {
  TempDir dir;
  const auto mine = dir.file("mine.db");
  const auto reference = dir.file("reference.db");
  { SqliteStore store(sqlite_uri(mine)); }
  make_mlflow_file(reference, read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")), "");
  const std::string objects = "SELECT type, name, tbl_name FROM sqlite_master ORDER BY rowid";
  EXPECT_EQ(query(mine, objects), query(reference, objects));
}

TEST(SqliteSchema, new_file_is_stamped_f5a4f2784254) {
  TempDir dir;
  const auto path = dir.file("new.db");
  SqliteStore store(sqlite_uri(path));
  EXPECT_EQ(store.schema_revision(), "f5a4f2784254");
  EXPECT_EQ(query(path, "SELECT version_num FROM alembic_version"), (Rows{{"f5a4f2784254"}}));
}

TEST(SqliteSchema, new_file_has_default_experiment_0_under_cwd_mlruns) {
  TempDir dir;
  const auto path = dir.file("new.db");
  { SqliteStore store(sqlite_uri(path)); }
  const auto rows = query(path,
                          "SELECT experiment_id, name, artifact_location, lifecycle_stage, "
                          "creation_time = last_update_time, creation_time > 1600000000000 FROM experiments");
  const std::string location = fs::current_path().generic_string() + "/mlruns/0";
  EXPECT_EQ(rows, (Rows{{"0", "Default", location, "active", "1", "1"}}));
  EXPECT_EQ(query(path, "SELECT typeof(experiment_id), typeof(creation_time) FROM experiments"),
            (Rows{{"integer", "integer"}}));
}

TEST(SqliteSchema, default_experiment_uses_the_given_artifact_root) {
  TempDir dir;
  const auto path = dir.file("new.db");
  { SqliteStore store(sqlite_uri(path), std::string("mlflow-artifacts:/")); }
  EXPECT_EQ(query(path, "SELECT artifact_location FROM experiments"), (Rows{{"mlflow-artifacts:/0"}}));
}

TEST(SqliteSchema, empty_file_is_initialised) {
  TempDir dir;
  const auto path = dir.file("empty.db");
  write_bytes(path, "");
  SqliteStore store(sqlite_uri(path));
  EXPECT_EQ(store.schema_revision(), "f5a4f2784254");
  EXPECT_EQ(master_statements(path).size(), 30u);
  EXPECT_EQ(query(path, "SELECT name FROM experiments"), (Rows{{"Default"}}));
}

TEST(SqliteSchema, reopening_keeps_data_and_adds_nothing) {
  TempDir dir;
  const auto path = dir.file("reopen.db");
  std::string id;
  { id = SqliteStore(sqlite_uri(path)).create_experiment("kept"); }
  const auto schema_before = master_statements(path);
  SqliteStore store(sqlite_uri(path));
  EXPECT_EQ(store.get_experiment(id).name, "kept");
  EXPECT_EQ(master_statements(path), schema_before);
  EXPECT_EQ(query(path, "SELECT count(*) FROM experiments"), (Rows{{"2"}}));
  EXPECT_EQ(query(path, "SELECT count(*) FROM alembic_version"), (Rows{{"1"}}));
}

TEST(SqliteSchema, mlflow_3_3_file_is_used_as_is_and_keeps_its_stamp) {
  TempDir dir;
  const auto path = dir.file("mlflow33.db");
  make_mlflow_file(path, read_text(data_file("mlflow-3.3-534353b11cbc.sql")), "534353b11cbc");
  const auto schema_before = master_statements(path);
  {
    SqliteStore store(sqlite_uri(path));
    EXPECT_EQ(store.schema_revision(), "534353b11cbc");
    const auto experiment_id = store.create_experiment("on-3.3");
    const auto run = store.create_run(experiment_id, "me", 1000, {}, "r");
    store.log_batch(run.info.run_id, {{"loss", 0.5, 1000, 1}}, {{"lr", "0.1"}}, {{"t", "v"}});
    const auto back = store.get_run(run.info.run_id);
    ASSERT_EQ(back.data.metrics.size(), 1u);
    EXPECT_EQ(back.data.metrics[0].value, 0.5);
    EXPECT_EQ(back.data.params.size(), 1u);
  }
  EXPECT_EQ(query(path, "SELECT version_num FROM alembic_version"), (Rows{{"534353b11cbc"}}));
  EXPECT_EQ(master_statements(path), schema_before);
  // MLflow creates the Default experiment in an empty store; so does this one.
  EXPECT_EQ(query(path, "SELECT experiment_id, name FROM experiments ORDER BY experiment_id"),
            (Rows{{"0", "Default"}, {"1", "on-3.3"}}));
}

TEST(SqliteSchema, mlflow_2_17_file_with_rows_is_used_as_is) {
  TempDir dir;
  const auto path = dir.file("mlflow217.db");
  make_mlflow_file(path, read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")), "f5a4f2784254");
  exec(path,
       "INSERT INTO experiments VALUES (0, 'Default', '/x/mlruns/0', 'active', 1, 1);"
       "INSERT INTO experiments VALUES (7, 'seven', '/x/mlruns/7', 'active', 2, 2);");
  SqliteStore store(sqlite_uri(path));
  EXPECT_EQ(store.create_experiment("next"), "8");
  EXPECT_EQ(store.get_experiment("8").artifact_location, fs::current_path().generic_string() + "/mlruns/8");
  EXPECT_EQ(query(path, "SELECT count(*) FROM experiments WHERE name = 'Default'"), (Rows{{"1"}}));
}

TEST(SqliteSchema, file_missing_a_needed_column_is_refused_naming_it_and_left_intact) {
  TempDir dir;
  const auto path = dir.file("no_deleted_time.db");
  const auto ddl = replace_once(read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")),
                                "experiment_id INTEGER, deleted_time BIGINT, ", "experiment_id INTEGER, ");
  make_mlflow_file(path, ddl, "f5a4f2784254");
  const auto before = read_bytes(path);
  expect_error([&] { SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE, {"runs.deleted_time", path});
  EXPECT_EQ(read_bytes(path), before);
}

TEST(SqliteSchema, file_missing_a_needed_table_is_refused_naming_it) {
  TempDir dir;
  const auto path = dir.file("no_latest.db");
  make_mlflow_file(path, read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")), "f5a4f2784254");
  exec(path, "DROP TABLE latest_metrics");
  const auto before = read_bytes(path);
  expect_error([&] { SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE, {"'latest_metrics'"});
  EXPECT_EQ(read_bytes(path), before);
}

TEST(SqliteSchema, old_revision_missing_columns_suggests_mlflow_db_upgrade) {
  TempDir dir;
  const auto path = dir.file("old.db");
  const auto ddl = replace_once(read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")),
                                "lifecycle_stage VARCHAR(32), creation_time BIGINT, last_update_time BIGINT, ",
                                "lifecycle_stage VARCHAR(32), ");
  make_mlflow_file(path, ddl, "0c779009ac13");
  expect_error([&] { SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE,
               {"experiments.creation_time", "experiments.last_update_time", "0c779009ac13", "mlflow db upgrade"});
}

TEST(SqliteSchema, not_null_column_the_store_cannot_fill_is_refused) {
  TempDir dir;
  const auto path = dir.file("future.db");
  make_mlflow_file(path, read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")), "f5a4f2784254");
  exec(path, "ALTER TABLE metrics ADD COLUMN model_id VARCHAR(36) NOT NULL DEFAULT 'x'");  // has a default: fine
  { SqliteStore ok(sqlite_uri(path)); }
  const auto path2 = dir.file("future2.db");
  const auto ddl = replace_once(read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")), "\tuser_id VARCHAR(256), \n",
                                "\tuser_id VARCHAR(256), \n\tworkspace VARCHAR(63) NOT NULL, \n");
  make_mlflow_file(path2, ddl, "ffffffffffff");
  const auto before = read_bytes(path2);
  expect_error([&] { SqliteStore store(sqlite_uri(path2)); }, ErrorCode::INVALID_STATE, {"runs.workspace"});
  EXPECT_EQ(read_bytes(path2), before);
}

TEST(SqliteSchema, unknown_newer_revision_with_all_needed_columns_is_accepted) {
  TempDir dir;
  const auto path = dir.file("newer.db");
  make_mlflow_file(path, read_text(data_file("mlflow-3.3-534353b11cbc.sql")), "0123456789ab");
  SqliteStore store(sqlite_uri(path));
  EXPECT_EQ(store.schema_revision(), "0123456789ab");
  EXPECT_FALSE(mlflow::sqlite::schema::is_known_revision("0123456789ab"));
  EXPECT_TRUE(mlflow::sqlite::schema::is_known_revision("534353b11cbc"));
  EXPECT_TRUE(mlflow::sqlite::schema::is_known_revision("f5a4f2784254"));
}

TEST(SqliteSchema, unstamped_mlflow_like_file_is_refused) {
  TempDir dir;
  const auto path = dir.file("unstamped.db");
  make_mlflow_file(path, read_text(data_file("mlflow-2.17.2-f5a4f2784254.sql")), "");
  const auto before = read_bytes(path);
  expect_error([&] { SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE, {"alembic_version"});
  EXPECT_EQ(read_bytes(path), before);
}

TEST(SqliteSchema, corrupt_file_is_refused_and_left_byte_for_byte_intact) {
  TempDir dir;
  const auto path = dir.file("corrupt.db");
  std::mt19937 rng(12345);
  std::string bytes(16384, '\0');
  for (auto& b : bytes) b = static_cast<char>(rng() & 0xff);
  write_bytes(path, bytes);
  expect_error([&] { SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE,
               {"not an SQLite database", path, "not modified"});
  EXPECT_EQ(read_bytes(path), bytes);
  EXPECT_FALSE(fs::exists(path + "-journal"));
}

TEST(SqliteSchema, foreign_sqlite_file_is_refused_and_left_byte_for_byte_intact) {
  TempDir dir;
  const auto path = dir.file("foreign.db");
  exec(path,
       "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
       "INSERT INTO customers (name) VALUES ('ada'), ('grace');");
  const auto before = read_bytes(path);
  expect_error([&] { SqliteStore store(sqlite_uri(path)); }, ErrorCode::INVALID_STATE,
               {"'customers'", "something else"});
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(query(path, "SELECT name FROM sqlite_master"), (Rows{{"customers"}}));
}

TEST(SqliteSchema, two_stores_creating_one_new_file_at_once_make_one_schema_and_one_default_experiment) {
  TempDir dir;
  const auto path = dir.file("race.db");
  std::vector<std::thread> threads;
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      try {
        SqliteStore store(sqlite_uri(path));
        store.get_experiment("0");
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(master_statements(path).size(), 30u);
  EXPECT_EQ(query(path, "SELECT count(*) FROM experiments"), (Rows{{"1"}}));
  EXPECT_EQ(query(path, "SELECT count(*) FROM alembic_version"), (Rows{{"1"}}));
}

TEST(SqliteSchema, every_connection_gets_mlflow_settings) {
  // The store's connections are Database objects; MLflow sets these three on every connection.
  TempDir dir;
  const auto path = dir.file("settings.db");
  { SqliteStore store(sqlite_uri(path)); }
  mlflow::sqlite::Database db(path);
  auto value_of = [&](const std::string& sql) {
    mlflow::sqlite::Statement st(db, sql);
    EXPECT_TRUE(st.step());
    return st.get_int64(0);
  };
  EXPECT_EQ(value_of("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(value_of("PRAGMA busy_timeout"), 20000);
  EXPECT_EQ(value_of("SELECT 'a' LIKE 'A'"), 0);  // case_sensitive_like = true
  // MLflow's default rollback journal is kept.
  mlflow::sqlite::Statement journal(db, "PRAGMA journal_mode");
  ASSERT_TRUE(journal.step());
  EXPECT_EQ(journal.get_text(0), "delete");
  // With foreign keys on, a run in a missing experiment is a constraint error, mapped like MLflow's
  // IntegrityError (BAD_REQUEST), carrying SQLite's message.
  expect_error([&] { db.exec("INSERT INTO runs (run_uuid, experiment_id) VALUES ('r', 999)"); }, ErrorCode::BAD_REQUEST,
               {"FOREIGN KEY constraint failed"});
}
