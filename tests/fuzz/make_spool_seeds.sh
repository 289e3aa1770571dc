#!/usr/bin/env bash
# Writes the seed spool files of corpus/fuzz_spool_reader (run once by hand; the seeds are committed).
# The tables are those of storage/spool/spool.cpp (format 1); 512-byte pages keep the files small, so the
# fuzzer's mutations land in headers, b-tree pages and records rather than in empty space.
set -euo pipefail
cd "$(dirname "$0")/corpus/fuzz_spool_reader"
schema=$(sed -n '/^constexpr const char\* SCHEMA = R"sql(/,/^)sql";/p' ../../../../storage/spool/spool.cpp | sed '1d;$d')
rm -f ./*.spool
make() {  # <file> <user_version> <extra sql>
  sqlite3 "$1" "PRAGMA page_size=512; $schema PRAGMA user_version=$2; $3"
}
make empty_format1.spool 1 ""
make one_run.spool 1 "
INSERT INTO spool_runs (local_run_id, target_uri, experiment_name, run_name, start_time, created_time, acked_seq)
  VALUES ('0123456789abcdef0123456789abcdef', 'http://127.0.0.1:5000', 'exp', 'brave-fox-1', 1700000000000, 1700000000000, 1);
INSERT INTO spool_items (run_key, kind, key, value, text, timestamp, step) VALUES
  (1, 0, 'loss', 0.5, NULL, 1700000000001, 0), (1, 0, 'loss', 0.25, NULL, 1700000000002, 1),
  (1, 1, 'lr', NULL, '0.01', 0, 0), (1, 2, 'mlflow.runName', NULL, 'brave-fox-1', 0, 0), (1, 3, 'gone', NULL, NULL, 0, 0);
INSERT INTO spool_experiments VALUES ('http://127.0.0.1:5000', 'exp', '1');
INSERT INTO sync_state (source, source_run_id, target_uri, acked) VALUES ('src', 'r', 'http://127.0.0.1:5000', 3);"
make finished_run.spool 1 "
INSERT INTO spool_runs (local_run_id, target_uri, start_time, end_time, status, terminal_requested, server_run_id,
  created_time) VALUES ('fedcba9876543210fedcba9876543210', 'https://h/p', 1, 2, 'FINISHED', 1, 'abc', 1);
INSERT INTO spool_items (run_key, kind, key, value, timestamp, step) VALUES (1, 0, 'nan', NULL, 5, -1);"
make newer_format.spool 2 ""
printf 'SQLite format 3\0not really' > truncated_header.spool
