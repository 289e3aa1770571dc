#include "storage/sqlite/schema.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "mlflow/error.hpp"
#include "storage/sqlite/database.hpp"

namespace mlflow::sqlite::schema {
namespace {

// The columns the store reads or writes, per table. Any file that has them (whatever its revision) works.
struct TableNeeds {
  std::string_view table;
  std::vector<std::string_view> columns;
};

const std::vector<TableNeeds>& needed_tables() {
  static const std::vector<TableNeeds> needs = {
      {"experiments",
       {"experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time", "last_update_time"}},
      {"experiment_tags", {"key", "value", "experiment_id"}},
      {"runs",
       {"run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id", "status", "start_time",
        "end_time", "source_version", "lifecycle_stage", "artifact_uri", "experiment_id", "deleted_time"}},
      {"metrics", {"key", "value", "timestamp", "run_uuid", "step", "is_nan"}},
      {"latest_metrics", {"key", "value", "timestamp", "step", "is_nan", "run_uuid"}},
      {"params", {"key", "value", "run_uuid"}},
      {"tags", {"key", "value", "run_uuid"}},
  };
  return needs;
}

[[noreturn]] void refuse(const Database& db, const std::string& why) {
  throw MlflowError(ErrorCode::INVALID_STATE, "Cannot use '" + db.path() + "' as an MLflow tracking store: " + why +
                                                  " The file was not modified.");
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += "'" + item + "'";
  }
  return out;
}

struct MasterEntry {
  std::string type;
  std::string name;
};

std::vector<MasterEntry> read_master(Database& db) {
  std::vector<MasterEntry> entries;
  try {
    Statement st(db, "SELECT type, name FROM sqlite_master");
    while (st.step()) entries.push_back({st.get_text(0), st.get_text(1)});
  } catch (const SqliteError& e) {
    if (e.code() == SQLITE_NOTADB || e.code() == SQLITE_CORRUPT) {
      refuse(db, "it is not an SQLite database (SQLite says: " + std::string(sqlite3_errstr(e.extended_code())) +
                     "). Point the tracking URI at a new or an MLflow-made .db file.");
    }
    throw;
  }
  return entries;
}

std::string older_revision_hint(const std::string& revision) {
  const auto& known = known_revisions();
  const auto it = std::find(known.begin(), known.end(), revision);
  const auto created = std::find(known.begin(), known.end(), CREATED_REVISION);
  if (it != known.end() && it < created) {
    return " The file is at alembic revision " + revision +
           " of an older MLflow; upgrade it with `mlflow db upgrade sqlite:///<file>` (MLflow 2.17 or newer) first.";
  }
  return "";
}

void verify_tables(Database& db, const std::set<std::string>& tables, const std::string& revision) {
  std::vector<std::string> missing_tables;
  std::vector<std::string> missing_columns;
  std::vector<std::string> unfillable_columns;
  for (const auto& need : needed_tables()) {
    const std::string table(need.table);
    if (tables.count(table) == 0) {
      missing_tables.push_back(table);
      continue;
    }
    std::map<std::string, bool> columns;  // name -> NOT NULL without default (must be filled by every insert)
    Statement info(db, "PRAGMA table_info(\"" + table + "\")");
    int pk_count = 0;
    std::string integer_pk;
    while (info.step()) {
      const std::string name = info.get_text(1);
      const std::string type = info.get_text(2);
      const bool not_null = info.get_int64(3) != 0;
      const bool has_default = !info.is_null(4);
      if (info.get_int64(5) > 0) {
        ++pk_count;
        integer_pk = (type == "INTEGER") ? name : "";
      }
      columns[name] = not_null && !has_default;
    }
    // A lone INTEGER primary key is the rowid: SQLite fills it.
    if (pk_count == 1 && !integer_pk.empty()) columns[integer_pk] = false;
    for (const auto& column : need.columns) {
      if (columns.count(std::string(column)) == 0) missing_columns.push_back(table + "." + std::string(column));
    }
    for (const auto& [name, must_fill] : columns) {
      const bool filled = std::find(need.columns.begin(), need.columns.end(), name) != need.columns.end();
      if (must_fill && !filled) unfillable_columns.push_back(table + "." + name);
    }
  }
  if (!missing_tables.empty()) {
    refuse(db, "it lacks the table(s) " + join(missing_tables) + " that the store needs (alembic revision " + revision +
                   ")." + older_revision_hint(revision));
  }
  if (!missing_columns.empty()) {
    refuse(db, "it lacks the column(s) " + join(missing_columns) + " that the store needs (alembic revision " +
                   revision + ")." + older_revision_hint(revision));
  }
  if (!unfillable_columns.empty()) {
    refuse(db, "it has NOT NULL column(s) without default " + join(unfillable_columns) +
                   " that this store does not know how to fill (alembic revision " + revision +
                   ", probably a newer MLflow).");
  }
}

std::string read_stamp(Database& db) {
  Statement st(db, "SELECT version_num FROM alembic_version");
  std::vector<std::string> stamps;
  while (st.step()) stamps.push_back(st.get_text(0));
  if (stamps.empty()) {
    refuse(db, "its alembic_version table is empty, so MLflow could not tell its schema revision.");
  }
  if (stamps.size() > 1) {
    refuse(db, "it carries several alembic heads (" + join(stamps) + "), which MLflow's tracking store never does.");
  }
  return stamps.front();
}

void create_tables(Database& db) {
  db.exec(std::string(mlflow_2_17_2_ddl()));
  Statement stamp(db, "INSERT INTO alembic_version (version_num) VALUES (?)");
  stamp.bind(1, CREATED_REVISION);
  stamp.run();
}

}  // namespace

const std::vector<std::string_view>& known_revisions() {
  static const std::vector<std::string_view> revisions = {
      // MLflow 2.17.2's chain, base to head.
      "451aebb31d03", "90e64c465722", "181f10493468", "df50e92ffc5e", "7ac759974ad8", "89d4b8295536", "2b4d017a5e9b",
      "cfd24bdc0731", "0a8213491aaa", "728d730b5ebd", "27a6a02d2cf1", "84291f40a231", "a8c4a736bde6", "39d1c3be5f05",
      "c48cb773bb87", "bd07f7e963c5", "0c779009ac13", "cc1f77228345", "97727af70f4d", "3500859a5d39", "7f2a7d5fae7d",
      "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4", "5b0e9adcef9c", "4465047574b1", "f5a4f2784254",
      // MLflow 3.x additions up to 3.3's head.
      "0584bdc529eb", "400f98739977", "6953534de441", "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6",
      "de4033877273", "1a0cddfcaa16", "534353b11cbc"};
  return revisions;
}

bool is_known_revision(std::string_view revision) {
  const auto& known = known_revisions();
  return std::find(known.begin(), known.end(), revision) != known.end();
}

Status open_or_create(Database& db) {
  // First a plain read: a corrupt or foreign file is refused before any lock or write touches it.
  auto entries = read_master(db);
  if (entries.empty()) {
    // New or empty file. Check again under the write lock: another process may be creating it right now.
    Transaction tx(db, Transaction::Mode::immediate);
    if (read_master(db).empty()) {
      create_tables(db);
      tx.commit();
      return Status{std::string(CREATED_REVISION), true};
    }
    tx.commit();
    entries = read_master(db);
  }

  std::set<std::string> tables;
  for (const auto& entry : entries) {
    if (entry.type == "table" && entry.name.rfind("sqlite_", 0) != 0) tables.insert(entry.name);
  }
  const bool looks_like_mlflow =
      tables.count("experiments") > 0 || tables.count("runs") > 0 || tables.count("alembic_version") > 0;
  if (!looks_like_mlflow) {
    std::vector<std::string> names;
    for (const auto& entry : entries) names.push_back(entry.name);
    if (names.size() > 8) {
      const auto more = names.size() - 8;
      names.resize(8);
      names.push_back("... " + std::to_string(more) + " more");
    }
    refuse(db, "it is an SQLite database of something else (it holds " + join(names) +
                   " and none of MLflow's tables 'experiments', 'runs', 'alembic_version'). Use a new file name "
                   "for the tracking store.");
  }
  if (tables.count("alembic_version") == 0) {
    refuse(db,
           "it has MLflow-like tables but no alembic_version stamp, so it was not made by MLflow (MLflow "
           "itself would refuse it as 'found version None').");
  }
  const std::string revision = read_stamp(db);
  verify_tables(db, tables, revision);
  return Status{revision, false};
}

}  // namespace mlflow::sqlite::schema
