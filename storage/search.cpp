// MLflow's search filters, order_by and page tokens, evaluated in memory with the semantics MLflow's SQL store
// has on a SQLite backend:
// - metric comparisons use the latest value, with NaN compared as 0 and +/-Inf as +/-DBL_MAX (what MLflow
//   stores in latest_metrics.value);
// - string `=`/`!=` compare bytes; LIKE is case-sensitive (MLflow sets PRAGMA case_sensitive_like on every
//   SQLite session) and ILIKE, being lower(x) LIKE lower(y), ignores ASCII case only (SQLite's lower() folds
//   nothing else); `%` is any run of characters, `_` one character, and there is no escape character;
// - a run without the key (or without end_time) matches no comparison on it, `!=` included;
// - `run_name` compares the `mlflow.runName` tag (falling back to RunInfo::run_name when the tag is absent);
// - order_by puts runs that lack the key last (metrics: NaN after numbers, missing after NaN), whatever the
//   direction, then start_time DESC (unless ordered on), then run_id ASC.
// Quoted values are taken between their quotes as written, as MLflow does (no unescaping of '' or \').

#include "storage/search.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "mlflow/error.hpp"
#include "storage/utf8.hpp"

namespace mlflow::search {
namespace {

[[noreturn]] void fail(const std::string& message) { throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, message); }

enum class Target { runs, experiments };

const std::set<std::string, std::less<>> kMetricOps{"=", "!=", "<", "<=", ">", ">="};
const std::set<std::string, std::less<>> kStringOps{"=", "!=", "LIKE", "ILIKE"};
const std::set<std::string, std::less<>> kStringAttributeOps{"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"};

constexpr std::string_view kRunAttributes = "run_id, run_name, status, user_id, artifact_uri, start_time, end_time";
constexpr std::string_view kExperimentAttributes = "name, creation_time, last_update_time";
constexpr std::string_view kExperimentOrderAttributes = "name, experiment_id, creation_time, last_update_time";

bool is_run_numeric_attribute(std::string_view key) { return key == "start_time" || key == "end_time"; }
bool is_run_string_attribute(std::string_view key) {
  return key == "run_id" || key == "run_name" || key == "status" || key == "user_id" || key == "artifact_uri";
}
bool is_experiment_numeric_attribute(std::string_view key) {
  return key == "creation_time" || key == "last_update_time";
}
bool is_experiment_order_attribute(std::string_view key) {
  return key == "name" || key == "experiment_id" || is_experiment_numeric_attribute(key);
}

// MLflow's aliases for run attributes.
std::string canonical_run_attribute(std::string key, bool allow_run_name_alias) {
  if (key == "created" || key == "Created") return "start_time";
  if (allow_run_name_alias && (key == "run name" || key == "Run name" || key == "Run Name")) return "run_name";
  return key;
}

std::string join(const std::set<std::string, std::less<>>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool is_bare_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

/// A cursor over filter or order_by text, with the error reporting both parsers share.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  std::size_t pos() const { return pos_; }
  void advance(std::size_t n = 1) { pos_ += n; }
  std::string_view text() const { return text_; }
  std::string_view slice(std::size_t from, std::size_t to) const { return text_.substr(from, to - from); }

  /// "at position N ('rest...')" or "at the end".
  std::string where(std::size_t at) const {
    if (at >= text_.size()) return "at the end of '" + detail::display_text(text_, 200) + "'";
    return "at position " + std::to_string(at) + " ('" + detail::display_text(text_.substr(at), 30) + "')";
  }

  std::string read_bare_word(bool allow_dots) {
    const std::size_t start = pos_;
    while (!at_end() && (is_bare_char(peek()) || (allow_dots && peek() == '.'))) ++pos_;
    return std::string(slice(start, pos_));
  }

  /// Text between matching quote characters; the cursor must be on the opening quote. SQL-style doubled
  /// quotes and backslash-escaped quotes stay in the text as written.
  std::string read_quoted() {
    const char quote = peek();
    const std::size_t start = pos_;
    ++pos_;
    while (!at_end()) {
      const char c = peek();
      if (quote != '`' && c == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == quote) {
        pos_ += 2;
      } else if (quote != '`' && c == quote && pos_ + 1 < text_.size() && text_[pos_ + 1] == quote) {
        pos_ += 2;
      } else if (c == quote) {
        ++pos_;
        return std::string(slice(start + 1, pos_ - 1));
      } else {
        ++pos_;
      }
    }
    fail("Unterminated quoted text starting " + where(start) + ": add the closing " + std::string(1, quote) + ".");
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

/// `entity.key` or a bare attribute name as written, quotes removed.
struct RawIdentifier {
  std::optional<std::string> entity;
  std::string key;
  std::string text;  ///< as written, for messages
};

RawIdentifier read_identifier(Cursor& cur) {
  const std::size_t start = cur.pos();
  const auto read_segment = [&](bool allow_dots, bool& was_double_quoted) -> std::string {
    was_double_quoted = cur.peek() == '"';
    if (cur.peek() == '`' || cur.peek() == '"') return cur.read_quoted();
    std::string word = cur.read_bare_word(allow_dots);
    if (word.empty()) {
      fail("Expected an identifier such as metrics.loss, params.lr, tags.`my tag` or an attribute name " +
           cur.where(cur.pos()) + ".");
    }
    return word;
  };
  RawIdentifier id;
  bool first_double_quoted = false;
  std::string first = read_segment(false, first_double_quoted);
  if (cur.peek() == '.') {
    cur.advance();
    if (first_double_quoted) {
      fail("Invalid entity type \"" + first + "\" " + cur.where(start) +
           ": write the entity type unquoted or in backticks, e.g. metrics.\"my key\".");
    }
    if (cur.at_end() || std::isspace(static_cast<unsigned char>(cur.peek()))) {
      fail("Missing key after '" + first + ".' " + cur.where(start) + ": write e.g. " + first + ".my_key.");
    }
    bool unused = false;
    id.entity = std::move(first);
    id.key = read_segment(true, unused);
  } else {
    id.key = std::move(first);
  }
  id.text = std::string(cur.slice(start, cur.pos()));
  return id;
}

struct Resolved {
  EntityKind kind;
  std::string key;
};

Resolved resolve_run_entity(const RawIdentifier& id, bool for_order_by) {
  if (!id.entity) {
    return {EntityKind::attribute, id.key};
  }
  const std::string& e = *id.entity;
  if (e == "metric" || e == "metrics") return {EntityKind::metric, id.key};
  if (e == "param" || e == "params" || e == "parameter" || e == "parameters") return {EntityKind::param, id.key};
  if (e == "tag" || e == "tags") return {EntityKind::tag, id.key};
  if (e == "attribute" || e == "attributes" || e == "attr" || e == "run") return {EntityKind::attribute, id.key};
  if (e == "dataset" || e == "datasets") {
    fail("'" + id.text + "': " + (for_order_by ? "ordering" : "filtering") +
         " on datasets is not supported by this store. Use metrics., params., tags. or attributes.");
  }
  fail("Invalid entity type '" + e + "' in '" + id.text +
       "'. Valid entity types are metric(s), param(s)/parameter(s), tag(s) and attribute(s)/attr/run.");
}

Resolved resolve_experiment_entity(const RawIdentifier& id) {
  if (!id.entity) return {EntityKind::attribute, id.key};
  const std::string& e = *id.entity;
  if (e == "tag" || e == "tags") return {EntityKind::tag, id.key};
  if (e == "attribute") return {EntityKind::attribute, id.key};
  fail("Invalid entity type '" + e + "' in '" + id.text +
       "' for an experiment search. Valid entity types are 'attribute', 'tag' and 'tags' (or a bare attribute "
       "name such as name or creation_time).");
}

struct Value {
  enum class Type { number, string, list, other } type = Type::other;
  double number = 0;
  std::string text;
  std::vector<std::string> items;
  std::string raw;  ///< as written
};

std::optional<double> read_number(Cursor& cur) {
  const std::string_view s = cur.text();
  std::size_t i = cur.pos();
  const std::size_t start = i;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i - from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  std::size_t mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    std::size_t exp_start = j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j > exp_start) i = j;
  }
  if (i < s.size() && (is_bare_char(s[i]) || s[i] == '.')) return std::nullopt;
  double value = 0;
  const auto result = std::from_chars(s.data() + start, s.data() + i, value);
  if (result.ec != std::errc() || result.ptr != s.data() + i) return std::nullopt;
  cur.advance(i - start);
  return value;
}

Value read_value(Cursor& cur) {
  Value v;
  const std::size_t start = cur.pos();
  const char c = cur.peek();
  if (c == '\'' || c == '"') {
    v.type = Value::Type::string;
    v.text = cur.read_quoted();
  } else if (c == '(') {
    v.type = Value::Type::list;
    cur.advance();
    cur.skip_space();
    if (cur.peek() == ')') {
      fail("Empty list " + cur.where(start) +
           ": IN and NOT IN need a non-empty list of quoted strings, e.g. "
           "('a', 'b').");
    }
    for (;;) {
      cur.skip_space();
      if (cur.peek() != '\'') {
        fail("Ill-formed list " + cur.where(start) +
             ": IN and NOT IN need a list of single-quoted strings separated by commas, e.g. ('a', 'b').");
      }
      v.items.push_back(cur.read_quoted());
      cur.skip_space();
      if (cur.peek() == ',') {
        cur.advance();
        continue;
      }
      if (cur.peek() == ')') {
        cur.advance();
        break;
      }
      fail("Ill-formed list " + cur.where(start) +
           ": IN and NOT IN need a list of single-quoted strings separated by commas, e.g. ('a', 'b').");
    }
  } else if (auto number = read_number(cur)) {
    v.type = Value::Type::number;
    v.number = *number;
  } else if (cur.at_end()) {
    fail("Missing value " + cur.where(start) + ": a comparison needs a value, e.g. metrics.loss < 0.5.");
  } else {
    v.type = Value::Type::other;
    while (!cur.at_end() && !std::isspace(static_cast<unsigned char>(cur.peek()))) cur.advance();
  }
  v.raw = std::string(cur.slice(start, cur.pos()));
  return v;
}

std::string read_operator(Cursor& cur) {
  const std::size_t start = cur.pos();
  const auto is_symbol = [](char ch) { return ch == '=' || ch == '!' || ch == '<' || ch == '>'; };
  if (is_symbol(cur.peek())) {
    while (is_symbol(cur.peek())) cur.advance();
    return std::string(cur.slice(start, cur.pos()));
  }
  std::string word = upper(cur.read_bare_word(false));
  if (word.empty()) {
    fail("Expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN) " + cur.where(start) +
         ". Keys with characters other than letters, digits, '_' and '.' must be quoted with backticks or "
         "double quotes, e.g. metrics.`my-metric` > 0.");
  }
  if (word == "NOT") {
    cur.skip_space();
    const std::string next = upper(cur.read_bare_word(false));
    if (next == "IN") return "NOT IN";
    fail("Invalid comparator 'NOT " + next + "' " + cur.where(start) + ": the only negated operator is NOT IN.");
  }
  return word;
}

std::string kind_label(EntityKind kind) {
  switch (kind) {
    case EntityKind::metric:
      return "metric";
    case EntityKind::param:
      return "param";
    case EntityKind::tag:
      return "tag";
    case EntityKind::attribute:
      return "attribute";
  }
  return "entity";
}

void check_operator(const std::string& op, const std::set<std::string, std::less<>>& allowed,
                    const std::string& subject) {
  if (!allowed.contains(op)) {
    fail("Invalid comparator '" + op + "' for " + subject + ": use one of " + join(allowed) + ".");
  }
}

void require_number(const Value& v, const std::string& subject) {
  if (v.type != Value::Type::number) {
    fail("Expected a numeric value for " + subject + ", got " + v.raw + ". Write a number such as 0.5 (unquoted).");
  }
}

void require_string(const Value& v, const std::string& subject) {
  if (v.type == Value::Type::list) {
    fail("A list " + v.raw + " can only be compared with IN or NOT IN (" + subject + ").");
  }
  if (v.type != Value::Type::string) {
    fail("Expected a quoted string value for " + subject + " (e.g. 'my-value'), got " + v.raw +
         ". Put the value in single or double quotes.");
  }
}

Comparison make_run_comparison(const RawIdentifier& id, std::string op, Value value) {
  Resolved r = resolve_run_entity(id, false);
  Comparison c;
  c.kind = r.kind;
  c.op = std::move(op);
  const std::string subject = kind_label(r.kind) + " '" + id.text + "'";
  switch (r.kind) {
    case EntityKind::metric:
      check_operator(c.op, kMetricOps, subject);
      require_number(value, subject);
      c.key = std::move(r.key);
      c.value = value.number;
      return c;
    case EntityKind::param:
    case EntityKind::tag:
      check_operator(c.op, kStringOps, subject);
      require_string(value, subject);
      c.key = std::move(r.key);
      c.value = std::move(value.text);
      return c;
    case EntityKind::attribute:
      break;
  }
  c.key = canonical_run_attribute(std::move(r.key), true);
  if (is_run_numeric_attribute(c.key)) {
    check_operator(c.op, kMetricOps, subject);
    require_number(value, subject);
    c.value = value.number;
  } else if (is_run_string_attribute(c.key)) {
    check_operator(c.op, kStringAttributeOps, subject);
    if (c.op == "IN" || c.op == "NOT IN") {
      if (c.key != "run_id") {
        fail("Only the 'run_id' attribute supports " + c.op + " with a list of quoted strings (got '" + id.text +
             "'). Compare other attributes with =, !=, LIKE or ILIKE.");
      }
      if (value.type != Value::Type::list) {
        fail(c.op + " needs a parenthesised list of quoted strings, e.g. run_id " + c.op + " ('a', 'b'); got " +
             value.raw + ".");
      }
      c.value = std::move(value.items);
    } else {
      require_string(value, subject);
      c.value = std::move(value.text);
    }
  } else {
    fail("Invalid attribute key '" + c.key + "' in '" + id.text + "'. Valid attribute keys are " +
         std::string(kRunAttributes) + ".");
  }
  return c;
}

Comparison make_experiment_comparison(const RawIdentifier& id, std::string op, Value value) {
  Resolved r = resolve_experiment_entity(id);
  Comparison c;
  c.kind = r.kind;
  c.key = std::move(r.key);
  c.op = std::move(op);
  const std::string subject = kind_label(r.kind) + " '" + id.text + "'";
  if (r.kind == EntityKind::tag) {
    check_operator(c.op, kStringOps, subject);
    require_string(value, subject);
    c.value = std::move(value.text);
  } else if (is_experiment_numeric_attribute(c.key)) {
    check_operator(c.op, kMetricOps, subject);
    require_number(value, subject);
    c.value = value.number;
  } else if (c.key == "name") {
    check_operator(c.op, kStringOps, subject);
    require_string(value, subject);
    c.value = std::move(value.text);
  } else {
    fail("Invalid attribute key '" + c.key + "' in '" + id.text + "'. Valid experiment attribute keys are " +
         std::string(kExperimentAttributes) + ".");
  }
  return c;
}

std::vector<Comparison> parse_filter(std::string_view filter, Target target) {
  std::vector<Comparison> out;
  Cursor cur(filter);
  cur.skip_space();
  if (cur.at_end()) return out;
  for (;;) {
    cur.skip_space();
    if (cur.peek() == '(') {
      fail("Invalid clause " + cur.where(cur.pos()) +
           ": parentheses around comparisons are not supported; join comparisons with AND only.");
    }
    RawIdentifier id = read_identifier(cur);
    cur.skip_space();
    std::string op = read_operator(cur);
    cur.skip_space();
    Value value = read_value(cur);
    out.push_back(target == Target::runs ? make_run_comparison(id, std::move(op), std::move(value))
                                         : make_experiment_comparison(id, std::move(op), std::move(value)));
    cur.skip_space();
    if (cur.at_end()) break;
    const std::size_t at = cur.pos();
    const std::string word = upper(cur.read_bare_word(false));
    if (word == "OR") {
      fail("Invalid clause " + cur.where(at) + ": OR is not supported; MLflow filters join comparisons with AND.");
    }
    if (word != "AND") {
      fail("Invalid clause " + cur.where(at) + ": expected AND between comparisons.");
    }
    cur.skip_space();
    if (cur.at_end()) fail("Filter '" + detail::display_text(filter) + "' ends with AND: add a comparison after it.");
  }
  return out;
}

// ---- evaluation ---------------------------------------------------------------------------------------------

// MLflow's latest_metrics keeps 0 for NaN (with is_nan) and +/-DBL_MAX for +/-Inf.
double stored_metric_value(double v) {
  if (std::isnan(v)) return 0.0;
  if (std::isinf(v)) return v > 0 ? std::numeric_limits<double>::max() : -std::numeric_limits<double>::max();
  return v;
}

bool compare_numbers(double lhs, const std::string& op, double rhs) {
  if (op == "=") return lhs == rhs;
  if (op == "!=") return lhs != rhs;
  if (op == "<") return lhs < rhs;
  if (op == "<=") return lhs <= rhs;
  if (op == ">") return lhs > rhs;
  if (op == ">=") return lhs >= rhs;
  return false;
}

// Code points, with ASCII letters folded to lower case when fold_ascii. Invalid bytes become lone surrogates,
// which no valid code point equals.
std::vector<char32_t> like_units(std::string_view s, bool fold_ascii) {
  std::vector<char32_t> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    const auto cp = detail::next_code_point(s, i);
    char32_t unit = cp ? *cp : static_cast<char32_t>(0xDC00 + static_cast<unsigned char>(s[start]));
    if (fold_ascii && unit >= 'A' && unit <= 'Z') unit += 'a' - 'A';
    out.push_back(unit);
  }
  return out;
}

bool like_match(std::string_view text, std::string_view pattern, bool fold_ascii) {
  const std::vector<char32_t> t = like_units(text, fold_ascii);
  const std::vector<char32_t> p = like_units(pattern, fold_ascii);
  std::size_t ti = 0, pi = 0;
  std::optional<std::size_t> star_p;
  std::size_t star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == U'%') {
      star_p = pi++;
      star_t = ti;
    } else if (pi < p.size() && (p[pi] == U'_' || p[pi] == t[ti])) {
      ++ti;
      ++pi;
    } else if (star_p) {
      pi = *star_p + 1;
      ti = ++star_t;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == U'%') ++pi;
  return pi == p.size();
}

bool compare_strings(std::string_view lhs, const Comparison& c) {
  if (const auto* list = std::get_if<std::vector<std::string>>(&c.value)) {
    const bool found = std::find(list->begin(), list->end(), lhs) != list->end();
    return c.op == "IN" ? found : (c.op == "NOT IN" ? !found : false);
  }
  const auto* rhs = std::get_if<std::string>(&c.value);
  if (rhs == nullptr) return false;
  if (c.op == "=") return lhs == *rhs;
  if (c.op == "!=") return lhs != *rhs;
  if (c.op == "LIKE") return like_match(lhs, *rhs, false);
  if (c.op == "ILIKE") return like_match(lhs, *rhs, true);
  return false;
}

bool compare_number_value(double lhs, const Comparison& c) {
  const auto* rhs = std::get_if<double>(&c.value);
  return rhs != nullptr && compare_numbers(lhs, c.op, *rhs);
}

// MLflow's SQL store filters run_name on the mlflow.runName tag (old runs left runs.name empty).
std::string_view run_name_of(const Run& run) {
  if (const RunTag* tag = run.data.tag("mlflow.runName")) return tag->value;
  return run.info.run_name;
}

bool matches_one(const Run& run, const Comparison& c) {
  switch (c.kind) {
    case EntityKind::metric: {
      const Metric* m = run.data.metric(c.key);
      return m != nullptr && compare_number_value(stored_metric_value(m->value), c);
    }
    case EntityKind::param: {
      const Param* p = run.data.param(c.key);
      return p != nullptr && compare_strings(p->value, c);
    }
    case EntityKind::tag: {
      const RunTag* t = run.data.tag(c.key);
      return t != nullptr && compare_strings(t->value, c);
    }
    case EntityKind::attribute:
      break;
  }
  const RunInfo& info = run.info;
  if (c.key == "start_time") return compare_number_value(static_cast<double>(info.start_time), c);
  if (c.key == "end_time") return info.end_time && compare_number_value(static_cast<double>(*info.end_time), c);
  if (c.key == "run_id") return compare_strings(info.run_id, c);
  if (c.key == "run_name") return compare_strings(run_name_of(run), c);
  if (c.key == "status") return compare_strings(to_string(info.status), c);
  if (c.key == "user_id") return compare_strings(info.user_id, c);
  if (c.key == "artifact_uri") return compare_strings(info.artifact_uri, c);
  fail("Invalid attribute key '" + c.key + "' for a run search. Valid attribute keys are " +
       std::string(kRunAttributes) + ".");
}

bool matches_one(const Experiment& e, const Comparison& c) {
  if (c.kind == EntityKind::tag) {
    const auto it = std::find_if(e.tags.begin(), e.tags.end(), [&](const ExperimentTag& t) { return t.key == c.key; });
    return it != e.tags.end() && compare_strings(it->value, c);
  }
  if (c.kind != EntityKind::attribute) {
    fail("Invalid entity type '" + kind_label(c.kind) + "' for an experiment search: use 'attribute' or 'tag'.");
  }
  if (c.key == "name") return compare_strings(e.name, c);
  if (c.key == "creation_time") return compare_number_value(static_cast<double>(e.creation_time), c);
  if (c.key == "last_update_time") return compare_number_value(static_cast<double>(e.last_update_time), c);
  fail("Invalid attribute key '" + c.key + "' for an experiment search. Valid attribute keys are " +
       std::string(kExperimentAttributes) + ".");
}

// ---- order_by ------------------------------------------------------------------------------------------------

OrderBy parse_order_by_entry(std::string_view text, Target target) {
  Cursor cur(text);
  cur.skip_space();
  if (cur.at_end()) fail("Invalid order_by clause '': give a key such as metrics.loss DESC.");
  const RawIdentifier id = read_identifier(cur);
  cur.skip_space();
  OrderBy ob;
  if (!cur.at_end()) {
    const std::size_t at = cur.pos();
    const std::string direction = upper(cur.read_bare_word(false));
    if (direction == "ASC") {
      ob.ascending = true;
    } else if (direction == "DESC") {
      ob.ascending = false;
    } else {
      fail("Invalid order_by clause '" + detail::display_text(text) + "' " + cur.where(at) +
           ": after the key only ASC or DESC may follow. Quote keys with special characters, e.g. "
           "metrics.`my metric` DESC.");
    }
    cur.skip_space();
    if (!cur.at_end()) {
      fail("Invalid order_by clause '" + detail::display_text(text) + "' " + cur.where(cur.pos()) +
           ": expected '<key> [ASC|DESC]'.");
    }
  }
  const Resolved r = target == Target::runs ? resolve_run_entity(id, true) : resolve_experiment_entity(id);
  ob.kind = r.kind;
  ob.key = r.key;
  if (ob.kind != EntityKind::attribute) {
    if (target == Target::experiments) {
      fail("Invalid order_by entity '" + kind_label(ob.kind) + "' in '" + id.text +
           "': experiments can only be ordered by " + std::string(kExperimentOrderAttributes) + ".");
    }
    return ob;
  }
  if (target == Target::experiments) {
    if (!is_experiment_order_attribute(ob.key)) {
      fail("Invalid order_by key '" + ob.key + "'. Experiments can be ordered by " +
           std::string(kExperimentOrderAttributes) + ".");
    }
    return ob;
  }
  ob.key = canonical_run_attribute(std::move(ob.key), false);
  // Experiment keys are let through here so one parser serves both searches; sort_runs rejects them.
  if (!is_run_numeric_attribute(ob.key) && !is_run_string_attribute(ob.key) && !is_experiment_order_attribute(ob.key)) {
    fail("Invalid order_by attribute key '" + ob.key + "'. Valid keys are " + std::string(kRunAttributes) +
         " (for runs) and " + std::string(kExperimentOrderAttributes) + " (for experiments).");
  }
  return ob;
}

std::vector<OrderBy> parse_order_by_list(const std::vector<std::string>& order_by, Target target) {
  std::vector<OrderBy> out;
  for (const std::string& entry : order_by) {
    OrderBy ob = parse_order_by_entry(entry, target);
    for (const OrderBy& seen : out) {
      if (seen.kind == ob.kind && seen.key == ob.key) {
        fail("order_by contains the field '" + entry + "' twice; list each key once.");
      }
    }
    out.push_back(std::move(ob));
  }
  return out;
}

/// One run's value for one order_by key. rank 0 = has a value, higher ranks sort after it in both directions.
struct SortValue {
  int rank = 0;
  bool numeric = false;
  double number = 0;
  std::string_view text;

  static SortValue absent(int rank) { return {rank, false, 0, {}}; }
  static SortValue of(double number) { return {0, true, number, {}}; }
  static SortValue of(std::string_view text) { return {0, false, 0, text}; }
};

SortValue run_sort_value(const Run& run, const OrderBy& ob) {
  switch (ob.kind) {
    case EntityKind::metric: {
      const Metric* m = run.data.metric(ob.key);
      if (m == nullptr) return SortValue::absent(2);
      if (std::isnan(m->value)) return SortValue::absent(1);
      return SortValue::of(stored_metric_value(m->value));
    }
    case EntityKind::param: {
      const Param* p = run.data.param(ob.key);
      return p == nullptr ? SortValue::absent(1) : SortValue::of(std::string_view(p->value));
    }
    case EntityKind::tag: {
      const RunTag* t = run.data.tag(ob.key);
      return t == nullptr ? SortValue::absent(1) : SortValue::of(std::string_view(t->value));
    }
    case EntityKind::attribute:
      break;
  }
  const RunInfo& info = run.info;
  if (ob.key == "start_time") return SortValue::of(static_cast<double>(info.start_time));
  if (ob.key == "end_time") {
    return info.end_time ? SortValue::of(static_cast<double>(*info.end_time)) : SortValue::absent(1);
  }
  if (ob.key == "run_id") return SortValue::of(std::string_view(info.run_id));
  if (ob.key == "run_name") return SortValue::of(std::string_view(info.run_name));
  if (ob.key == "status") return SortValue::of(std::string_view(to_string(info.status)));
  if (ob.key == "user_id") return SortValue::of(std::string_view(info.user_id));
  if (ob.key == "artifact_uri") return SortValue::of(std::string_view(info.artifact_uri));
  return SortValue::absent(1);
}

int compare_sort_values(const SortValue& a, const SortValue& b, bool ascending) {
  if (a.rank != b.rank) return a.rank < b.rank ? -1 : 1;
  if (a.rank != 0) return 0;
  int c = 0;
  if (a.numeric) {
    c = a.number < b.number ? -1 : (b.number < a.number ? 1 : 0);
  } else {
    const int r = a.text.compare(b.text);
    c = r < 0 ? -1 : (r > 0 ? 1 : 0);
  }
  return ascending ? c : -c;
}

std::optional<long long> as_integer(std::string_view s) {
  long long v = 0;
  const auto result = std::from_chars(s.data(), s.data() + s.size(), v);
  if (result.ec != std::errc() || result.ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

int compare_experiments_by(const Experiment& a, const Experiment& b, const OrderBy& ob) {
  int c = 0;
  if (ob.key == "name") {
    const int r = a.name.compare(b.name);
    c = r < 0 ? -1 : (r > 0 ? 1 : 0);
  } else if (ob.key == "creation_time") {
    c = a.creation_time < b.creation_time ? -1 : (a.creation_time > b.creation_time ? 1 : 0);
  } else if (ob.key == "last_update_time") {
    c = a.last_update_time < b.last_update_time ? -1 : (a.last_update_time > b.last_update_time ? 1 : 0);
  } else if (ob.key == "experiment_id") {
    // Integer ids in MLflow's SQL store; compare as numbers when both are.
    const auto x = as_integer(a.experiment_id);
    const auto y = as_integer(b.experiment_id);
    if (x && y) {
      c = *x < *y ? -1 : (*x > *y ? 1 : 0);
    } else {
      const int r = a.experiment_id.compare(b.experiment_id);
      c = r < 0 ? -1 : (r > 0 ? 1 : 0);
    }
  }
  return ob.ascending ? c : -c;
}

// ---- page tokens ---------------------------------------------------------------------------------------------

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
    i += 3;
  }
  const std::size_t rest = in.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

[[noreturn]] void bad_token(std::string_view token, const std::string& reason) {
  fail("Invalid page token '" + detail::display_text(token, 60) + "': " + reason +
       ". Pass the next_page_token of the previous response unchanged, or no token for the first page.");
}

std::string base64_decode(std::string_view token) {
  if (token.size() % 4 != 0) bad_token(token, "could not base64-decode (length is not a multiple of 4)");
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char c = token[i];
    if (c == '=') {
      ++padding;
      continue;
    }
    const std::size_t index = kBase64Alphabet.find(c);
    if (index == std::string_view::npos || padding > 0) bad_token(token, "could not base64-decode");
    buffer = (buffer << 6) | static_cast<unsigned>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if (padding > 2) bad_token(token, "could not base64-decode");
  return out;
}

/// The "offset" member of a flat JSON object such as {"offset": 25}.
std::int64_t offset_from_json(std::string_view token, std::string_view json) {
  Cursor cur(json);
  const auto expect = [&](char c) {
    cur.skip_space();
    if (cur.peek() != c) bad_token(token, "the decoded value is not the JSON object the store writes");
    cur.advance();
  };
  const auto read_string = [&]() -> std::string {
    cur.skip_space();
    if (cur.peek() != '"') bad_token(token, "the decoded value is not the JSON object the store writes");
    const std::size_t start = cur.pos() + 1;
    cur.advance();
    while (!cur.at_end() && cur.peek() != '"') cur.advance(cur.peek() == '\\' ? 2 : 1);
    if (cur.at_end()) bad_token(token, "the decoded value is not valid JSON");
    std::string s(cur.slice(start, cur.pos()));
    cur.advance();
    return s;
  };
  std::optional<std::string> offset_text;
  expect('{');
  cur.skip_space();
  if (cur.peek() != '}') {
    for (;;) {
      const std::string key = read_string();
      expect(':');
      cur.skip_space();
      std::string value;
      if (cur.peek() == '"') {
        value = read_string();
      } else {
        const std::size_t start = cur.pos();
        while (!cur.at_end() && cur.peek() != ',' && cur.peek() != '}' &&
               !std::isspace(static_cast<unsigned char>(cur.peek()))) {
          cur.advance();
        }
        value = std::string(cur.slice(start, cur.pos()));
      }
      if (key == "offset") offset_text = value;
      cur.skip_space();
      if (cur.peek() == ',') {
        cur.advance();
        continue;
      }
      break;
    }
  }
  expect('}');
  cur.skip_space();
  if (!cur.at_end()) bad_token(token, "the decoded value has trailing data");
  if (!offset_text) bad_token(token, "the decoded value has no offset");
  const auto offset = as_integer(*offset_text);
  if (!offset || *offset < 0)
    bad_token(token, "the offset '" + detail::display_text(*offset_text) +
                         "' is not a "
                         "non-negative integer");
  return *offset;
}

}  // namespace

std::vector<Comparison> parse_run_filter(std::string_view filter) { return parse_filter(filter, Target::runs); }

std::vector<Comparison> parse_experiment_filter(std::string_view filter) {
  return parse_filter(filter, Target::experiments);
}

bool matches(const Run& run, const std::vector<Comparison>& filter) {
  return std::all_of(filter.begin(), filter.end(), [&](const Comparison& c) { return matches_one(run, c); });
}

bool matches(const Experiment& experiment, const std::vector<Comparison>& filter) {
  return std::all_of(filter.begin(), filter.end(), [&](const Comparison& c) { return matches_one(experiment, c); });
}

std::vector<OrderBy> parse_order_by(const std::vector<std::string>& order_by) {
  return parse_order_by_list(order_by, Target::runs);
}

std::vector<OrderBy> parse_experiment_order_by(const std::vector<std::string>& order_by) {
  return parse_order_by_list(order_by, Target::experiments);
}

void sort_runs(std::vector<Run>& runs, const std::vector<OrderBy>& order_by) {
  bool has_start_time = false;
  for (const OrderBy& ob : order_by) {
    if (ob.kind == EntityKind::attribute && !is_run_numeric_attribute(ob.key) && !is_run_string_attribute(ob.key)) {
      fail("Invalid order_by attribute key '" + ob.key + "' for runs. Valid keys are " + std::string(kRunAttributes) +
           ".");
    }
    if (ob.kind == EntityKind::attribute && ob.key == "start_time") has_start_time = true;
  }
  std::stable_sort(runs.begin(), runs.end(), [&](const Run& a, const Run& b) {
    for (const OrderBy& ob : order_by) {
      const int c = compare_sort_values(run_sort_value(a, ob), run_sort_value(b, ob), ob.ascending);
      if (c != 0) return c < 0;
    }
    if (!has_start_time && a.info.start_time != b.info.start_time) return a.info.start_time > b.info.start_time;
    return a.info.run_id < b.info.run_id;
  });
}

void sort_experiments(std::vector<Experiment>& experiments, const std::vector<OrderBy>& order_by) {
  std::vector<OrderBy> clauses = order_by;
  for (const OrderBy& ob : clauses) {
    if (ob.kind != EntityKind::attribute || !is_experiment_order_attribute(ob.key)) {
      fail("Invalid order_by key '" + (ob.kind == EntityKind::attribute ? "" : kind_label(ob.kind) + ".") + ob.key +
           "' for experiments. Experiments can be ordered by " + std::string(kExperimentOrderAttributes) + ".");
    }
  }
  // MLflow's SQL store: creation_time DESC, experiment_id ASC by default; an explicit order gets experiment_id
  // DESC as the tie-breaker unless it orders by experiment_id itself.
  if (clauses.empty()) {
    clauses = {{EntityKind::attribute, "creation_time", false}, {EntityKind::attribute, "experiment_id", true}};
  } else if (std::none_of(clauses.begin(), clauses.end(),
                          [](const OrderBy& ob) { return ob.key == "experiment_id"; })) {
    clauses.push_back({EntityKind::attribute, "experiment_id", false});
  }
  std::stable_sort(experiments.begin(), experiments.end(), [&](const Experiment& a, const Experiment& b) {
    for (const OrderBy& ob : clauses) {
      const int c = compare_experiments_by(a, b, ob);
      if (c != 0) return c < 0;
    }
    return false;
  });
}

std::string encode_page_token(std::int64_t offset) {
  // Byte for byte what MLflow's SQL store emits: base64 of json.dumps({"offset": N}).
  return base64_encode("{\"offset\": " + std::to_string(offset) + "}");
}

std::int64_t decode_page_token(std::string_view token) { return offset_from_json(token, base64_decode(token)); }

}  // namespace mlflow::search
