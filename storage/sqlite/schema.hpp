#pragma once
// The MLflow table layout: creating it in a new file, and checking that an existing file can be used as is.

#include <string>
#include <string_view>
#include <vector>

namespace mlflow::sqlite {

class Database;

namespace schema {

/// The alembic head of MLflow 2.17.2, which new files are stamped with (MLflow 2.17 opens such a file as is,
/// MLflow 3.x migrates it in place).
inline constexpr std::string_view CREATED_REVISION = "f5a4f2784254";

/// The complete DDL of MLflow 2.17.2's SQLite store, statement for statement as MLflow's own file holds it.
std::string_view mlflow_2_17_2_ddl();

/// Every alembic revision known to this build, oldest first (2.17.2's chain followed by 3.3's additions).
const std::vector<std::string_view>& known_revisions();
bool is_known_revision(std::string_view revision);

/// What open_or_create found or did.
struct Status {
  std::string revision;  ///< the alembic stamp of the file
  bool created = false;  ///< true when this call created the tables
};

/// Makes `db` usable as an MLflow tracking store. A database without any schema object gets the 2.17.2 tables
/// and stamp. An existing MLflow file is checked, never altered: every table and column the store reads or
/// writes must be there, and no NOT NULL column without default that the store does not fill may exist.
/// Throws MlflowError(INVALID_STATE) for a file that is not a database, a foreign SQLite file, an unstamped
/// file, or one missing what the store needs; the message names the file and what is wrong. A file that is
/// refused is left byte for byte as it was.
Status open_or_create(Database& db);

}  // namespace schema
}  // namespace mlflow::sqlite
