// The spool file: runs, items, watermarks, crash safety, several writers, and the run lock files.

#include "storage/spool/spool.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/error.hpp"
#include "storage/sqlite/database.hpp"
#include "support/test_env.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mlflow::spool;

using mlflow::test::TempDir;

RunRecord make_run(const std::string& target = "http://127.0.0.1:5000") {
  RunRecord r;
  r.local_run_id = new_local_id();
  r.target_uri = target;
  r.experiment_name = "exp";
  r.run_name = "brave-fox-1";
  r.user_id = "alice";
  r.start_time = 1700000000000;
  return r;
}

ItemView metric(std::int64_t run_key, std::string_view key, double value, std::int64_t ts, std::int64_t step) {
  ItemView v;
  v.run_key = run_key;
  v.kind = ItemKind::metric;
  v.key = key;
  v.value = value;
  v.timestamp = ts;
  v.step = step;
  return v;
}

ItemView text_item(std::int64_t run_key, ItemKind kind, std::string_view key, std::string_view text) {
  ItemView v;
  v.run_key = run_key;
  v.kind = kind;
  v.key = key;
  v.text = text;
  return v;
}

TEST(Spool, creates_a_wal_file_with_its_format_version) {
  TempDir dir;
  { Spool spool(dir.file("spool.db")); }
  mlflow::sqlite::Database db(dir.file("spool.db"));
  mlflow::sqlite::Statement mode(db, "PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.get_text(0), "wal");
  mlflow::sqlite::Statement version(db, "PRAGMA user_version");
  ASSERT_TRUE(version.step());
  EXPECT_EQ(version.get_int64(0), 2);
}

TEST(Spool, refuses_a_file_of_a_newer_format_and_leaves_it_alone) {
  TempDir dir;
  {
    mlflow::sqlite::Database db(dir.file("spool.db"));
    db.exec("PRAGMA user_version = 99");
  }
  try {
    Spool spool(dir.file("spool.db"));
    FAIL() << "expected MlflowError";
  } catch (const mlflow::MlflowError& e) {
    EXPECT_EQ(e.error_code(), mlflow::ErrorCode::INVALID_STATE);
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos);
  }
}

TEST(Spool, finds_a_run_by_local_or_server_id) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto run = make_run();
  const auto key = spool.add_run(run);
  EXPECT_GT(key, 0);
  auto found = spool.find_run(run.local_run_id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->run_key, key);
  EXPECT_EQ(found->experiment_name, "exp");
  EXPECT_EQ(found->run_name, "brave-fox-1");
  EXPECT_EQ(found->start_time, 1700000000000);
  EXPECT_EQ(found->status, "RUNNING");
  EXPECT_EQ(found->owner_pid, static_cast<std::int64_t>(getpid()));
  EXPECT_FALSE(found->end_time);
  EXPECT_EQ(found->display_id(), run.local_run_id);

  spool.set_server_run_id(key, "abcdef0123456789abcdef0123456789");
  found = spool.find_run("abcdef0123456789abcdef0123456789");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->local_run_id, run.local_run_id);
  EXPECT_EQ(found->display_id(), "abcdef0123456789abcdef0123456789");
  EXPECT_FALSE(spool.find_run(run.local_run_id, "http://other:1"));
  EXPECT_TRUE(spool.find_run(run.local_run_id, "http://127.0.0.1:5000"));
  EXPECT_FALSE(spool.find_run("nope"));
}

TEST(Spool, keeps_items_in_order_with_nan_and_infinities) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto run = make_run();
  const auto key = spool.add_run(run);
  const double inf = std::numeric_limits<double>::infinity();
  spool.append({metric(key, "loss", 0.5, 10, 1), metric(key, "loss", std::nan(""), 11, 2),
                metric(key, "loss", inf, 12, 3), metric(key, "loss", -inf, 13, -4),
                text_item(key, ItemKind::param, "lr", "0.01"), text_item(key, ItemKind::tag, "t", "v"),
                text_item(key, ItemKind::delete_tag, "t", "")});
  const auto items = spool.read_items(key, 0, 100);
  ASSERT_EQ(items.size(), 7u);
  for (std::size_t i = 1; i < items.size(); ++i) EXPECT_GT(items[i].seq, items[i - 1].seq);
  EXPECT_EQ(items[0].value, 0.5);
  EXPECT_EQ(items[0].timestamp, 10);
  EXPECT_EQ(items[0].step, 1);
  EXPECT_TRUE(std::isnan(items[1].value));
  EXPECT_EQ(items[2].value, inf);
  EXPECT_EQ(items[3].value, -inf);
  EXPECT_EQ(items[3].step, -4);
  EXPECT_EQ(items[4].kind, ItemKind::param);
  EXPECT_EQ(items[4].key, "lr");
  EXPECT_EQ(items[4].text, "0.01");
  EXPECT_EQ(items[5].kind, ItemKind::tag);
  EXPECT_EQ(items[6].kind, ItemKind::delete_tag);
  EXPECT_EQ(spool.pending_items(key), 7);
  EXPECT_EQ(spool.read_items(key, items[2].seq, 2).size(), 2u);
  EXPECT_EQ(spool.read_items(key, items[2].seq, 2)[0].seq, items[3].seq);
}

TEST(Spool, read_items_into_a_reused_vector_replaces_its_contents) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto run = make_run();
  const auto key = spool.add_run(run);
  EXPECT_FALSE(spool.has_pending_items(key));
  spool.append({text_item(key, ItemKind::param, "a_rather_long_parameter_key_name", "some long parameter value"),
                metric(key, "loss", 0.5, 10, 1), metric(key, "acc", std::nan(""), 11, 2)});
  EXPECT_TRUE(spool.has_pending_items(key));
  std::vector<Item> window;
  spool.read_items(key, 0, 100, window);
  ASSERT_EQ(window.size(), 3u);
  EXPECT_EQ(window[0].text, "some long parameter value");
  // The next read lands on elements that held other kinds of items: nothing of them may show through.
  spool.read_items(key, window[0].seq, 100, window);
  ASSERT_EQ(window.size(), 2u);
  EXPECT_EQ(window[0].kind, ItemKind::metric);
  EXPECT_EQ(window[0].key, "loss");
  EXPECT_EQ(window[0].text, "");
  EXPECT_EQ(window[0].value, 0.5);
  EXPECT_EQ(window[1].key, "acc");
  EXPECT_TRUE(std::isnan(window[1].value));
  spool.read_items(key, window[1].seq, 100, window);
  EXPECT_TRUE(window.empty());
  spool.acknowledge(key, spool.read_items(key, 0, 100).back().seq, false);
  EXPECT_FALSE(spool.has_pending_items(key));
  EXPECT_EQ(spool.pending_items(key), 0);
}

TEST(Spool, acknowledge_moves_the_watermark_and_forgets_delivered_items) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto run = make_run();
  const auto key = spool.add_run(run);
  std::vector<ItemView> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(metric(key, "m", i, i, i));
  spool.append(batch);
  const auto items = spool.read_items(key, 0, 100);
  spool.mark_inflight(key, items[5].seq);
  EXPECT_EQ(spool.get_run(key)->inflight_seq, items[5].seq);
  EXPECT_EQ(spool.get_run(key)->acked_seq, 0);
  spool.acknowledge(key, items[5].seq);
  const auto after = spool.get_run(key);
  EXPECT_EQ(after->acked_seq, items[5].seq);
  EXPECT_EQ(spool.pending_items(key), 4);
  const auto rest = spool.read_items(key, after->acked_seq, 100);
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest[0].step, 6);
  // A late, lower acknowledgement never moves the watermark back.
  spool.acknowledge(key, items[2].seq);
  EXPECT_EQ(spool.get_run(key)->acked_seq, items[5].seq);
}

TEST(Spool, sequence_numbers_never_repeat_after_delivered_items_are_deleted) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto run = make_run();
  const auto key = spool.add_run(run);
  spool.append({metric(key, "m", 1, 1, 1), metric(key, "m", 2, 2, 2)});
  const auto first = spool.read_items(key, 0, 10);
  spool.acknowledge(key, first.back().seq);
  spool.append({metric(key, "m", 3, 3, 3)});
  const auto second = spool.read_items(key, 0, 10);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GT(second[0].seq, first.back().seq);
}

TEST(Spool, pending_runs_lists_what_still_has_to_reach_the_server) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto a = make_run();  // never created on the server
  auto b = make_run();  // created, items pending
  auto c = make_run();  // created, nothing pending, still running
  auto d = make_run();  // created, ended, status not yet delivered
  auto e = make_run();  // abandoned
  for (auto* r : {&a, &b, &c, &d, &e}) spool.add_run(*r);
  for (auto* r : {&b, &c, &d, &e}) spool.set_server_run_id(r->run_key, new_local_id());
  spool.append({metric(b.run_key, "m", 1, 1, 1), metric(b.run_key, "m", 2, 2, 2)});
  spool.set_terminal(d.run_key, "FINISHED", 1700000001000);
  spool.append({metric(e.run_key, "m", 1, 1, 1)});
  spool.set_last_error(e.run_key, "run deleted on the server", true);
  const auto pending = spool.pending_runs();
  std::vector<std::string> ids;
  for (const auto& p : pending) ids.push_back(p.run.local_run_id);
  EXPECT_EQ(ids, (std::vector<std::string>{a.local_run_id, b.local_run_id, d.local_run_id}));
  EXPECT_EQ(pending[1].pending_items, 2);
  EXPECT_EQ(spool.pending_items_total(), 2);
  const auto ended = spool.get_run(d.run_key);
  EXPECT_EQ(ended->status, "FINISHED");
  EXPECT_EQ(ended->end_time, 1700000001000);
  EXPECT_TRUE(ended->terminal_requested);
  spool.mark_terminal_synced(d.run_key, "FAILED", 1700000001000);  // not what is pending: stays pending
  EXPECT_EQ(spool.pending_runs().size(), 3u);
  spool.mark_terminal_synced(d.run_key, "FINISHED", 1700000001000);
  EXPECT_EQ(spool.pending_runs().size(), 2u);
  EXPECT_EQ(spool.get_run(e.run_key)->last_error, "run deleted on the server");
}

TEST(Spool, remembers_experiments_and_sync_watermarks) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  EXPECT_FALSE(spool.experiment_id_for("http://h:1", "exp"));
  spool.remember_experiment("http://h:1", "exp", "7");
  EXPECT_EQ(spool.experiment_id_for("http://h:1", "exp"), "7");
  EXPECT_EQ(spool.experiment_name_for("http://h:1", "7"), "exp");
  EXPECT_FALSE(spool.experiment_id_for("http://h:2", "exp"));

  EXPECT_FALSE(spool.get_sync_state("/a.db", "r1", "http://h:1"));
  SyncState s;
  s.source = "/a.db";
  s.source_run_id = "r1";
  s.target_uri = "http://h:1";
  s.server_run_id = "srv";
  s.acked = 42;
  s.inflight = 50;
  s.meta_synced = true;
  spool.put_sync_state(s);
  const auto back = spool.get_sync_state("/a.db", "r1", "http://h:1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->server_run_id, "srv");
  EXPECT_EQ(back->acked, 42);
  EXPECT_EQ(back->inflight, 50);
  EXPECT_TRUE(back->meta_synced);
  EXPECT_FALSE(back->terminal_synced);
}

TEST(Spool, two_connections_append_at_once_without_losing_anything) {
  TempDir dir;
  const std::string path = dir.file("spool.db");
  Spool setup(path);
  auto a = make_run();
  auto b = make_run();
  setup.add_run(a);
  setup.add_run(b);
  auto writer = [&](std::int64_t key) {
    Spool spool(path);  // its own connection, as another process would have
    for (int batch = 0; batch < 50; ++batch) {
      std::vector<ItemView> items;
      for (int i = 0; i < 100; ++i) items.push_back(metric(key, "m", batch * 100 + i, batch, batch * 100 + i));
      spool.append(items);
    }
  };
  std::thread ta(writer, a.run_key), tb(writer, b.run_key);
  ta.join();
  tb.join();
  for (auto key : {a.run_key, b.run_key}) {
    const auto items = setup.read_items(key, 0, 100000);
    ASSERT_EQ(items.size(), 5000u);
    for (int i = 0; i < 5000; ++i) EXPECT_EQ(items[static_cast<std::size_t>(i)].step, i);
  }
}

TEST(Spool, survives_kill_9_of_a_writer_with_every_committed_batch_whole) {
  TempDir dir;
  const std::string path = dir.file("spool.db");
  std::int64_t key = 0;
  {
    Spool spool(path);
    auto run = make_run();
    key = spool.add_run(run);
  }
  int progress[2];
  ASSERT_EQ(pipe(progress), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(progress[0]);
    Spool spool(path);
    for (int batch = 0;; ++batch) {
      std::vector<ItemView> items;
      for (int i = 0; i < 100; ++i) items.push_back(metric(key, "m", i, batch, batch * 100 + i));
      spool.append(items);
      const int done = batch + 1;
      if (write(progress[1], &done, sizeof(done)) != sizeof(done)) _exit(1);
    }
  }
  close(progress[1]);
  // Kill it at a random moment once it has committed a few batches.
  std::mt19937 rng(std::random_device{}());
  const int wait_for = 3 + static_cast<int>(rng() % 20);
  int committed = 0;
  while (committed < wait_for) {
    int done = 0;
    ASSERT_EQ(read(progress[0], &done, sizeof(done)), static_cast<ssize_t>(sizeof(done)));
    committed = done;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  int done = 0;
  while (read(progress[0], &done, sizeof(done)) == static_cast<ssize_t>(sizeof(done))) committed = done;
  close(progress[0]);

  Spool spool(path);
  mlflow::sqlite::Database db(path);
  mlflow::sqlite::Statement check(db, "PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.get_text(0), "ok");
  const auto items = spool.read_items(key, 0, 10000000);
  // Everything reported committed is there; at most the batch in flight at the kill more, and only whole.
  EXPECT_GE(items.size(), static_cast<std::size_t>(committed) * 100);
  EXPECT_LE(items.size(), static_cast<std::size_t>(committed + 1) * 100);
  EXPECT_EQ(items.size() % 100, 0u);
  for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i].step, static_cast<std::int64_t>(i));
}

TEST(Spool, default_path_follows_the_environment) {
  const char* old = std::getenv("MLFLOW_CPP_SPOOL_DIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("MLFLOW_CPP_SPOOL_DIR", "/tmp/somewhere", 1);
  EXPECT_EQ(Spool::default_path(), "/tmp/somewhere/spool.db");
  unsetenv("MLFLOW_CPP_SPOOL_DIR");
  const std::string home = std::getenv("HOME") != nullptr ? std::getenv("HOME") : ".";
  if (std::getenv("XDG_DATA_HOME") == nullptr) {
    EXPECT_EQ(Spool::default_path(), home + "/.local/share/mlflow-cpp/spool.db");
  }
  if (!saved.empty()) setenv("MLFLOW_CPP_SPOOL_DIR", saved.c_str(), 1);
}

TEST(FileLock, is_exclusive_across_processes_and_freed_by_kill_9) {
  TempDir dir;
  const std::string path = owner_lock_path(dir.file("spool.db"), "abc");
  auto mine = FileLock::try_acquire(path);
  ASSERT_TRUE(mine);
  EXPECT_FALSE(FileLock::try_acquire(path));  // a second descriptor, even in this process, is refused

  // A child cannot take it while we hold it.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(FileLock::try_acquire(path) ? 0 : 3);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 3);
  mine.reset();

  // A child takes it and is killed: the lock is free again.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto held = FileLock::try_acquire(path);
    const char c = held ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  EXPECT_EQ(c, 'y');
  EXPECT_FALSE(FileLock::try_acquire(path));
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  close(ready[0]);
  close(ready[1]);
  EXPECT_TRUE(FileLock::acquire(path, 2000));
}

TEST(Spool, new_local_ids_are_32_hex_and_distinct) {
  const auto a = new_local_id();
  const auto b = new_local_id();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  for (char ch : a) EXPECT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
}

std::int64_t count_rows(const std::string& path, const std::string& where) {
  mlflow::sqlite::Database db(path);
  mlflow::sqlite::Statement st(db, "SELECT count(*) FROM spool_items WHERE " + where);
  return st.step() ? st.get_int64(0) : -1;
}

/// A wire encoder that marks what it wrote, to see that the stored form comes back as written.
void test_encoder(std::string& out, std::string_view key, double value, std::int64_t timestamp, std::int64_t step) {
  out += "<" + std::string(key) + "|" + std::to_string(value) + "|" + std::to_string(timestamp) + "|" +
         std::to_string(step) + ">";
}

TEST(Spool, keeps_consecutive_metrics_of_a_run_in_blocks_and_reads_them_back_one_by_one) {
  TempDir dir;
  const auto path = dir.file("spool.db");
  Spool spool(path);
  spool.set_wire_encoder(&test_encoder);
  auto a = make_run();
  auto b = make_run();
  const auto ka = spool.add_run(a);
  const auto kb = spool.add_run(b);
  std::vector<ItemView> batch;
  for (int i = 0; i < 2500; ++i) batch.push_back(metric(ka, i % 2 == 0 ? "loss" : "acc", i, 100 + i, i));
  batch.push_back(text_item(ka, ItemKind::param, "lr", "0.1"));
  batch.push_back(metric(ka, "loss", -1, 1, 1));
  batch.push_back(metric(kb, "other", 7, 7, 7));
  batch.push_back(metric(ka, "loss", std::numeric_limits<double>::quiet_NaN(), 2, 2));
  spool.append(batch);
  // 2500 points: blocks of 1000, 1000, 500; then the param, then one block per change of run.
  EXPECT_EQ(count_rows(path, "kind = 4"), 6);
  EXPECT_EQ(count_rows(path, "kind = 1"), 1);
  EXPECT_EQ(spool.pending_items(ka), 2503);
  EXPECT_EQ(spool.pending_items(kb), 1);
  EXPECT_EQ(spool.pending_items_total(), 2504);

  const auto items = spool.read_items(ka, 0, 10000);
  ASSERT_EQ(items.size(), 2503u);
  for (std::size_t i = 1; i < 2502; ++i) EXPECT_EQ(items[i].seq, items[i - 1].seq + 1) << i;
  EXPECT_EQ(items[1].key, "acc");
  EXPECT_EQ(items[1].value, 1.0);
  EXPECT_EQ(items[1].timestamp, 101);
  EXPECT_EQ(items[1].step, 1);
  EXPECT_EQ(items[1].wire, "<acc|1.000000|101|1>");
  EXPECT_EQ(items[2499].wire, "<acc|2499.000000|2599|2499>");
  EXPECT_EQ(items[2500].kind, ItemKind::param);
  EXPECT_EQ(items[2500].text, "0.1");
  EXPECT_TRUE(items[2500].wire.empty());
  EXPECT_EQ(items[2501].value, -1.0);
  EXPECT_TRUE(std::isnan(items[2502].value));
  EXPECT_EQ(items[2502].seq, items[2501].seq + 2);  // the other run's point sits between them

  // A window may end inside a block, and the next one starts right after it.
  const auto first = spool.read_items(ka, 0, 1500);
  ASSERT_EQ(first.size(), 1500u);
  const auto next = spool.read_items(ka, first.back().seq, 3);
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].step, 1500);
  EXPECT_EQ(next[0].wire, "<loss|1500.000000|1600|1500>");

  // Acknowledging up to the middle of a block keeps the block (its other points are pending) and drops the
  // blocks wholly below the watermark.
  spool.acknowledge(ka, first.back().seq);
  EXPECT_EQ(spool.pending_items(ka), 1003);
  EXPECT_EQ(count_rows(path, "kind = 4 AND run_key = " + std::to_string(ka)), 4);
  const auto rest = spool.read_items(ka, spool.get_run(ka)->acked_seq, 10000);
  ASSERT_EQ(rest.size(), 1003u);
  EXPECT_EQ(rest[0].step, 1500);
  EXPECT_EQ(rest[0].seq, first.back().seq + 1);
}

TEST(Spool, metrics_spooled_without_an_encoder_have_no_wire_form) {
  TempDir dir;
  Spool spool(dir.file("spool.db"));
  auto run = make_run();
  const auto key = spool.add_run(run);
  spool.append({metric(key, "m", 1.5, 1, 2)});
  const auto items = spool.read_items(key, 0, 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].value, 1.5);
  EXPECT_TRUE(items[0].wire.empty());
}

TEST(Spool, upgrades_a_format_1_file_and_keeps_its_items_and_sequence) {
  TempDir dir;
  const auto path = dir.file("spool.db");
  {
    // The layout of format 1 (one row per metric), as mlflow-cpp 0.1 wrote it.
    mlflow::sqlite::Database db(path);
    db.exec(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE spool_runs (run_key INTEGER PRIMARY KEY, local_run_id TEXT NOT NULL UNIQUE, target_uri TEXT "
        "NOT NULL, experiment_id TEXT NOT NULL DEFAULT '', experiment_name TEXT NOT NULL DEFAULT '', run_name TEXT "
        "NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '', start_time INTEGER NOT NULL, end_time INTEGER, "
        "status TEXT NOT NULL DEFAULT 'RUNNING', terminal_requested INTEGER NOT NULL DEFAULT 0, terminal_synced "
        "INTEGER NOT NULL DEFAULT 0, attached INTEGER NOT NULL DEFAULT 0, server_run_id TEXT NOT NULL DEFAULT '', "
        "acked_seq INTEGER NOT NULL DEFAULT 0, inflight_seq INTEGER NOT NULL DEFAULT 0, owner_host TEXT NOT NULL "
        "DEFAULT '', owner_pid INTEGER NOT NULL DEFAULT 0, created_time INTEGER NOT NULL, last_error TEXT NOT NULL "
        "DEFAULT '', abandoned INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE spool_items (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_key INTEGER NOT NULL, kind INTEGER "
        "NOT NULL, key TEXT NOT NULL, value REAL, text TEXT, timestamp INTEGER NOT NULL DEFAULT 0, step INTEGER NOT "
        "NULL DEFAULT 0);"
        "CREATE TABLE spool_experiments (target_uri TEXT NOT NULL, name TEXT NOT NULL, experiment_id TEXT NOT NULL, "
        "PRIMARY KEY (target_uri, name));"
        "CREATE TABLE sync_state (source TEXT NOT NULL, source_run_id TEXT NOT NULL, target_uri TEXT NOT NULL, "
        "server_run_id TEXT NOT NULL DEFAULT '', acked INTEGER NOT NULL DEFAULT 0, inflight INTEGER NOT NULL DEFAULT "
        "0, meta_synced INTEGER NOT NULL DEFAULT 0, terminal_synced INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (source, "
        "source_run_id, target_uri));"
        "INSERT INTO spool_runs (run_key, local_run_id, target_uri, start_time, created_time, acked_seq) VALUES "
        "(1, 'abc', 'http://h', 1, 1, 1);"
        "INSERT INTO spool_items (seq, run_key, kind, key, value, timestamp, step) VALUES (1, 1, 0, 'm', 1.0, 1, 1), "
        "(2, 1, 0, 'm', 2.0, 2, 2), (3, 1, 0, 'm', NULL, 3, 3);"
        "INSERT INTO spool_items (seq, run_key, kind, key, text) VALUES (4, 1, 1, 'p', 'v');"
        "PRAGMA user_version = 1;");
  }
  Spool spool(path);
  EXPECT_EQ(spool.pending_items(1), 3);
  spool.append({metric(1, "m", 4.0, 4, 4), metric(1, "m", 5.0, 5, 5)});
  const auto items = spool.read_items(1, 1, 100);
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[0].value, 2.0);
  EXPECT_TRUE(std::isnan(items[1].value));
  EXPECT_EQ(items[2].kind, ItemKind::param);
  EXPECT_EQ(items[3].seq, 5);
  EXPECT_EQ(items[4].seq, 6);
  EXPECT_EQ(items[4].value, 5.0);
  mlflow::sqlite::Database db(path);
  mlflow::sqlite::Statement version(db, "PRAGMA user_version");
  ASSERT_TRUE(version.step());
  EXPECT_EQ(version.get_int64(0), 2);
}

TEST(Spool, refuses_a_damaged_block_with_a_clear_error) {
  TempDir dir;
  const auto path = dir.file("spool.db");
  Spool spool(path);
  auto run = make_run();
  const auto key = spool.add_run(run);
  std::vector<ItemView> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(metric(key, "m", i, i, i));
  spool.append(batch);
  {
    mlflow::sqlite::Database db(path);
    db.exec("UPDATE spool_items SET block = substr(block, 1, 30) WHERE kind = 4");
  }
  try {
    (void)spool.read_items(key, 0, 100);
    FAIL() << "expected MlflowError";
  } catch (const mlflow::MlflowError& e) {
    EXPECT_EQ(e.error_code(), mlflow::ErrorCode::INVALID_STATE);
    EXPECT_NE(std::string(e.what()).find("damaged metric block"), std::string::npos) << e.what();
  }
}

TEST(Spool, reads_the_block_seed_of_the_fuzz_corpus_as_its_script_describes_it) {
  // tests/fuzz/make_spool_seeds.sh writes this file with its own encoder of the block layout: the two must agree.
  TempDir dir;
  const auto path = dir.file("spool.db");
  fs::copy_file(fs::path(MLFLOW_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_spool_reader/blocks_format2.spool", path);
  Spool spool(path);
  const auto run = spool.find_run("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(run);
  EXPECT_EQ(spool.pending_items(run->run_key), 4);  // acked up to seq 1: the block's first point is delivered
  const auto items = spool.read_items(run->run_key, run->acked_seq, 10);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].seq, 2);
  EXPECT_EQ(items[0].key, "acc");
  EXPECT_EQ(items[0].value, 0.75);
  EXPECT_EQ(items[0].wire, R"({"key":"acc","value":0.75,"timestamp":1700000000001,"step":0})");
  EXPECT_EQ(items[1].key, "loss");
  EXPECT_EQ(items[1].step, 1);
  EXPECT_EQ(items[2].kind, ItemKind::param);
  std::string body;
  const auto got = spool.append_wire_metrics(run->run_key, run->acked_seq, 1000, body);
  EXPECT_EQ(got.points, 2u);
  EXPECT_EQ(got.last_seq, 3);
  EXPECT_EQ(body, R"({"key":"acc","value":0.75,"timestamp":1700000000001,"step":0},)"
                  R"({"key":"loss","value":0.25,"timestamp":1700000000002,"step":1},)");
  // After the param, a block spooled without wire forms: nothing for the fast path, the items still read.
  body.clear();
  EXPECT_EQ(spool.append_wire_metrics(run->run_key, 4, 1000, body).points, 0u);
  EXPECT_TRUE(body.empty());
  const auto last = spool.read_items(run->run_key, 4, 10);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].value, 0.125);
  EXPECT_TRUE(last[0].wire.empty());
}

TEST(Spool, refuses_a_block_whose_wire_forms_run_past_its_end) {
  // Found by fuzz_spool_reader: a wire length pointing beyond the block must be an error, not a read past it.
  TempDir dir;
  const auto path = dir.file("spool.db");
  Spool spool(path);
  auto run = make_run();
  const auto key = spool.add_run(run);
  {
    // Two points of key "m": the first one's wire form claims 1000 bytes, the block holds 3 in all. Reading from
    // the second point (the first one acknowledged) skips the 1000 bytes first.
    mlflow::sqlite::Database db(path);
    const std::string zeros(48, '0');
    db.exec("INSERT INTO spool_items (seq, run_key, kind, key, n_items, block) VALUES (2, " + std::to_string(key) +
            ", 4, '', 2, X'020000000100000001000000" "6d" "00000000" + zeros + "e8030000" "00000000" + zeros +
            "03000000" "7b7d2c')");
  }
  for (int reader = 0; reader < 2; ++reader) {
    try {
      if (reader == 0) {
        (void)spool.read_items(key, 1, 10);
      } else {
        std::string body;
        (void)spool.append_wire_metrics(key, 1, 10, body);
      }
      FAIL() << "expected MlflowError from reader " << reader;
    } catch (const mlflow::MlflowError& e) {
      EXPECT_EQ(e.error_code(), mlflow::ErrorCode::INVALID_STATE);
      EXPECT_NE(std::string(e.what()).find("damaged metric block"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
