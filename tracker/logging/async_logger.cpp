#include "tracker/logging/async_logger.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "mlflow/error.hpp"
#include "tracker/logging/env.hpp"

namespace mlflow::logging {

namespace {

std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 2;
  while (p < n) p <<= 1;
  return p;
}

/// Errors a retry cannot cure: the record itself is wrong for the store (changed param, deleted run...).
bool is_permanent(ErrorCode code) {
  switch (code) {
    case ErrorCode::INVALID_PARAMETER_VALUE:
    case ErrorCode::RESOURCE_DOES_NOT_EXIST:
    case ErrorCode::RESOURCE_ALREADY_EXISTS:
    case ErrorCode::INVALID_STATE:
    case ErrorCode::BAD_REQUEST:
    case ErrorCode::MALFORMED_REQUEST:
    case ErrorCode::PERMISSION_DENIED:
    case ErrorCode::UNAUTHENTICATED:
    case ErrorCode::NOT_FOUND:
    case ErrorCode::ENDPOINT_NOT_FOUND:
    case ErrorCode::NOT_IMPLEMENTED:
    case ErrorCode::RESOURCE_CONFLICT:
      return true;
    default:
      return false;
  }
}

std::string_view kind_name(LogRecord::Kind kind) {
  switch (kind) {
    case LogRecord::Kind::metric: return "metric";
    case LogRecord::Kind::param: return "param";
    case LogRecord::Kind::tag: return "tag";
  }
  return "record";
}

}  // namespace

LoggerOptions LoggerOptions::from_env() {
  LoggerOptions o;
  o.asynchronous = env_bool("MLFLOW_CPP_ASYNC_LOGGING", o.asynchronous);
  o.queue_capacity = static_cast<std::size_t>(env_int("MLFLOW_CPP_LOG_QUEUE_SIZE", 65536, 2, 1 << 26));
  o.flush_interval = std::chrono::milliseconds(env_int("MLFLOW_CPP_LOG_FLUSH_INTERVAL_MS", 200, 1, 3600000));
  const std::string policy = env_string("MLFLOW_CPP_LOG_QUEUE_FULL", "block");
  if (policy == "drop") {
    o.full_queue_policy = FullQueuePolicy::drop;
  } else if (policy != "block") {
    std::fprintf(stderr, "mlflow-cpp: MLFLOW_CPP_LOG_QUEUE_FULL=%s is not 'block' or 'drop'; using 'block'\n",
                 policy.c_str());
  }
  o.max_batch = static_cast<std::size_t>(env_int("MLFLOW_CPP_LOG_MAX_BATCH", 8192, 1, 1 << 24));
  o.retry_budget = std::chrono::milliseconds(env_int("MLFLOW_CPP_LOG_RETRY_SECONDS", 30, 0, 86400) * 1000);
  return o;
}

AsyncLogger::AsyncLogger(std::shared_ptr<LogSink> sink, LoggerOptions options)
    : sink_(std::move(sink)), options_(std::move(options)) {
  if (!sink_) throw std::invalid_argument("AsyncLogger needs a sink");
  if (options_.max_batch == 0) options_.max_batch = 1;
  if (!options_.asynchronous) return;
  const std::size_t capacity = round_up_pow2(std::max<std::size_t>(options_.queue_capacity, 2));
  options_.queue_capacity = capacity;
  mask_ = capacity - 1;
  records_ = std::make_unique<LogRecord[]>(capacity);
  sequence_ = std::make_unique<std::atomic<std::uint64_t>[]>(capacity);
  for (std::size_t i = 0; i < capacity; ++i) sequence_[i].store(i, std::memory_order_relaxed);
  // Wake the worker early once a quarter of the ring (or a full batch) is waiting, so a fast producer
  // rarely finds the queue full while the worker sleeps out its interval.
  wake_threshold_ = std::max<std::size_t>(1, std::min(options_.max_batch, capacity / 4));
  worker_ = std::thread([this] { worker_loop(); });
}

AsyncLogger::~AsyncLogger() {
  shutdown(options_.flush_interval * 10 + std::chrono::seconds(5));
}

void AsyncLogger::log_metric(std::string_view run_id, std::string_view key, double value, std::int64_t timestamp,
                             std::int64_t step) {
  enqueue([&](LogRecord& r) { r.set_metric(run_id, key, value, timestamp, step); });
}

void AsyncLogger::log_param(std::string_view run_id, std::string_view key, std::string_view value) {
  enqueue([&](LogRecord& r) { r.set_param(run_id, key, value); });
}

void AsyncLogger::set_tag(std::string_view run_id, std::string_view key, std::string_view value) {
  enqueue([&](LogRecord& r) { r.set_tag(run_id, key, value); });
}

template <typename Fill>
void AsyncLogger::enqueue(Fill&& fill) {
  if (!options_.asynchronous) {
    LogRecord record;
    fill(record);
    write_sync(record);
    return;
  }
  if (stopping_.load(std::memory_order_relaxed)) {
    drop_after_shutdown();
    return;
  }
  std::uint64_t pos = tail_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t seq = sequence_[pos & mask_].load(std::memory_order_acquire);
    const auto diff = static_cast<std::int64_t>(seq - pos);
    if (diff == 0) {
      if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff < 0) {
      // Full: the slot still holds the record from one lap ago.
      if (stopping_.load(std::memory_order_relaxed)) {
        drop_after_shutdown();
        return;
      }
      if (options_.full_queue_policy == FullQueuePolicy::drop) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      const std::uint32_t epoch = space_epoch_.load();
      space_waiters_.fetch_add(1);
      wake_worker_.notify_one();
      if (static_cast<std::int64_t>(sequence_[pos & mask_].load() - pos) < 0 && !stopping_.load()) {
        space_epoch_.wait(epoch);
      }
      space_waiters_.fetch_sub(1);
      pos = tail_.load(std::memory_order_relaxed);
    } else {
      pos = tail_.load(std::memory_order_relaxed);
    }
  }
  fill(records_[pos & mask_]);
  sequence_[pos & mask_].store(pos + 1, std::memory_order_release);
  if (pos + 1 - head_.load(std::memory_order_relaxed) == wake_threshold_ &&
      worker_sleeping_.load(std::memory_order_relaxed)) {
    wake_worker_.notify_one();
  }
}

void AsyncLogger::drop_after_shutdown() {
  dropped_.fetch_add(1);
  // The worker that would report it is gone: say it here, once.
  if (!late_drop_reported_.exchange(true)) {
    report("a record was logged after the logger was shut down and is dropped (later ones are only counted)");
  }
}

void AsyncLogger::write_sync(const LogRecord& record) {
  std::lock_guard lock(sync_mutex_);
  if (stopping_.load()) {
    dropped_.fetch_add(1);
    throw MlflowError(ErrorCode::INVALID_STATE, "the logger has been shut down; this record was not written");
  }
  tail_.fetch_add(1);
  try {
    sink_->write_batch(std::span<const LogRecord>(&record, 1));
  } catch (...) {
    failed_.fetch_add(1);
    head_.fetch_add(1);
    throw;
  }
  written_.fetch_add(1);
  head_.fetch_add(1);
}

bool AsyncLogger::flush(std::chrono::milliseconds timeout) {
  if (!options_.asynchronous) return true;
  const std::uint64_t target = tail_.load();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  if (head_.load() >= target) return true;
  flush_target_ = std::max(flush_target_, target);
  wake_worker_.notify_one();
  progress_.wait_until(lock, deadline, [&] { return head_.load() >= target || worker_done_; });
  return head_.load() >= target;
}

void AsyncLogger::shutdown(std::chrono::milliseconds timeout) {
  if (!options_.asynchronous) {
    stopping_.store(true);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (!stop_requested_) {
      stop_requested_ = true;
      stop_deadline_ = std::chrono::steady_clock::now() + timeout;
      stopping_.store(true);
    }
  }
  wake_worker_.notify_all();
  {
    std::lock_guard join_lock(join_mutex_);
    if (worker_.joinable()) worker_.join();
  }
  // Producers blocked on a full queue see stopping_ and give up (their records count as dropped).
  space_epoch_.fetch_add(1);
  space_epoch_.notify_all();
}

LoggerCounters AsyncLogger::counters() const {
  LoggerCounters c;
  c.enqueued = tail_.load();
  c.written = written_.load();
  c.dropped = dropped_.load();
  c.failed = failed_.load();
  return c;
}

std::uint64_t AsyncLogger::pending() const {
  const std::uint64_t head = head_.load();
  const std::uint64_t tail = tail_.load();
  return tail > head ? tail - head : 0;
}

void AsyncLogger::report(std::string_view line) {
  try {
    if (options_.error_handler) {
      options_.error_handler(line);
    } else {
      std::fprintf(stderr, "mlflow-cpp: %.*s\n", static_cast<int>(line.size()), line.data());
    }
  } catch (...) {
    // A throwing handler must not take the worker down.
  }
}

void AsyncLogger::release(std::uint64_t upto) {
  std::uint64_t head = head_.load(std::memory_order_relaxed);
  for (std::uint64_t pos = head; pos < upto; ++pos) {
    sequence_[pos & mask_].store(pos + mask_ + 1, std::memory_order_release);
  }
  head_.store(upto, std::memory_order_release);
  space_epoch_.fetch_add(1);
  if (space_waiters_.load() > 0) space_epoch_.notify_all();
  { std::lock_guard lock(mutex_); }
  progress_.notify_all();
}

bool AsyncLogger::write_range(std::uint64_t begin, std::uint64_t end, std::string& error, bool& transient) {
  try {
    sink_->write_batch(std::span<const LogRecord>(&records_[begin & mask_], static_cast<std::size_t>(end - begin)));
    return true;
  } catch (const MlflowError& e) {
    error = e.what();
    transient = !is_permanent(e.error_code());
  } catch (const std::exception& e) {
    error = e.what();
    transient = true;
  } catch (...) {
    error = "unknown exception";
    transient = true;
  }
  return false;
}

void AsyncLogger::commit(std::uint64_t begin, std::uint64_t end) {
  const auto count = end - begin;
  std::string error;
  bool transient = false;
  if (write_range(begin, end, error, transient)) {
    written_.fetch_add(count);
    return;
  }
  if (transient) {
    const auto started = std::chrono::steady_clock::now();
    const auto give_up = started + options_.retry_budget;
    report("could not write " + std::to_string(count) + " records (" + error + "); retrying for up to " +
           std::to_string(options_.retry_budget.count() / 1000) + " s");
    auto backoff = std::chrono::milliseconds(10);
    int attempts = 1;
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      std::chrono::steady_clock::time_point limit = give_up;
      {
        std::unique_lock lock(mutex_);
        if (stop_requested_) limit = std::min(limit, stop_deadline_);
        if (now >= limit) break;
        const auto until = std::min(now + backoff, limit);
        const bool was_stopping = stop_requested_;
        // A shutdown request shortens the limit: wake up to recompute it.
        wake_worker_.wait_until(lock, until, [&] { return stop_requested_ != was_stopping; });
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      ++attempts;
      if (write_range(begin, end, error, transient)) {
        written_.fetch_add(count);
        report("wrote the " + std::to_string(count) + " records after " + std::to_string(attempts) + " attempts");
        return;
      }
      if (!transient) break;
    }
    if (transient) {
      failed_.fetch_add(count);
      report("gave up on " + std::to_string(count) + " records after " + std::to_string(attempts) +
             " attempts: " + error);
      return;
    }
  }
  isolate_failures(begin, end);
}

void AsyncLogger::isolate_failures(std::uint64_t begin, std::uint64_t end) {
  // A permanent error belongs to some records of the batch (a changed param, a deleted run): bisect so
  // that everything else is still written and only the culprits are counted and reported.
  if (end - begin == 1) {
    std::string error;
    bool transient = false;
    if (write_range(begin, end, error, transient)) {
      written_.fetch_add(1);
      return;
    }
    failed_.fetch_add(1);
    const LogRecord& r = records_[begin & mask_];
    report("could not write " + std::string(kind_name(r.kind())) + " '" + std::string(r.key()) + "' of run " +
           std::string(r.run_id()) + ": " + error);
    return;
  }
  const std::uint64_t mid = begin + (end - begin) / 2;
  for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}}) {
    std::string error;
    bool transient = false;
    if (write_range(b, e, error, transient)) {
      written_.fetch_add(e - b);
    } else {
      isolate_failures(b, e);
    }
  }
}

void AsyncLogger::worker_loop() {
  auto last_drop_report = std::chrono::steady_clock::time_point{};
  for (;;) {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    // One transaction per contiguous stretch of ready slots; a stretch stops at the end of the ring.
    const std::uint64_t ring_end = head + (mask_ + 1 - (head & mask_));
    const std::uint64_t limit = std::min<std::uint64_t>(head + options_.max_batch, ring_end);
    std::uint64_t end = head;
    while (end < limit && sequence_[end & mask_].load(std::memory_order_acquire) == end + 1) ++end;
    if (end > head) {
      commit(head, end);
      release(end);
      continue;
    }

    const std::uint64_t dropped = dropped_.load();
    if (dropped != dropped_reported_ &&
        std::chrono::steady_clock::now() - last_drop_report > std::chrono::seconds(5)) {
      report("dropped " + std::to_string(dropped - dropped_reported_) +
             " records because the log queue was full (MLFLOW_CPP_LOG_QUEUE_FULL=drop); " +
             std::to_string(dropped) + " dropped in all");
      dropped_reported_ = dropped;
      last_drop_report = std::chrono::steady_clock::now();
    }

    std::unique_lock lock(mutex_);
    const std::uint64_t tail = tail_.load();
    if (stop_requested_ && tail == head) break;
    if (tail > head && (stop_requested_ || flush_target_ > head || tail - head >= wake_threshold_)) {
      // A producer has claimed the next slot and is still filling it.
      lock.unlock();
      std::this_thread::yield();
      continue;
    }
    worker_sleeping_.store(true);
    wake_worker_.wait_for(lock, options_.flush_interval, [&] {
      return stop_requested_ || flush_target_ > head || tail_.load() - head >= wake_threshold_;
    });
    worker_sleeping_.store(false);
  }
  const std::uint64_t dropped = dropped_.load();
  if (dropped != dropped_reported_) {
    report("dropped " + std::to_string(dropped - dropped_reported_) + " records (queue full or logger stopped); " +
           std::to_string(dropped) + " dropped in all");
    dropped_reported_ = dropped;
  }
  {
    std::lock_guard lock(mutex_);
    worker_done_ = true;
  }
  progress_.notify_all();
}

}  // namespace mlflow::logging
