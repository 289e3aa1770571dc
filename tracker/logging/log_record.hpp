#pragma once
// One queued log call, sized so that the logger's ring buffer can hold it without touching the heap.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace mlflow::logging {

/// One log call waiting in the queue: a metric point, a param or a tag, with the id of its run.
/// The run id, key and text share one inline buffer; only when together they are longer than
/// `inline_capacity` bytes do they spill into a heap string (whose capacity is then reused by the
/// next record written into the same slot). A value type; not thread-safe.
class LogRecord {
 public:
  enum class Kind : std::uint8_t { metric, param, tag };
  /// A 32-hex run id plus a key of up to 64 bytes stays inline.
  static constexpr std::size_t inline_capacity = 96;

  void set_metric(std::string_view run_id, std::string_view key, double value, std::int64_t timestamp,
                  std::int64_t step) {
    kind_ = Kind::metric;
    value_ = value;
    timestamp_ = timestamp;
    step_ = step;
    store_strings(run_id, key, {});
  }
  void set_param(std::string_view run_id, std::string_view key, std::string_view value) {
    kind_ = Kind::param;
    value_ = 0.0;
    timestamp_ = step_ = 0;
    store_strings(run_id, key, value);
  }
  void set_tag(std::string_view run_id, std::string_view key, std::string_view value) {
    kind_ = Kind::tag;
    value_ = 0.0;
    timestamp_ = step_ = 0;
    store_strings(run_id, key, value);
  }

  Kind kind() const noexcept { return kind_; }
  std::string_view run_id() const noexcept { return {data(), run_len_}; }
  std::string_view key() const noexcept { return {data() + run_len_, key_len_}; }
  /// The param or tag value (empty for a metric).
  std::string_view text() const noexcept { return {data() + run_len_ + key_len_, text_len_}; }
  double value() const noexcept { return value_; }
  std::int64_t timestamp() const noexcept { return timestamp_; }
  std::int64_t step() const noexcept { return step_; }

 private:
  const char* data() const noexcept { return spilled_ ? spill_.data() : inline_; }
  void store_strings(std::string_view a, std::string_view b, std::string_view c) {
    run_len_ = static_cast<std::uint32_t>(a.size());
    key_len_ = static_cast<std::uint32_t>(b.size());
    text_len_ = static_cast<std::uint32_t>(c.size());
    const std::size_t total = a.size() + b.size() + c.size();
    char* out;
    if (total <= inline_capacity) {
      spilled_ = false;
      out = inline_;
    } else {
      spilled_ = true;
      spill_.resize(total);
      out = spill_.data();
    }
    if (!a.empty()) std::memcpy(out, a.data(), a.size());
    if (!b.empty()) std::memcpy(out + a.size(), b.data(), b.size());
    if (!c.empty()) std::memcpy(out + a.size() + b.size(), c.data(), c.size());
  }

  Kind kind_ = Kind::metric;
  bool spilled_ = false;
  std::uint32_t run_len_ = 0;
  std::uint32_t key_len_ = 0;
  std::uint32_t text_len_ = 0;
  double value_ = 0.0;
  std::int64_t timestamp_ = 0;
  std::int64_t step_ = 0;
  char inline_[inline_capacity];
  std::string spill_;
};

/// Where the logger's worker commits batches. Implementations make a whole batch durable in one
/// transaction, or throw mlflow::MlflowError and leave nothing of it behind. Called from one thread at a
/// time (the logger's worker, or the caller in synchronous mode).
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void write_batch(std::span<const LogRecord> records) = 0;
};

}  // namespace mlflow::logging
