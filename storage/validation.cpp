// MLflow's server-side rules for keys, values, ids and batch sizes (protocol.md §3), checked on the client
// so a bad input fails at the call site.
//
// Key characters: MLflow matches `^[/\w.\- :]*$` with Python's Unicode `\w`. We accept ASCII letters, digits,
// `_ / . - space :` and every non-ASCII code point that Python's `\w` matches (letters and digits of any script,
// table generated from Python by storage/tools/gen_unicode_word_table.py). The colon is allowed because the
// check mirrors a non-Windows server. A key that is not valid UTF-8 is rejected with its own message (Python
// would never see such a key: the JSON layer would fail first).

#include "mlflow/validation.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "mlflow/error.hpp"
#include "storage/utf8.hpp"

namespace mlflow::validation {
namespace {

using detail::display_text;

[[noreturn]] void fail(const std::string& message) { throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, message); }

std::string quoted(std::string_view s) { return "'" + display_text(s) + "'"; }

std::string code_point_label(char32_t cp) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string digits;
  for (char32_t v = cp; v != 0 || digits.size() < 4; v >>= 4) digits.insert(digits.begin(), kHex[v & 0xF]);
  return "U+" + digits;
}

bool is_allowed_key_code_point(char32_t cp) {
  if (cp < 0x80) {
    return std::isalnum(static_cast<int>(cp)) || cp == '_' || cp == '/' || cp == '.' || cp == '-' || cp == ' ' ||
           cp == ':';
  }
  return detail::is_word_code_point(cp);
}

// posixpath.normpath, which MLflow applies to keys because they may become file names.
std::string posix_normpath(std::string_view path) {
  if (path.empty()) return ".";
  std::size_t leading = 0;
  while (leading < path.size() && path[leading] == '/') ++leading;
  // POSIX keeps exactly two leading slashes; one or three and more collapse to one.
  const std::string prefix = leading == 0 ? "" : (leading == 2 ? "//" : "/");
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    const std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
      // dropped
    } else if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (prefix.empty()) {
        parts.push_back(part);
      }
    } else {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out = prefix;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out.append(parts[k]);
  }
  return out.empty() ? "." : out;
}

void check_key_length(std::string_view label, std::string_view key) {
  // A string never has more code points than bytes: short keys need no decoding (the log_metric hot path).
  if (key.size() <= MAX_ENTITY_KEY_LENGTH) return;
  const std::size_t length = utf8_length(key);
  if (length > MAX_ENTITY_KEY_LENGTH) {
    fail(std::string(label) + " " + quoted(key) + " had length " + std::to_string(length) +
         ", which exceeded length limit of " + std::to_string(MAX_ENTITY_KEY_LENGTH) + ". Use a key of at most " +
         std::to_string(MAX_ENTITY_KEY_LENGTH) + " characters.");
  }
}

// True for the usual key: non-empty ASCII of allowed characters without '/', which normpath leaves unchanged,
// so every check of validate_key_shape passes. Lets the hot path skip UTF-8 decoding and the path split.
bool is_plain_ascii_key(std::string_view key) {
  if (key.empty() || key == "." || key.starts_with("..")) return false;
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-' || c == ' ' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// Everything but the length, which MLflow checks last. label is "Metric name", "Param name" or "Tag name".
void validate_key_shape(std::string_view label, std::string_view key) {
  if (is_plain_ascii_key(key)) return;
  const std::string what = std::string(label) + " \"" + display_text(key) + "\"";
  if (key.empty()) {
    std::string noun(label.substr(0, label.find(' ')));  // "Metric name" -> "metric"
    std::transform(noun.begin(), noun.end(), noun.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    fail(std::string(label) + " is empty. A key name must be provided; give the " + noun + " a non-empty name.");
  }
  if (const auto bad = detail::first_invalid_utf8(key)) {
    fail(what + " is not valid UTF-8 (byte " + detail::display_text(key.substr(*bad, 1)) + " at byte offset " +
         std::to_string(*bad) + "). Keys must be UTF-8 text; re-encode the key as UTF-8.");
  }
  std::size_t i = 0;
  std::size_t position = 0;
  while (i < key.size()) {
    const std::size_t start = i;
    const char32_t cp = *detail::next_code_point(key, i);
    if (!is_allowed_key_code_point(cp)) {
      const std::string shown = (cp < 0x20 || cp == 0x7F) ? "" : "'" + std::string(key.substr(start, i - start)) + "' ";
      fail(what + " is invalid: the character " + shown + "(" + code_point_label(cp) + ") at position " +
           std::to_string(position) +
           " is not allowed. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
           "spaces ( ), colons (:) and slashes (/); rename the key using only these characters.");
    }
    ++position;
  }
  const std::string norm = posix_normpath(key);
  if (norm != key || norm == "." || norm.starts_with("..") || norm.starts_with("/")) {
    fail(what + " is invalid: names may be treated as file paths and must not resolve to other names when " +
         "treated as such; this name would resolve to '" + display_text(norm) +
         "'. Use a relative path without a leading or trailing '/', '//', or '.' and '..' segments.");
  }
}

void validate_key(std::string_view label, std::string_view key) {
  validate_key_shape(label, key);
  check_key_length(label, key);
}

// MLflow's boolean environment variables accept true/false/1/0 in any case; anything else is an error.
bool truncate_long_values() {
  const char* raw = std::getenv("MLFLOW_TRUNCATE_LONG_VALUES");
  if (raw == nullptr) return true;
  std::string value(raw);
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  fail("The environment variable MLFLOW_TRUNCATE_LONG_VALUES is '" + display_text(raw) +
       "'; it must be one of true, false, 1, 0 (case-insensitive). Fix or unset it (unset means true).");
}

// A value that is not UTF-8 would be stored as is by SQLite, where MLflow's Python readers then fail on the whole
// run ("Could not decode to UTF-8"), and would make a server reject the JSON request; refuse it at the call.
void check_utf8(const std::string& what, std::string_view text) {
  if (const auto bad = detail::first_invalid_utf8(text)) {
    fail(what + " is not valid UTF-8 (byte " + display_text(text.substr(*bad, 1)) + " at byte offset " +
         std::to_string(*bad) + "). MLflow stores text as UTF-8; re-encode the value as UTF-8.");
  }
}

std::string checked_value(std::string_view entity, std::string_view key, std::string_view value, std::size_t limit) {
  check_utf8(std::string(entity) + " value for key " + quoted(key), value);
  const std::size_t length = utf8_length(value);
  if (length <= limit) return std::string(value);
  if (truncate_long_values()) return utf8_truncate(value, limit);
  fail(std::string(entity) + " value for key " + quoted(key) + " ('" + display_text(value, 40) + "') had length " +
       std::to_string(length) + ", which exceeded length limit of " + std::to_string(limit) +
       ". Shorten the value, or set MLFLOW_TRUNCATE_LONG_VALUES=true to have it cut to " + std::to_string(limit) +
       " characters.");
}

// The ASCII bytes `[\w\-]` matches.
constexpr std::array<bool, 128> kIdTailAscii = [] {
  std::array<bool, 128> table{};
  for (int c = 0; c < 128; ++c) {
    table[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  }
  return table;
}();

// `^[a-zA-Z0-9][\w\-]{0,max_rest}$` with Python's Unicode \w.
bool matches_id_pattern(std::string_view id, std::size_t max_rest) {
  if (id.empty()) return false;
  const auto first = static_cast<unsigned char>(id[0]);
  if (!std::isalnum(first) || first >= 0x80) return false;
  std::size_t i = 1;
  std::size_t rest = 0;
  // Fast path for ASCII ids, without decoding or branches per byte: run ids are checked on every log call.
  if (id.size() - 1 <= max_rest) {
    bool ascii_ok = true;
    for (std::size_t k = 1; k < id.size(); ++k) {
      const auto c = static_cast<unsigned char>(id[k]);
      ascii_ok &= c < 0x80 && kIdTailAscii[c & 0x7F];
    }
    if (ascii_ok) return true;
  }
  while (i < id.size()) {
    const auto cp = detail::next_code_point(id, i);
    if (!cp || !(detail::is_word_code_point(*cp) || *cp == '-')) return false;
    if (++rest > max_rest) return false;
  }
  return true;
}

std::string format_double(double value) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

void check_batch_limit(std::string_view entity, std::size_t limit, std::size_t count) {
  if (count > limit) {
    const std::string name(entity);
    fail("A batch logging request can contain at most " + std::to_string(limit) + " " + name + ". Got " +
         std::to_string(count) + " " + name + ". Please split up " + name + " across multiple requests and try again.");
  }
}

}  // namespace

std::size_t utf8_length(std::string_view s) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    detail::next_code_point(s, i);
    ++count;
  }
  return count;
}

std::string utf8_truncate(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t count = 0; count < n && i < s.size(); ++count) detail::next_code_point(s, i);
  return std::string(s.substr(0, i));
}

void validate_metric_name(std::string_view key) { validate_key("Metric name", key); }
void validate_param_name(std::string_view key) { validate_key("Param name", key); }
void validate_tag_name(std::string_view key) { validate_key("Tag name", key); }

void validate_metric(const Metric& metric) {
  // MLflow's order: key characters and path, then the timestamp, then the key length.
  const std::string_view key = metric.key;
  validate_key_shape("Metric name", key);
  if (metric.timestamp < 0) {
    fail("Invalid value " + std::to_string(metric.timestamp) + " for parameter 'timestamp' supplied: metric " +
         quoted(key) + " (value=" + format_double(metric.value) +
         "). Timestamp must be a nonnegative long (64-bit integer), in milliseconds since the Unix epoch.");
  }
  check_key_length("Metric name", key);
}

std::string validate_param_value(std::string_view key, std::string_view value) {
  return checked_value("Param", key, value, MAX_PARAM_VAL_LENGTH);
}

std::string validate_tag_value(std::string_view key, std::string_view value) {
  return checked_value("Tag", key, value, MAX_TAG_VAL_LENGTH);
}

void validate_experiment_tag(const ExperimentTag& tag) {
  validate_tag_name(tag.key);
  check_utf8("The value of experiment tag " + quoted(tag.key), tag.value);
  const std::size_t length = utf8_length(tag.value);
  if (length > MAX_EXPERIMENT_TAG_VAL_LENGTH) {
    fail("Tag value '" + display_text(tag.value, 40) + "' of experiment tag " + quoted(tag.key) + " had length " +
         std::to_string(length) + ", which exceeded length limit of " + std::to_string(MAX_EXPERIMENT_TAG_VAL_LENGTH) +
         ". Experiment tag values are never truncated; shorten the value.");
  }
}

void validate_experiment_name(std::string_view name) {
  if (name.empty()) {
    fail("Invalid experiment name: ''. An experiment name must be a non-empty string.");
  }
  check_utf8("Experiment name " + quoted(name), name);
  const std::size_t length = utf8_length(name);
  if (length > MAX_EXPERIMENT_NAME_LENGTH) {
    fail("'name' exceeds the maximum length of " + std::to_string(MAX_EXPERIMENT_NAME_LENGTH) +
         " characters (experiment name " + quoted(name) + " has " + std::to_string(length) +
         "). Use a shorter experiment name.");
  }
}

void validate_run_id(std::string_view run_id) {
  if (!matches_id_pattern(run_id, 255)) {
    fail("Invalid value \"" + display_text(run_id) +
         "\" for parameter 'run_id' supplied. A run id starts with a letter or digit followed by at most 255 "
         "letters, digits, underscores or dashes; pass the run_id of an existing run.");
  }
}

void validate_experiment_id(std::string_view experiment_id) {
  if (!matches_id_pattern(experiment_id, 63)) {
    fail("Invalid experiment ID: '" + display_text(experiment_id) +
         "'. An experiment id starts with a letter or digit followed by at most 63 letters, digits, underscores "
         "or dashes; pass the experiment_id of an existing experiment.");
  }
}

void validate_batch_limits(std::size_t metrics, std::size_t params, std::size_t tags) {
  check_batch_limit("metrics", MAX_METRICS_PER_BATCH, metrics);
  check_batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, params);
  check_batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, tags);
  check_batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, metrics + params + tags);
}

void validate_no_duplicate_param_keys(const std::vector<Param>& params) {
  std::set<std::string_view> seen;
  std::vector<std::string_view> duplicates;
  for (const Param& param : params) {
    if (!seen.insert(param.key).second) duplicates.push_back(param.key);
  }
  if (duplicates.empty()) return;
  std::string list = "[";
  for (std::size_t i = 0; i < duplicates.size(); ++i) {
    if (i > 0) list += ", ";
    list += quoted(duplicates[i]);
  }
  list += "]";
  fail("Duplicate parameter keys have been submitted: " + list +
       ". A batch may carry only one value per param key; remove the repeated keys.");
}

}  // namespace mlflow::validation
