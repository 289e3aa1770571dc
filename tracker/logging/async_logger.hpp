#pragma once
// The asynchronous batching logger: log calls (already validated by the caller) go into a bounded,
// pre-allocated ring buffer; one worker thread owned by the logger commits them to a LogSink in batches.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tracker/logging/log_record.hpp"

namespace mlflow::logging {

/// What a log call does when the queue is full.
enum class FullQueuePolicy {
  block,  ///< wait for the worker to make room (default: nothing is lost)
  drop,   ///< drop the record, count it and report it through the error handler
};

/// Options of an AsyncLogger. from_env() reads the defaults from the environment:
///   MLFLOW_CPP_ASYNC_LOGGING           true|false   (default true; false: every call writes synchronously)
///   MLFLOW_CPP_LOG_QUEUE_SIZE          records      (default 65536, rounded up to a power of two)
///   MLFLOW_CPP_LOG_FLUSH_INTERVAL_MS   milliseconds (default 200; the most a record waits before a commit)
///   MLFLOW_CPP_LOG_QUEUE_FULL          block|drop   (default block)
///   MLFLOW_CPP_LOG_MAX_BATCH           records      (default 8192; records per sink transaction)
///   MLFLOW_CPP_LOG_RETRY_SECONDS       seconds      (default 30; how long a failing batch is retried)
/// A value type.
struct LoggerOptions {
  bool asynchronous = true;
  std::size_t queue_capacity = 65536;
  std::chrono::milliseconds flush_interval{200};
  FullQueuePolicy full_queue_policy = FullQueuePolicy::block;
  std::size_t max_batch = 8192;
  std::chrono::milliseconds retry_budget{30000};
  /// Called on the worker thread with one line describing a background failure or drop. Must not throw.
  /// Unset: the line is printed to stderr prefixed with "mlflow-cpp: ".
  std::function<void(std::string_view)> error_handler;

  static LoggerOptions from_env();
};

/// Monotonic counters of a logger. A value type.
struct LoggerCounters {
  std::uint64_t enqueued = 0;  ///< accepted by a log call (in synchronous mode: written or failed)
  std::uint64_t written = 0;   ///< committed by the sink
  std::uint64_t dropped = 0;   ///< refused because the queue was full (drop policy) or the logger was shut down
  std::uint64_t failed = 0;    ///< rejected by the sink for good, or given up after the retry budget
};

/// The asynchronous batching logger. Thread-safe: any number of threads may log, flush and read
/// counters at once. Log calls never throw in asynchronous mode and never do I/O on the caller's thread;
/// in synchronous mode they write through the sink and throw its MlflowError.
class AsyncLogger {
 public:
  AsyncLogger(std::shared_ptr<LogSink> sink, LoggerOptions options = LoggerOptions::from_env());
  /// shutdown(flush_interval * 10 + 5 s), then joins the worker.
  ~AsyncLogger();
  AsyncLogger(const AsyncLogger&) = delete;
  AsyncLogger& operator=(const AsyncLogger&) = delete;

  void log_metric(std::string_view run_id, std::string_view key, double value, std::int64_t timestamp,
                  std::int64_t step);
  void log_param(std::string_view run_id, std::string_view key, std::string_view value);
  void set_tag(std::string_view run_id, std::string_view key, std::string_view value);

  /// Returns once every record logged before the call has been committed (or has failed for good),
  /// true then; false when the timeout passed first.
  bool flush(std::chrono::milliseconds timeout);
  /// Commits what is queued (waiting at most `timeout`) and stops the worker. Records the sink could not
  /// take by then are counted as failed and reported. Idempotent; later log calls are counted as dropped.
  void shutdown(std::chrono::milliseconds timeout);

  LoggerCounters counters() const;
  /// Records accepted and not yet committed or failed.
  std::uint64_t pending() const;
  const LoggerOptions& options() const noexcept { return options_; }

 private:
  template <typename Fill>
  void enqueue(Fill&& fill);
  void write_sync(const LogRecord& record);
  void drop_after_shutdown();
  void worker_loop();
  /// Commits records [begin, end) (contiguous in the ring), retrying and isolating failures.
  void commit(std::uint64_t begin, std::uint64_t end);
  bool write_range(std::uint64_t begin, std::uint64_t end, std::string& error, bool& transient);
  void isolate_failures(std::uint64_t begin, std::uint64_t end);
  void report(std::string_view line);
  void release(std::uint64_t upto);

  std::shared_ptr<LogSink> sink_;
  LoggerOptions options_;
  std::size_t mask_ = 0;
  std::unique_ptr<LogRecord[]> records_;
  /// Per slot: equal to the position when free for a producer at that position, position + 1 when
  /// filled (Vyukov's bounded queue).
  std::unique_ptr<std::atomic<std::uint64_t>[]> sequence_;

  alignas(64) std::atomic<std::uint64_t> tail_{0};  ///< next position a producer claims
  alignas(64) std::atomic<std::uint64_t> head_{0};  ///< first position not yet released by the worker
  std::atomic<std::uint32_t> space_epoch_{0};       ///< bumped whenever slots are released
  std::atomic<std::uint32_t> space_waiters_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> worker_sleeping_{false};
  std::atomic<bool> late_drop_reported_{false};
  std::size_t wake_threshold_ = 1;

  mutable std::mutex mutex_;  ///< guards the fields below and the two condition variables
  std::condition_variable wake_worker_;
  std::condition_variable progress_;  ///< flush waiters
  std::uint64_t flush_target_ = 0;
  bool stop_requested_ = false;
  bool worker_done_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::uint64_t dropped_reported_ = 0;

  std::mutex sync_mutex_;  ///< serialises synchronous-mode writes
  std::mutex join_mutex_;
  std::thread worker_;
};

}  // namespace mlflow::logging
