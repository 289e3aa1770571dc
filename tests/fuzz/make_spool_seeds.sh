#!/usr/bin/env bash
# Writes the seed spool files of corpus/fuzz_spool_reader (run once by hand; the seeds are committed).
# Format 2 seeds use the tables of storage/spool/spool.cpp; format 1 seeds the layout before metric blocks (which
# opening them upgrades). 512-byte pages keep the files small, so the fuzzer's mutations land in headers, b-tree
# pages, records and blocks rather than in empty space. Needs sqlite3 and python3.
set -euo pipefail
cd "$(dirname "$0")/corpus/fuzz_spool_reader"
schema=$(sed -n '/^constexpr const char\* SCHEMA = R"sql(/,/^)sql";/p' ../../../../storage/spool/spool.cpp | sed '1d;$d')
# Format 1: spool_items without n_items and block.
schema1=$(printf '%s\n' "$schema" | sed '/^  n_items INTEGER/d; /^  block BLOB/d; s/^  step INTEGER NOT NULL DEFAULT 0,$/  step INTEGER NOT NULL DEFAULT 0/')
rm -f ./*.spool
make() {  # <file> <user_version> <extra sql>
  local ddl=$schema
  [ "$2" = 1 ] && ddl=$schema1
  sqlite3 "$1" "PRAGMA page_size=512; $ddl PRAGMA user_version=$2; $3"
}
# A metric block as spool.cpp writes it (host byte order, little-endian here), as an SQL blob literal.
block() {  # <json wire forms: yes|no> then (key value timestamp step)...
  python3 - "$@" <<'PY'
import struct, sys
wire, rest = sys.argv[1] == "yes", sys.argv[2:]
points = [(rest[i], float(rest[i + 1]), int(rest[i + 2]), int(rest[i + 3])) for i in range(0, len(rest), 4)]
keys = list(dict.fromkeys(p[0] for p in points))
out = struct.pack("<II", len(points), len(keys))
for k in keys:
    out += struct.pack("<I", len(k.encode())) + k.encode()
forms = b""
for k, v, ts, step in points:
    form = ('{"key":"%s","value":%r,"timestamp":%d,"step":%d},' % (k, v, ts, step)).encode() if wire else b""
    out += struct.pack("<Idqq", keys.index(k), v, ts, step) + struct.pack("<I", len(form))
    forms += form
print("X'" + (out + forms).hex() + "'")
PY
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
b1=$(block yes loss 0.5 1700000000001 0 acc 0.75 1700000000001 0 loss 0.25 1700000000002 1)
b2=$(block no loss 0.125 1700000000003 2)
make blocks_format2.spool 2 "
INSERT INTO spool_runs (local_run_id, target_uri, experiment_name, start_time, created_time, acked_seq, inflight_seq)
  VALUES ('00112233445566778899aabbccddeeff', 'http://127.0.0.1:5000', 'exp', 1700000000000, 1700000000000, 1, 3);
INSERT INTO spool_items (seq, run_key, kind, key, n_items, block) VALUES (3, 1, 4, '', 3, $b1);
INSERT INTO spool_items (seq, run_key, kind, key, text) VALUES (4, 1, 1, 'lr', '0.01');
INSERT INTO spool_items (seq, run_key, kind, key, n_items, block) VALUES (5, 1, 4, '', 1, $b2);"
make newer_format.spool 3 ""
printf 'SQLite format 3\0not really' > truncated_header.spool
