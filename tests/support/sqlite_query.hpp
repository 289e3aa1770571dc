#pragma once
// Reads and writes an SQLite file on a connection of its own (the raw C API, not the code under test), so that
// tests see what is really in the file.

#include <string>
#include <vector>

namespace mlflow::test {

/// Rows of text cells ("NULL" for NULL).
using Rows = std::vector<std::vector<std::string>>;

/// Runs `sql` (one or more statements) on a new connection to `path` and returns every row. Waits up to 20 s for
/// a lock another connection holds. Without `create` a missing file is an error. Throws std::runtime_error.
Rows sqlite_query(const std::string& path, const std::string& sql, bool create = false);

}  // namespace mlflow::test
