// Local ingest: points per second from log_metric calls until they are durable in an MLflow-format SQLite file
// (metrics and latest_metrics), beside a raw baseline that inserts the same rows into the same table layout
// (MLflow 2.17.2's DDL) with one prepared statement, 1000 rows per transaction, in WAL mode.

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bench_support.hpp"
#include "mlflow/client.hpp"

namespace mlflow::bench {
namespace {

std::int64_t count_rows(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

void report_rate(benchmark::State& state, std::int64_t points, double elapsed) {
  state.counters["points_per_s"] = benchmark::Counter(static_cast<double>(points) / elapsed);
  state.SetItemsProcessed(points);
}

/// The whole client path: MlflowClient (validation) -> LoggingStore (queue) -> worker -> SqliteStore (metrics and
/// latest_metrics, one transaction per batch), until flush() says everything is committed.
void BM_LocalIngest_Client(benchmark::State& state) {
  const std::int64_t n = config().ingest_points;
  double total = 0;
  for (auto _ : state) {
    ScratchDir dir("ingest");
    const std::string path = dir.file("mlflow.db");
    {
      MlflowClient client("sqlite:///" + path);
      const std::string run_id = client.create_run("0").info.run_id;
      const auto t0 = std::chrono::steady_clock::now();
      for (std::int64_t i = 0; i < n; ++i) {
        const Point p = point(i);
        client.log_metric(run_id, *p.key, p.value, p.timestamp, p.step);
      }
      const bool flushed = client.flush(std::chrono::minutes(10));
      const auto t1 = std::chrono::steady_clock::now();
      if (!flushed) {
        state.SkipWithError("flush timed out");
        break;
      }
      state.SetIterationTime(seconds(t0, t1));
      total += seconds(t0, t1);
    }
    const std::int64_t rows = count_rows(path, "SELECT count(*) FROM metrics");
    const std::int64_t latest = count_rows(path, "SELECT count(*) FROM latest_metrics");
    if (rows != n || latest != static_cast<std::int64_t>(metric_keys().size())) {
      state.SkipWithError(("expected " + std::to_string(n) + " metric rows, found " + std::to_string(rows)).c_str());
      break;
    }
  }
  if (total > 0) report_rate(state, n * static_cast<std::int64_t>(state.iterations()), total);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "?";
    sqlite3_free(error);
    throw std::runtime_error("exec failed: " + message);
  }
}

/// The baseline: the same rows straight into the 2.17.2 metrics table, one prepared INSERT, 1000 rows per
/// transaction, WAL, foreign keys on (as every MLflow connection has them). No latest_metrics, no validation.
void BM_LocalIngest_Raw(benchmark::State& state) {
  const std::int64_t n = config().ingest_points;
  static const std::string ddl = read_text(std::string(MLFLOW_TEST_DATA_DIR) + "/mlflow-2.17.2-f5a4f2784254.sql");
  const std::string run_id = "0123456789abcdef0123456789abcdef";
  double total = 0;
  for (auto _ : state) {
    ScratchDir dir("raw");
    const std::string path = dir.file("raw.db");
    sqlite3* db = nullptr;
    try {
      check(db, sqlite3_open(path.c_str(), &db), "open");
      exec(db, "PRAGMA journal_mode=WAL");
      exec(db, "PRAGMA foreign_keys=ON");
      exec(db, ddl);
      exec(db,
           "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
           "last_update_time) VALUES (0, 'Default', '/tmp/mlruns/0', 'active', 0, 0)");
      exec(db, "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
               "start_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES ('" +
                   run_id + "', 'raw', 'LOCAL', '', '', 'bench', 'RUNNING', 0, '', 'active', '/tmp/a', 0)");
      sqlite3_stmt* insert = nullptr;
      check(db,
            sqlite3_prepare_v2(db,
                               "INSERT INTO metrics (\"key\", value, timestamp, run_uuid, step, is_nan) "
                               "VALUES (?, ?, ?, ?, ?, ?)",
                               -1, &insert, nullptr),
            "prepare");
      const auto t0 = std::chrono::steady_clock::now();
      for (std::int64_t i = 0; i < n; ++i) {
        if (i % 1000 == 0) exec(db, "BEGIN");
        const Point p = point(i);
        sqlite3_bind_text(insert, 1, p.key->data(), static_cast<int>(p.key->size()), SQLITE_STATIC);
        sqlite3_bind_double(insert, 2, p.value);
        sqlite3_bind_int64(insert, 3, p.timestamp);
        sqlite3_bind_text(insert, 4, run_id.data(), static_cast<int>(run_id.size()), SQLITE_STATIC);
        sqlite3_bind_int64(insert, 5, p.step);
        sqlite3_bind_int(insert, 6, 0);
        check(db, sqlite3_step(insert), "insert");
        sqlite3_reset(insert);
        if (i % 1000 == 999 || i == n - 1) exec(db, "COMMIT");
      }
      const auto t1 = std::chrono::steady_clock::now();
      sqlite3_finalize(insert);
      state.SetIterationTime(seconds(t0, t1));
      total += seconds(t0, t1);
    } catch (const std::exception& e) {
      sqlite3_close(db);
      state.SkipWithError(e.what());
      break;
    }
    sqlite3_close(db);
  }
  if (total > 0) report_rate(state, n * static_cast<std::int64_t>(state.iterations()), total);
}

}  // namespace

void register_ingest() {
  const Config& c = config();
  // Alternated, so that both see the same load from whatever else runs on the machine.
  for (int i = 0; i < c.heavy_repetitions; ++i) {
    benchmark::RegisterBenchmark("local_ingest/client", BM_LocalIngest_Client)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("local_ingest/raw_sqlite", BM_LocalIngest_Raw)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace mlflow::bench
