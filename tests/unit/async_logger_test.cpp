// AsyncLogger against an in-memory sink: ordering, batching, flush, full-queue policies, failures.

#include "tracker/logging/async_logger.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/error.hpp"

// Counts heap allocations made by the thread that sets `count_allocations`. (GCC mistakes the
// malloc/free pairing of these replacements for a mismatch.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
thread_local bool count_allocations = false;
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  if (count_allocations) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace std::chrono_literals;
using mlflow::ErrorCode;
using mlflow::MlflowError;
using mlflow::logging::AsyncLogger;
using mlflow::logging::FullQueuePolicy;
using mlflow::logging::LoggerOptions;
using mlflow::logging::LogRecord;
using mlflow::logging::LogSink;

struct Row {
  LogRecord::Kind kind;
  std::string run_id, key, text;
  double value;
  std::int64_t timestamp, step;
  bool operator==(const Row&) const = default;
};

void PrintTo(const Row& r, std::ostream* os) {
  *os << "{" << static_cast<int>(r.kind) << " " << r.run_id << " " << r.key << "=" << r.text << " " << r.value << " "
      << r.timestamp << " " << r.step << "}";
}

/// Compares two row lists and names the first difference (instead of printing thousands of rows).
::testing::AssertionResult same_rows(const std::vector<Row>& actual, const std::vector<Row>& expected) {
  for (std::size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
    if (!(actual[i] == expected[i])) {
      return ::testing::AssertionFailure() << "row " << i << " is " << ::testing::PrintToString(actual[i])
                                           << ", expected " << ::testing::PrintToString(expected[i]);
    }
  }
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << actual.size() << " rows, expected " << expected.size();
  }
  return ::testing::AssertionSuccess();
}

/// Keeps what it is given; can be gated (blocks until opened) and can fail on demand.
class RecordingSink : public LogSink {
 public:
  void write_batch(std::span<const LogRecord> records) override {
    {
      std::unique_lock lock(mutex_);
      gate_cv_.wait(lock, [&] { return open_; });
      ++calls_;
      max_batch_ = std::max(max_batch_, records.size());
      threads_.push_back(std::this_thread::get_id());
    }
    if (fail_) fail_(records);
    std::lock_guard lock(mutex_);
    for (const auto& r : records) {
      rows_.push_back({r.kind(), std::string(r.run_id()), std::string(r.key()), std::string(r.text()), r.value(),
                       r.timestamp(), r.step()});
    }
  }
  void close_gate() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    gate_cv_.notify_all();
  }
  std::vector<Row> rows() const {
    std::lock_guard lock(mutex_);
    return rows_;
  }
  std::size_t calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::size_t max_batch() const {
    std::lock_guard lock(mutex_);
    return max_batch_;
  }
  std::vector<std::thread::id> threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
  }
  std::function<void(std::span<const LogRecord>)> fail_;

 private:
  mutable std::mutex mutex_;
  std::condition_variable gate_cv_;
  bool open_ = true;
  std::size_t calls_ = 0;
  std::size_t max_batch_ = 0;
  std::vector<std::thread::id> threads_;
  std::vector<Row> rows_;
};

/// Collects the error handler's lines.
struct Lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> handler() {
    return [this](std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    };
  }
  bool any_contains(std::string_view needle) {
    std::lock_guard lock(mutex);
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

LoggerOptions test_options(Lines& lines) {
  LoggerOptions o;
  o.queue_capacity = 1024;
  o.flush_interval = 50ms;
  o.max_batch = 256;
  o.retry_budget = 2000ms;
  o.error_handler = lines.handler();
  return o;
}

Row metric_row(const std::string& run, const std::string& key, double value, std::int64_t ts, std::int64_t step) {
  return {LogRecord::Kind::metric, run, key, "", value, ts, step};
}

TEST(AsyncLogger, writes_every_record_in_order) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  AsyncLogger logger(sink, test_options(lines));
  std::vector<Row> expected;
  for (int i = 0; i < 5000; ++i) {
    logger.log_metric("run1", "loss", i * 0.5, 1000 + i, i);
    expected.push_back(metric_row("run1", "loss", i * 0.5, 1000 + i, i));
    if (i % 1000 == 0) {
      logger.log_param("run1", "p" + std::to_string(i), "v" + std::to_string(i));
      expected.push_back({LogRecord::Kind::param, "run1", "p" + std::to_string(i), "v" + std::to_string(i), 0, 0, 0});
      logger.set_tag("run1", "t", std::to_string(i));
      expected.push_back({LogRecord::Kind::tag, "run1", "t", std::to_string(i), 0, 0, 0});
    }
  }
  ASSERT_TRUE(logger.flush(10s));
  EXPECT_TRUE(same_rows(sink->rows(), expected));
  const auto c = logger.counters();
  EXPECT_EQ(c.enqueued, expected.size());
  EXPECT_EQ(c.written, expected.size());
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(logger.pending(), 0u);
  EXPECT_TRUE(lines.lines.empty());
}

TEST(AsyncLogger, commits_in_batches_no_larger_than_max_batch_on_its_own_thread) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->close_gate();  // let the queue fill up so that batches form
  AsyncLogger logger(sink, test_options(lines));
  for (int i = 0; i < 1000; ++i) logger.log_metric("r", "m", i, i, i);
  sink->open_gate();
  ASSERT_TRUE(logger.flush(10s));
  EXPECT_EQ(sink->rows().size(), 1000u);
  EXPECT_LE(sink->max_batch(), 256u);
  EXPECT_GT(sink->max_batch(), 1u);
  EXPECT_LT(sink->calls(), 100u);
  for (auto id : sink->threads()) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(AsyncLogger, flush_times_out_while_the_sink_is_stuck_and_succeeds_after) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->close_gate();
  AsyncLogger logger(sink, test_options(lines));
  logger.log_metric("r", "m", 1, 1, 1);
  EXPECT_FALSE(logger.flush(100ms));
  EXPECT_EQ(logger.pending(), 1u);
  sink->open_gate();
  EXPECT_TRUE(logger.flush(10s));
  EXPECT_EQ(sink->rows().size(), 1u);
  EXPECT_EQ(logger.pending(), 0u);
}

TEST(AsyncLogger, flush_interval_commits_without_an_explicit_flush) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  auto options = test_options(lines);
  options.flush_interval = 20ms;
  AsyncLogger logger(sink, options);
  logger.log_metric("r", "m", 1, 1, 1);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sink->rows().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(sink->rows().size(), 1u);
}

TEST(AsyncLogger, block_policy_waits_for_room_and_loses_nothing) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->close_gate();
  auto options = test_options(lines);
  options.queue_capacity = 4;
  options.max_batch = 2;
  AsyncLogger logger(sink, options);
  std::atomic<int> logged{0};
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) {
      logger.log_metric("r", "m", i, i, i);
      logged.fetch_add(1);
    }
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_LE(logged.load(), 6);  // the ring (4) plus the batch the stuck sink holds (2)
  sink->open_gate();
  producer.join();
  ASSERT_TRUE(logger.flush(10s));
  const auto rows = sink->rows();
  ASSERT_EQ(rows.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rows[i].step, i);
  EXPECT_EQ(logger.counters().dropped, 0u);
}

TEST(AsyncLogger, drop_policy_counts_and_reports_what_it_drops) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->close_gate();
  auto options = test_options(lines);
  options.queue_capacity = 4;
  options.full_queue_policy = FullQueuePolicy::drop;
  AsyncLogger logger(sink, options);
  for (int i = 0; i < 100; ++i) logger.log_metric("r", "m", i, i, i);
  auto c = logger.counters();
  EXPECT_GT(c.dropped, 0u);
  EXPECT_EQ(c.enqueued + c.dropped, 100u);
  sink->open_gate();
  ASSERT_TRUE(logger.flush(10s));
  logger.shutdown(5s);
  c = logger.counters();
  EXPECT_EQ(sink->rows().size(), c.enqueued);
  EXPECT_EQ(c.written, c.enqueued);
  EXPECT_TRUE(lines.any_contains("dropped"));
}

TEST(AsyncLogger, permanent_error_fails_only_the_bad_record) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->fail_ = [](std::span<const LogRecord> records) {
    for (const auto& r : records) {
      if (r.key() == "bad") throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, "Changing param values is not allowed");
    }
  };
  sink->close_gate();
  AsyncLogger logger(sink, test_options(lines));
  for (int i = 0; i < 100; ++i) logger.log_metric("r", "m", i, i, i);
  logger.log_param("r", "bad", "x");
  for (int i = 100; i < 200; ++i) logger.log_metric("r", "m", i, i, i);
  sink->open_gate();
  ASSERT_TRUE(logger.flush(10s));
  const auto rows = sink->rows();
  ASSERT_EQ(rows.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(rows[i].step, i);
  EXPECT_EQ(logger.counters().failed, 1u);
  EXPECT_EQ(logger.counters().written, 200u);
  EXPECT_TRUE(lines.any_contains("'bad'"));
  EXPECT_TRUE(lines.any_contains("Changing param values"));
}

TEST(AsyncLogger, transient_error_is_retried_until_it_clears) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  std::atomic<int> failures{3};
  sink->fail_ = [&](std::span<const LogRecord>) {
    if (failures.fetch_sub(1) > 0) throw MlflowError(ErrorCode::TEMPORARILY_UNAVAILABLE, "database is locked");
  };
  AsyncLogger logger(sink, test_options(lines));
  for (int i = 0; i < 10; ++i) logger.log_metric("r", "m", i, i, i);
  ASSERT_TRUE(logger.flush(10s));
  EXPECT_EQ(sink->rows().size(), 10u);
  EXPECT_EQ(logger.counters().failed, 0u);
  EXPECT_TRUE(lines.any_contains("retrying"));
}

TEST(AsyncLogger, transient_error_gives_up_after_the_retry_budget_and_says_so) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->fail_ = [](std::span<const LogRecord>) { throw MlflowError(ErrorCode::IO_ERROR, "disk full"); };
  auto options = test_options(lines);
  options.retry_budget = 100ms;
  AsyncLogger logger(sink, options);
  for (int i = 0; i < 10; ++i) logger.log_metric("r", "m", i, i, i);
  ASSERT_TRUE(logger.flush(10s));
  EXPECT_EQ(logger.counters().failed, 10u);
  EXPECT_EQ(logger.counters().written, 0u);
  EXPECT_TRUE(lines.any_contains("gave up"));
  EXPECT_TRUE(lines.any_contains("disk full"));
}

TEST(AsyncLogger, several_threads_keep_their_own_order) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  auto options = test_options(lines);
  options.queue_capacity = 256;  // small, so producers also meet a full queue
  AsyncLogger logger(sink, options);
  constexpr int threads = 4, per_thread = 20000;
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&, t] {
      const std::string run = "run" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i) logger.log_metric(run, "m", i, i, i);
    });
  }
  for (auto& p : producers) p.join();
  ASSERT_TRUE(logger.flush(30s));
  const auto rows = sink->rows();
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(threads * per_thread));
  std::vector<std::int64_t> next(threads, 0);
  for (const auto& r : rows) {
    const int t = r.run_id.back() - '0';
    ASSERT_EQ(r.step, next[t]) << "thread " << t;
    ++next[t];
  }
}

TEST(AsyncLogger, long_strings_survive_the_queue) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  AsyncLogger logger(sink, test_options(lines));
  const std::string run(64, 'r');
  const std::string key(250, 'k');
  const std::string value(6000, 'v');
  logger.log_metric(run, key, 1.5, 7, 8);
  logger.log_param("short", "p", value);
  logger.log_metric("a", "b", 2.5, 9, 10);  // reuses nothing from the spilled records
  ASSERT_TRUE(logger.flush(10s));
  const auto rows = sink->rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], metric_row(run, key, 1.5, 7, 8));
  EXPECT_EQ(rows[1], (Row{LogRecord::Kind::param, "short", "p", value, 0, 0, 0}));
  EXPECT_EQ(rows[2], metric_row("a", "b", 2.5, 9, 10));
}

TEST(AsyncLogger, log_metric_with_a_short_key_does_not_allocate) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  AsyncLogger logger(sink, test_options(lines));
  const std::string run = "0123456789abcdef0123456789abcdef";
  count_allocations = true;
  allocations = 0;
  for (int i = 0; i < 500; ++i) logger.log_metric(run, "train/loss", i, i, i);
  count_allocations = false;
  EXPECT_EQ(allocations, 0u);
  ASSERT_TRUE(logger.flush(10s));
  EXPECT_EQ(sink->rows().size(), 500u);
}

TEST(AsyncLogger, shutdown_commits_the_queue_and_later_calls_are_dropped) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  AsyncLogger logger(sink, test_options(lines));
  for (int i = 0; i < 300; ++i) logger.log_metric("r", "m", i, i, i);
  logger.shutdown(10s);
  EXPECT_EQ(sink->rows().size(), 300u);
  logger.log_metric("r", "m", 1, 1, 1);
  EXPECT_EQ(logger.counters().dropped, 1u);
  EXPECT_EQ(sink->rows().size(), 300u);
  logger.shutdown(1s);  // idempotent
  EXPECT_TRUE(lines.any_contains("dropped"));
}

TEST(AsyncLogger, shutdown_gives_up_on_a_stuck_sink_at_its_deadline) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->fail_ = [](std::span<const LogRecord>) { throw MlflowError(ErrorCode::IO_ERROR, "disk gone"); };
  auto options = test_options(lines);
  options.retry_budget = 60000ms;
  AsyncLogger logger(sink, options);
  for (int i = 0; i < 5; ++i) logger.log_metric("r", "m", i, i, i);
  const auto started = std::chrono::steady_clock::now();
  logger.shutdown(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  EXPECT_EQ(logger.counters().failed, 5u);
}

TEST(AsyncLogger, synchronous_mode_writes_on_the_callers_thread_and_throws) {
  Lines lines;
  auto sink = std::make_shared<RecordingSink>();
  sink->fail_ = [](std::span<const LogRecord> records) {
    if (records[0].key() == "bad") throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, "rejected");
  };
  auto options = test_options(lines);
  options.asynchronous = false;
  AsyncLogger logger(sink, options);
  logger.log_metric("r", "m", 1, 2, 3);
  EXPECT_EQ(sink->rows().size(), 1u);
  EXPECT_EQ(sink->threads().at(0), std::this_thread::get_id());
  try {
    logger.log_param("r", "bad", "v");
    FAIL() << "expected MlflowError";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
  }
  EXPECT_EQ(logger.counters().failed, 1u);
  EXPECT_EQ(logger.counters().written, 1u);
  EXPECT_TRUE(logger.flush(0ms));
}

TEST(AsyncLogger, options_come_from_the_environment) {
  setenv("MLFLOW_CPP_ASYNC_LOGGING", "false", 1);
  setenv("MLFLOW_CPP_LOG_QUEUE_SIZE", "1000", 1);
  setenv("MLFLOW_CPP_LOG_FLUSH_INTERVAL_MS", "750", 1);
  setenv("MLFLOW_CPP_LOG_QUEUE_FULL", "drop", 1);
  setenv("MLFLOW_CPP_LOG_MAX_BATCH", "77", 1);
  setenv("MLFLOW_CPP_LOG_RETRY_SECONDS", "3", 1);
  const auto o = LoggerOptions::from_env();
  EXPECT_FALSE(o.asynchronous);
  EXPECT_EQ(o.queue_capacity, 1000u);
  EXPECT_EQ(o.flush_interval, 750ms);
  EXPECT_EQ(o.full_queue_policy, FullQueuePolicy::drop);
  EXPECT_EQ(o.max_batch, 77u);
  EXPECT_EQ(o.retry_budget, 3000ms);
  for (const char* n : {"MLFLOW_CPP_ASYNC_LOGGING", "MLFLOW_CPP_LOG_QUEUE_SIZE", "MLFLOW_CPP_LOG_FLUSH_INTERVAL_MS",
                        "MLFLOW_CPP_LOG_QUEUE_FULL", "MLFLOW_CPP_LOG_MAX_BATCH", "MLFLOW_CPP_LOG_RETRY_SECONDS"}) {
    unsetenv(n);
  }
  const auto d = LoggerOptions::from_env();
  EXPECT_TRUE(d.asynchronous);
  EXPECT_EQ(d.queue_capacity, 65536u);
  EXPECT_LE(d.flush_interval, 1000ms);
  EXPECT_EQ(d.full_queue_policy, FullQueuePolicy::block);
}

}  // namespace
