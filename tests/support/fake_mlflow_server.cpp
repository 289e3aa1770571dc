#include "support/fake_mlflow_server.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "mlflow/error.hpp"
#include "mlflow/validation.hpp"
#include "storage/run_names.hpp"
#include "storage/search.hpp"
#include "storage/utf8.hpp"

namespace mlflow::test {

namespace json = boost::json;

// =================================================================================================================
// Python-style JSON output (json.dumps) and float repr
// =================================================================================================================

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  const bool negative = s[0] == '-';
  if (negative) s.erase(0, 1);
  const auto epos = s.find('e');
  const int exponent = std::stoi(s.substr(epos + 1));
  std::string digits;
  for (char c : s.substr(0, epos)) {
    if (c != '.') digits.push_back(c);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int decpt = exponent + 1;  // value = 0.<digits> * 10^decpt
  const int n = static_cast<int>(digits.size());
  std::string out;
  if (decpt > -4 && decpt <= 16) {  // CPython's float_repr_style 'short' switches to exponents outside this
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= n) {
      out = digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
    }
  } else {
    out = digits.substr(0, 1);
    if (n > 1) out += "." + digits.substr(1);
    const int e = decpt - 1;
    out += e < 0 ? "e-" : "e+";
    std::string es = std::to_string(std::abs(e));
    if (es.size() < 2) es.insert(0, "0");
    out += es;
  }
  return negative ? "-" + out : out;
}

namespace {

void append_hex4(std::string& out, unsigned v) {
  static const char* hex = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(hex[(v >> shift) & 0xF]);
}

// json.dumps(ensure_ascii=True) string escaping.
void dump_string(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            append_hex4(out, c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      continue;
    }
    const std::optional<char32_t> cp = detail::next_code_point(s, i);
    const char32_t v = cp.value_or(0xFFFD);
    if (v >= 0x10000) {
      const char32_t u = v - 0x10000;
      append_hex4(out, 0xD800 + static_cast<unsigned>(u >> 10));
      append_hex4(out, 0xDC00 + static_cast<unsigned>(u & 0x3FF));
    } else {
      append_hex4(out, static_cast<unsigned>(v));
    }
  }
  out.push_back('"');
}

void dump_value(std::string& out, const json::value& v, bool pretty, int depth) {
  const auto newline = [&](int d) {
    out.push_back('\n');
    out.append(static_cast<std::size_t>(2 * d), ' ');
  };
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.get_int64()); break;
    case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case json::kind::double_: {
      const double d = v.get_double();
      // json.dumps writes NaN/Infinity bare; MLflow never does (it sends strings), but keep the behaviour.
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
      else out += python_float_repr(d);
      break;
    }
    case json::kind::string: dump_string(out, v.get_string()); break;
    case json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        break;
      }
      out.push_back('[');
      bool first = true;
      for (const auto& item : a) {
        if (!first) out += pretty ? "," : ", ";
        first = false;
        if (pretty) newline(depth + 1);
        dump_value(out, item, pretty, depth + 1);
      }
      if (pretty) newline(depth);
      out.push_back(']');
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        break;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& kv : o) {
        if (!first) out += pretty ? "," : ", ";
        first = false;
        if (pretty) newline(depth + 1);
        dump_string(out, kv.key());
        out += ": ";
        dump_value(out, kv.value(), pretty, depth + 1);
      }
      if (pretty) newline(depth);
      out.push_back('}');
      break;
    }
  }
}

std::string dumps(const json::value& v, bool pretty) {
  std::string out;
  dump_value(out, v, pretty, 0);
  return out;
}

}  // namespace

std::string python_json_dumps(std::string_view json_text, bool pretty) {
  boost::system::error_code ec;
  const json::value v = json::parse(json_text, ec);
  if (ec) throw std::invalid_argument("python_json_dumps: not JSON: " + ec.message());
  return dumps(v, pretty);
}

namespace {

// =================================================================================================================
// Request JSON with Python's json.loads rules
// =================================================================================================================

// Python's json accepts bare NaN/Infinity/-Infinity; Boost.JSON (1.81) does not. They are rewritten to marker
// strings that no client sends, so that the proto conversion can fail on them as protobuf does.
const std::string kBarePrefix = std::string("\x01") + "bare:";
const std::string kBareNaN = kBarePrefix + "NaN";
const std::string kBareInf = kBarePrefix + "Infinity";
const std::string kBareNegInf = kBarePrefix + "-Infinity";

std::string mark_bare_tokens(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < in.size()) {
        out.push_back(in[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      continue;
    }
    const std::string_view rest = in.substr(i);
    const auto replace = [&](std::string_view token, std::string_view marker_tail) {
      if (rest.substr(0, token.size()) != token) return false;
      out += "\"\\u0001bare:";
      out += marker_tail;
      out += "\"";
      i += token.size() - 1;
      return true;
    };
    if (replace("NaN", "NaN") || replace("Infinity", "Infinity") || replace("-Infinity", "-Infinity")) continue;
    out.push_back(c);
  }
  return out;
}

bool is_bare(const json::value& v) {
  return v.is_string() && v.get_string().size() > kBarePrefix.size() &&
         std::string_view(v.get_string()).substr(0, kBarePrefix.size()) == kBarePrefix;
}

// flask request.get_json(force=True, silent=True): anything unparsable is "no body" ({}); a body that is a JSON
// string holding JSON is decoded again (old clients double-encode).
json::object parse_body(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(mark_bare_tokens(body), ec);
  if (ec) return {};
  if (v.is_string() && !is_bare(v)) {
    const std::string inner(v.get_string());
    v = json::parse(mark_bare_tokens(inner), ec);
    if (ec) return {};
  }
  if (!v.is_object()) return {};
  return std::move(v.get_object());
}

std::string str(const json::value& v) { return std::string(v.get_string()); }

std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Python int(str) for plain decimal text (sign, digits, underscores between digits, surrounding whitespace).
std::optional<std::int64_t> py_int_str(std::string_view s) {
  s = strip(s);
  std::string digits;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      digits.push_back(s[i]);
    } else if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    } else {
      return std::nullopt;
    }
  }
  std::int64_t value = 0;
  if (negative) digits.insert(0, "-");
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Python float(str).
std::optional<double> py_float_str(std::string_view s) {
  s = strip(s);
  std::string t(s);
  bool negative = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    negative = t[0] == '-';
    t.erase(0, 1);
  }
  const std::string l = lower(t);
  if (l == "inf" || l == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (l == "nan") return std::numeric_limits<double>::quiet_NaN();
  std::string cleaned;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '_' && i > 0 && i + 1 < t.size() && std::isdigit(static_cast<unsigned char>(t[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(t[i + 1]))) {
      continue;
    }
    const char c = t[i];
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return std::nullopt;
    }
    cleaned.push_back(c);
  }
  if (cleaned.empty()) return std::nullopt;
  double value = 0;
  const auto r = std::from_chars(cleaned.data(), cleaned.data() + cleaned.size(), value);
  if (r.ec != std::errc() || r.ptr != cleaned.data() + cleaned.size()) return std::nullopt;
  return negative ? -value : value;
}

// ---- Python type checks of MLflow's handler schemas (run on the raw dict) ----

const char* py_type_name(const json::value& v) {
  if (is_bare(v)) return "float";
  switch (v.kind()) {
    case json::kind::null: return "NoneType";
    case json::kind::bool_: return "bool";
    case json::kind::int64:
    case json::kind::uint64: return "int";
    case json::kind::double_: return "float";
    case json::kind::string: return "str";
    case json::kind::array: return "list";
    case json::kind::object: return "dict";
  }
  return "object";
}

std::string py_value_text(const json::value& v) {
  if (is_bare(v)) return std::string(v.get_string()).substr(kBarePrefix.size());
  if (v.is_null()) return "None";
  if (v.is_bool()) return v.get_bool() ? "True" : "False";
  return dumps(v, false);
}

bool py_intlike(const json::value& v) {
  if (v.is_int64() || v.is_uint64() || v.is_bool()) return true;
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_string() && !is_bare(v)) return py_int_str(v.get_string()).has_value();
  return false;
}

bool py_floatlike(const json::value& v) {
  if (is_bare(v) || v.is_int64() || v.is_uint64() || v.is_bool() || v.is_double()) return true;
  if (v.is_string()) return py_float_str(v.get_string()).has_value();
  return false;
}

bool py_required(const json::value* v) {
  return v != nullptr && !v->is_null() && !(v->is_string() && v->get_string().empty());
}

// =================================================================================================================
// Errors
// =================================================================================================================

struct ApiError {
  int status;
  std::string code;
  std::string message;
};

[[noreturn]] void fail(std::string_view code, std::string message) {
  static const std::map<std::string, int, std::less<>> statuses{
      {"INVALID_PARAMETER_VALUE", 400}, {"RESOURCE_ALREADY_EXISTS", 400}, {"BAD_REQUEST", 400},
      {"INTERNAL_ERROR", 500},          {"INVALID_STATE", 500},           {"TEMPORARILY_UNAVAILABLE", 503},
      {"NOT_IMPLEMENTED", 501},         {"RESOURCE_DOES_NOT_EXIST", 404}, {"ENDPOINT_NOT_FOUND", 404},
      {"NOT_FOUND", 404},               {"PERMISSION_DENIED", 403},       {"UNAUTHENTICATED", 401},
      {"RESOURCE_CONFLICT", 409},       {"REQUEST_LIMIT_EXCEEDED", 429},  {"DEADLINE_EXCEEDED", 504},
  };
  const auto it = statuses.find(code);
  throw ApiError{it == statuses.end() ? 500 : it->second, std::string(code), std::move(message)};
}

[[noreturn]] void invalid(std::string message) { fail("INVALID_PARAMETER_VALUE", std::move(message)); }

const char* kApiDocs = " See the API docs for more information about request parameters.";

// =================================================================================================================
// Proto messages: partial ParseDict
// =================================================================================================================

enum class FT { str, id_str, i64, i32, f64, status, view, str_list, id_list, kv_list, metric_list };

struct FieldSpec {
  std::string_view name;
  FT type;
};

const FieldSpec kKvSpec[] = {{"key", FT::str}, {"value", FT::str}};
const FieldSpec kMetricSpec[] = {{"key", FT::str}, {"value", FT::f64}, {"timestamp", FT::i64}, {"step", FT::i64}};

constexpr std::array<std::string_view, 5> kStatusNames{"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
constexpr std::array<std::string_view, 3> kViewNames{"ACTIVE_ONLY", "DELETED_ONLY", "ALL"};

template <std::size_t N>
std::optional<std::int64_t> convert_enum(const json::value& v, const std::array<std::string_view, N>& names) {
  std::optional<std::int64_t> number;
  if (v.is_string() && !is_bare(v)) {
    const std::string_view s = v.get_string();
    for (std::size_t i = 0; i < N; ++i) {
      if (names[i] == s) return static_cast<std::int64_t>(i + 1);
    }
    number = py_int_str(s);
  } else if (v.is_int64()) {
    number = v.get_int64();
  }
  if (number && *number >= 1 && *number <= static_cast<std::int64_t>(N)) return number;
  return std::nullopt;
}

// protobuf json_format's scalar conversions; nullopt = ParseError.
std::optional<json::value> convert_scalar(const json::value& v, FT type) {
  switch (type) {
    case FT::str:
      if (v.is_string() && !is_bare(v)) return v;
      return std::nullopt;
    case FT::id_str:  // MLflow stringifies numeric experiment ids before parsing
      if (v.is_int64()) return json::value(std::to_string(v.get_int64()));
      if (v.is_uint64()) return json::value(std::to_string(v.get_uint64()));
      if (v.is_double()) return json::value(python_float_repr(v.get_double()));
      if (v.is_string() && !is_bare(v)) return v;
      return std::nullopt;
    case FT::i64:
    case FT::i32: {
      std::optional<std::int64_t> out;
      if (v.is_int64()) {
        out = v.get_int64();
      } else if (v.is_double()) {
        const double d = v.get_double();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) out = static_cast<std::int64_t>(d);
      } else if (v.is_string() && !is_bare(v)) {
        if (std::string_view(v.get_string()).find(' ') == std::string_view::npos) out = py_int_str(v.get_string());
      }
      if (out && type == FT::i32 && (*out > std::numeric_limits<std::int32_t>::max() ||
                                     *out < std::numeric_limits<std::int32_t>::min())) {
        out.reset();
      }
      if (!out) return std::nullopt;
      return json::value(*out);
    }
    case FT::f64: {
      if (is_bare(v)) return std::nullopt;  // "use quoted \"NaN\" instead"
      if (v.is_bool()) return json::value(v.get_bool() ? 1.0 : 0.0);
      if (v.is_int64()) return json::value(static_cast<double>(v.get_int64()));
      if (v.is_uint64()) return json::value(static_cast<double>(v.get_uint64()));
      if (v.is_double()) {
        if (!std::isfinite(v.get_double())) return std::nullopt;
        return v;
      }
      if (v.is_string()) {
        if (v.get_string() == "nan") return std::nullopt;  // protobuf rejects exactly this spelling
        const std::optional<double> d = py_float_str(v.get_string());
        if (!d) return std::nullopt;
        return json::value(*d);
      }
      return std::nullopt;
    }
    case FT::status: {
      const auto e = convert_enum(v, kStatusNames);
      if (!e) return std::nullopt;
      return json::value(*e);
    }
    case FT::view: {
      const auto e = convert_enum(v, kViewNames);
      if (!e) return std::nullopt;
      return json::value(*e);
    }
    default:
      return std::nullopt;
  }
}

struct Parsed {
  json::object fields;  // converted values of the fields that were set
  bool ok = true;       // false: ParseDict raised; `fields` holds what was set before it did
};

template <std::size_t N>
Parsed parse_message(const json::object& in, const FieldSpec (&spec)[N]);

Parsed parse_message_dyn(const json::object& in, const FieldSpec* spec, std::size_t n) {
  Parsed out;
  for (const auto& kv : in) {
    const FieldSpec* field = nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      if (spec[i].name == kv.key()) field = &spec[i];
    }
    if (field == nullptr) continue;  // ignore_unknown_fields=True
    const json::value& v = kv.value();
    if (v.is_null()) continue;
    const std::string key(kv.key());
    switch (field->type) {
      case FT::str_list:
      case FT::id_list: {
        if (!v.is_array()) {
          out.ok = false;
          return out;
        }
        json::array items;
        for (const auto& item : v.get_array()) {
          auto c = convert_scalar(item, field->type == FT::id_list ? FT::id_str : FT::str);
          if (!c) {
            out.fields[key] = std::move(items);
            out.ok = false;
            return out;
          }
          items.push_back(std::move(*c));
        }
        out.fields[key] = std::move(items);
        break;
      }
      case FT::kv_list:
      case FT::metric_list: {
        if (!v.is_array()) {
          out.ok = false;
          return out;
        }
        json::array items;
        for (const auto& item : v.get_array()) {
          if (!item.is_object()) {
            out.fields[key] = std::move(items);
            out.ok = false;
            return out;
          }
          Parsed sub = field->type == FT::kv_list ? parse_message(item.get_object(), kKvSpec)
                                                  : parse_message(item.get_object(), kMetricSpec);
          items.push_back(std::move(sub.fields));  // protobuf adds the element before filling it
          if (!sub.ok) {
            out.fields[key] = std::move(items);
            out.ok = false;
            return out;
          }
        }
        out.fields[key] = std::move(items);
        break;
      }
      default: {
        auto c = convert_scalar(v, field->type);
        if (!c) {
          out.ok = false;
          return out;
        }
        out.fields[key] = std::move(*c);
      }
    }
  }
  return out;
}

template <std::size_t N>
Parsed parse_message(const json::object& in, const FieldSpec (&spec)[N]) {
  return parse_message_dyn(in, spec, N);
}

// Accessors on a parsed message with proto2 defaults.
struct Msg {
  json::object f;
  bool has(std::string_view k) const { return f.contains(k); }
  std::string s(std::string_view k) const {
    const auto* v = f.if_contains(k);
    return v ? str(*v) : std::string();
  }
  std::int64_t i(std::string_view k, std::int64_t def = 0) const {
    const auto* v = f.if_contains(k);
    return v ? v->get_int64() : def;
  }
  double d(std::string_view k) const {
    const auto* v = f.if_contains(k);
    return v ? v->get_double() : 0.0;
  }
  const json::array* arr(std::string_view k) const {
    const auto* v = f.if_contains(k);
    return v ? &v->get_array() : nullptr;
  }
  std::vector<std::string> strings(std::string_view k) const {
    std::vector<std::string> out;
    if (const auto* a = arr(k)) {
      for (const auto& x : *a) out.push_back(str(x));
    }
    return out;
  }
  /// run_id, falling back to the deprecated run_uuid.
  std::string run_id() const {
    std::string id = s("run_id");
    return id.empty() ? s("run_uuid") : id;
  }
};

std::string sub_s(const json::value& sub, std::string_view k) {
  const auto* v = sub.get_object().if_contains(k);
  return v ? str(*v) : std::string();
}

// ---- handler schemas ----

enum class V { required, string, intlike, floatlike, array, at_most_50000, metric_fields, param_fields, tag_fields };

struct Rule {
  std::string_view name;
  std::initializer_list<V> checks;
};

bool is_type_check(V v) { return v == V::string || v == V::intlike || v == V::floatlike || v == V::array; }

[[noreturn]] void missing(std::string_view name) {
  invalid("Missing value for required parameter '" + std::string(name) + "'." + kApiDocs);
}

void check_nested(const json::value* v, std::string_view route, bool metrics) {
  if (v == nullptr || !v->is_array()) return;
  const auto& items = v->get_array();
  for (std::size_t idx = 0; idx < items.size(); ++idx) {
    if (!items[idx].is_object()) continue;
    const auto& o = items[idx].get_object();
    const std::string prefix = std::string(route) + "[" + std::to_string(idx) + "].";
    const auto need = [&](std::string_view field) {
      if (!py_required(o.if_contains(field))) missing(prefix + std::string(field));
    };
    need("key");
    if (metrics) {
      need("value");
      need("timestamp");
    }
  }
}

// _get_request_message's schema pass: on the raw dict; type checks only when protobuf parsing failed.
void validate_schema(const json::object& raw, bool parse_ok, std::initializer_list<Rule> rules) {
  for (const Rule& rule : rules) {
    const bool required = std::find(rule.checks.begin(), rule.checks.end(), V::required) != rule.checks.end();
    const json::value* value = raw.if_contains(rule.name);
    if (value == nullptr && !required) continue;
    if (rule.name == "run_id" && value == nullptr) value = raw.if_contains("run_uuid");
    for (V check : rule.checks) {
      if (is_type_check(check) && parse_ok) continue;
      bool good = true;
      switch (check) {
        case V::required: good = py_required(value); break;
        case V::string: good = value && value->is_string() && !is_bare(*value); break;
        case V::intlike: good = value && py_intlike(*value); break;
        case V::floatlike: good = value && py_floatlike(*value); break;
        case V::array: good = value && value->is_array(); break;
        case V::at_most_50000: {
          if (value && py_intlike(*value)) {
            const auto c = convert_scalar(*value, FT::i64);
            good = !c || c->get_int64() <= 50000;
          }
          break;
        }
        case V::metric_fields: check_nested(value, "metrics", true); break;
        case V::param_fields: check_nested(value, "params", false); break;
        case V::tag_fields: check_nested(value, "tags", false); break;
      }
      if (good) continue;
      if (check == V::required) missing(rule.name);
      std::string message = "Invalid value " + (value ? py_value_text(*value) : std::string("None")) +
                            " for parameter '" + std::string(rule.name) + "' supplied: ";
      if (value) message += " Hint: Value was of type '" + std::string(py_type_name(*value)) + "'.";
      invalid(message + kApiDocs);
    }
  }
}

}  // namespace

// =================================================================================================================
// Server state
// =================================================================================================================

namespace fake_detail {

struct MetricRow {
  std::string key;
  double value = 0;  // as stored: NaN -> 0 with is_nan, +/-Inf -> +/-DBL_MAX
  std::int64_t timestamp = 0;
  std::int64_t step = 0;
  bool is_nan = false;

  bool same_row(const MetricRow& o) const {
    return key == o.key && value == o.value && timestamp == o.timestamp && step == o.step && is_nan == o.is_nan;
  }
  Metric entity() const {
    return Metric{key, is_nan ? std::numeric_limits<double>::quiet_NaN() : value, timestamp, step};
  }
};

MetricRow sanitize(std::string key, double value, std::int64_t timestamp, std::int64_t step) {
  MetricRow row{std::move(key), value, timestamp, step, false};
  if (std::isnan(value)) {
    row.value = 0;
    row.is_nan = true;
  } else if (std::isinf(value)) {
    row.value = value > 0 ? std::numeric_limits<double>::max() : -std::numeric_limits<double>::max();
  }
  return row;
}

struct RunRec {
  RunInfo info;
  std::vector<MetricRow> history;  // insertion order, all keys
  // The rows of `history` as the SQL store's primary key sees them, so that a duplicate is found without a scan
  // (a scan made a 200k-point batch take minutes). Values compare with ==, as same_row does (-0.0 == 0.0).
  std::set<std::tuple<std::string, double, std::int64_t, std::int64_t, bool>> history_rows;
  std::vector<MetricRow> latest;   // one per key, in the order keys were first logged
  std::vector<Param> params;
  std::vector<RunTag> tags;
  std::optional<std::int64_t> deleted_time;

  Run entity() const {
    Run run;
    run.info = info;
    for (const auto& m : latest) run.data.metrics.push_back(m.entity());
    run.data.params = params;
    run.data.tags = tags;
    return run;
  }
  void set_tag(const std::string& key, const std::string& value) {
    for (auto& t : tags) {
      if (t.key == key) {
        t.value = value;
        return;
      }
    }
    tags.push_back(RunTag{key, value});
  }
};

}  // namespace fake_detail

using fake_detail::MetricRow;
using fake_detail::RunRec;
using fake_detail::sanitize;

struct FakeMlflowServer::State {
  FakeMlflowOptions options;
  mutable std::mutex mutex;
  std::map<std::int64_t, Experiment> experiments;
  std::map<std::string, RunRec> runs;
  std::vector<std::string> run_order;
  std::map<std::string, std::string> artifacts;
  std::int64_t last_ms = 0;
  std::mt19937_64 rng{std::random_device{}()};

  bool v3() const { return options.flavor == MlflowFlavor::v3_3; }
  bool pretty() const { return options.pretty_json; }

  // Strictly increasing so that creation order is also creation-time order (as with a real, slower server).
  std::int64_t now_ms() {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    last_ms = std::max<std::int64_t>(last_ms + 1, now);
    return last_ms;
  }

  std::string new_run_id() {
    static const char* hex = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 2; ++i) {
      std::uint64_t r = rng();
      for (int j = 0; j < 16; ++j) {
        id.push_back(hex[r & 0xF]);
        r >>= 4;
      }
    }
    return id;
  }

  void reset() {
    experiments.clear();
    runs.clear();
    run_order.clear();
    artifacts.clear();
    Experiment def;
    def.experiment_id = "0";
    def.name = "Default";
    def.artifact_location = append_uri(options.default_artifact_root, "0");
    def.creation_time = def.last_update_time = now_ms();
    experiments[0] = def;
  }

  static std::string append_uri(const std::string& root, const std::string& part) {
    if (root.empty()) return part;
    if (root.back() == '/') return root + part;
    return root + "/" + part;
  }

  // ---- lookups with MLflow's errors ----

  Experiment& experiment_or_404(const std::string& requested) {
    const std::string id = requested.empty() ? "0" : requested;  // _get_experiment: `experiment_id or "0"`
    const std::optional<std::int64_t> n = py_int_str(id);
    if (!n) {
      if (v3()) fail("INTERNAL_ERROR", "invalid literal for int() with base 10: '" + id + "'");
      fail("RESOURCE_DOES_NOT_EXIST", "No Experiment with id=" + id + " exists");
    }
    const auto it = experiments.find(*n);
    if (it == experiments.end()) fail("RESOURCE_DOES_NOT_EXIST", "No Experiment with id=" + id + " exists");
    return it->second;
  }
  Experiment* experiment_named(const std::string& name) {
    for (auto& [id, e] : experiments) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }
  static void check_active(const Experiment& e) {
    if (e.lifecycle_stage != "active") {
      invalid("The experiment " + e.experiment_id + " must be in the 'active' state. Current state is " +
              e.lifecycle_stage + ".");
    }
  }
  RunRec& run_or_404(const std::string& run_id) {
    const auto it = runs.find(run_id);
    if (it == runs.end()) fail("RESOURCE_DOES_NOT_EXIST", "Run with id=" + run_id + " not found");
    return it->second;
  }
  RunRec& active_run(const std::string& run_id) {
    RunRec& run = run_or_404(run_id);
    if (run.info.lifecycle_stage != "active") {
      invalid("The run " + run_id + " must be in the 'active' state. Current state is " + run.info.lifecycle_stage +
              ".");
    }
    return run;
  }

  // ---- validation (mlflow/utils/validation.py) ----

  std::string length_message(std::string_view entity, std::string_view value, std::size_t limit) const {
    if (v3()) return "'" + std::string(entity) + "' exceeds the maximum length of " + std::to_string(limit) + " characters";
    return std::string(entity) + " '" + std::string(value) + "' had length " +
           std::to_string(validation::utf8_length(value)) + ", which exceeded length limit of " + std::to_string(limit);
  }

  static std::string posix_normpath(std::string_view path) {
    if (path.empty()) return ".";
    int slashes = path[0] == '/' ? 1 : 0;
    if (slashes && path.size() > 1 && path[1] == '/' && !(path.size() > 2 && path[2] == '/')) slashes = 2;
    std::vector<std::string> comps;
    std::size_t start = 0;
    while (start <= path.size()) {
      const auto end = std::min(path.find('/', start), path.size());
      const std::string comp(path.substr(start, end - start));
      start = end + 1;
      if (comp.empty() || comp == ".") continue;
      if (comp != ".." || (!slashes && comps.empty()) || (!comps.empty() && comps.back() == "..")) {
        comps.push_back(comp);
      } else if (!comps.empty()) {
        comps.pop_back();
      }
    }
    std::string out(static_cast<std::size_t>(slashes), '/');
    for (std::size_t i = 0; i < comps.size(); ++i) out += (i ? "/" : "") + comps[i];
    return out.empty() ? "." : out;
  }

  void validate_key(std::string_view entity, const std::string& param, const std::string& key) const {
    bool chars_ok = true;
    std::size_t i = 0;
    while (i < key.size()) {
      const auto cp = detail::next_code_point(key, i);
      if (!cp) {
        chars_ok = false;
        break;
      }
      const char32_t c = *cp;
      if (!(detail::is_word_code_point(c) || c == '/' || c == '.' || c == '-' || c == ' ' || c == ':')) {
        chars_ok = false;
        break;
      }
    }
    const std::string quoted = dumps(json::value(key), false);
    if (!chars_ok) {
      invalid("Invalid value " + quoted + " for parameter '" + param +
              "' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces "
              "( ), colon(:) and slashes (/).");
    }
    const std::string norm = posix_normpath(key);
    if (norm != key || norm == "." || norm.rfind("..", 0) == 0 || norm.rfind('/', 0) == 0) {
      invalid("Invalid value " + quoted + " for parameter '" + param +
              "' supplied: Names may be treated as files in certain cases, and must not resolve to other names when "
              "treated as such. This name would resolve to '" +
              norm + "'");
    }
    if (validation::utf8_length(key) > validation::MAX_ENTITY_KEY_LENGTH) {
      invalid(length_message(entity, key, validation::MAX_ENTITY_KEY_LENGTH));
    }
  }

  std::string limit_value(std::string_view entity, const std::string& value, std::size_t limit) const {
    if (validation::utf8_length(value) <= limit) return value;
    if (options.truncate_long_values) return validation::utf8_truncate(value, limit);
    invalid(length_message(entity, value, limit));
  }

  void validate_metric(const MetricRow& m, const std::string& name_param, double raw_value) const {
    validate_key("Metric name", name_param, m.key);
    if (m.timestamp < 0) {
      invalid("Invalid value " + std::to_string(m.timestamp) + " for parameter 'timestamp' supplied: metric '" +
              m.key + "' (value=" + python_float_repr(raw_value) +
              "). Timestamp must be a nonnegative long (64-bit integer) ");
    }
  }

  // ---- mutations ----

  void log_metric_row(RunRec& run, const MetricRow& row) {
    // The 6-column primary key swallows exact duplicates.
    if (!run.history_rows.emplace(row.key, row.value, row.timestamp, row.step, row.is_nan).second) return;
    run.history.push_back(row);
    for (auto& latest : run.latest) {
      if (latest.key != row.key) continue;
      // (step, timestamp, value) compared lexicographically; replaced only by a strictly greater point.
      if (std::tie(row.step, row.timestamp, row.value) > std::tie(latest.step, latest.timestamp, latest.value)) {
        latest = row;
      }
      return;
    }
    run.latest.push_back(row);
  }

  // ---- JSON ----

  static json::object experiment_json(const Experiment& e) {
    json::object o;
    o["experiment_id"] = e.experiment_id;
    o["name"] = e.name;
    o["artifact_location"] = e.artifact_location;
    o["lifecycle_stage"] = e.lifecycle_stage;
    o["last_update_time"] = e.last_update_time;
    o["creation_time"] = e.creation_time;
    if (!e.tags.empty()) {
      json::array tags;
      for (const auto& t : e.tags) tags.push_back(json::object{{"key", t.key}, {"value", t.value}});
      o["tags"] = std::move(tags);
    }
    return o;
  }

  static json::object run_info_json(const RunInfo& info) {
    json::object o;
    o["run_uuid"] = info.run_id;
    o["experiment_id"] = info.experiment_id;
    o["run_name"] = info.run_name;
    o["user_id"] = info.user_id;
    o["status"] = std::string(to_string(info.status));
    o["start_time"] = info.start_time;
    if (info.end_time) o["end_time"] = *info.end_time;
    o["artifact_uri"] = info.artifact_uri;
    o["lifecycle_stage"] = info.lifecycle_stage;
    o["run_id"] = info.run_id;
    return o;
  }

  static json::object metric_json(const MetricRow& m) {
    json::object o;
    o["key"] = m.key;
    if (m.is_nan) {
      o["value"] = "NaN";
    } else {
      o["value"] = m.value;
    }
    o["timestamp"] = m.timestamp;
    o["step"] = m.step;
    return o;
  }

  static json::array kv_json(const auto& items) {
    json::array a;
    for (const auto& kv : items) a.push_back(json::object{{"key", kv.key}, {"value", kv.value}});
    return a;
  }

  enum class RunView { create, get, search };
  json::object run_json(const RunRec& run, RunView view) const {
    json::object o;
    o["info"] = run_info_json(run.info);
    json::object data;
    if (!run.latest.empty()) {
      json::array metrics;
      for (const auto& m : run.latest) metrics.push_back(metric_json(m));
      data["metrics"] = std::move(metrics);
    }
    if (!run.params.empty()) data["params"] = kv_json(run.params);
    if (!run.tags.empty()) data["tags"] = kv_json(run.tags);
    o["data"] = std::move(data);
    if (view != RunView::create || v3()) o["inputs"] = json::object();
    if (view == RunView::get && v3()) o["outputs"] = json::object();
    return o;
  }
};

namespace {

using State = FakeMlflowServer::State;

std::string encode_token(std::int64_t offset) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = "{\"offset\": " + std::to_string(offset) + "}";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
    i += 3;
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::int64_t decode_token(const std::string& token) {
  if (token.empty()) return 0;
  std::string decoded;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : token) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else if (c == '=') break;
    if (v < 0) invalid("Invalid page token, could not base64-decode");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      decoded.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  boost::system::error_code ec;
  const json::value v = json::parse(decoded, ec);
  if (ec || !v.is_object()) invalid("Invalid page token, decoded value=" + decoded);
  const auto* offset = v.get_object().if_contains("offset");
  if (offset == nullptr) invalid("Invalid page token, parsed value=" + decoded);
  const auto c = convert_scalar(*offset, FT::i64);
  if (!c || c->get_int64() < 0) invalid("Invalid page token, not stringable " + dumps(*offset, false));
  return c->get_int64();
}

bool is_text_extension(std::string_view ext) {
  static const std::set<std::string, std::less<>> text{
      "txt", "log", "err",  "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml", "yaml",
      "yml", "xml", "json", "js",  "py",   "py3", "csv", "tsv", "md",        "rst",  "MLmodel", "mlproject"};
  return text.count(ext) > 0;
}

std::string guess_mime(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const auto dot = base.rfind('.');
  const std::string ext = dot == std::string::npos ? base : base.substr(dot + 1);
  if (is_text_extension(ext)) return "text/plain";
  static const std::map<std::string, std::string> types{
      {"png", "image/png"},   {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
      {"svg", "image/svg+xml"}, {"html", "text/html"}, {"htm", "text/html"},   {"pdf", "application/pdf"}};
  const auto it = types.find(lower(ext));
  return it == types.end() ? "application/octet-stream" : it->second;
}

// mlflow.utils.uri.validate_path_is_safe
bool path_is_safe(const std::string& path) {
  if (path.find('#') != std::string::npos || path.find('\\') != std::string::npos) return false;
  if (!path.empty() && path[0] == '/') return false;
  if (path.size() >= 2 && path[1] == ':') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == "..") return false;
    start = end + 1;
  }
  return true;
}

constexpr const char* kHtml404 =
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was "
    "not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";
constexpr const char* kHtml405 =
    "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The "
    "method is not allowed for the requested URL.</p>\n";

std::string base64_decode_plain(std::string_view in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') break;
    else return {};
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

// =================================================================================================================
// The handler
// =================================================================================================================

class Api {
 public:
  Api(State& state, const RecordedRequest& req) : st_(state), req_(req) {}

  Response dispatch();

 private:
  using Endpoint = Response (Api::*)();
  struct Route {
    std::vector<std::string_view> methods;
    Endpoint endpoint;
  };

  Response ok(json::object o) const {
    Response res;
    res.body = dumps(o, st_.pretty());
    return res;
  }
  static Response text(int status, std::string body, std::string content_type = "text/html; charset=utf-8") {
    Response res;
    res.status = status;
    res.body = std::move(body);
    res.content_type = std::move(content_type);
    return res;
  }

  /// _get_request_message: query parameters for a GET with a query string (no schema pass), the JSON body
  /// otherwise (Content-Type checked on POST/PUT, schema pass on the raw dict).
  template <std::size_t N>
  Msg message(const FieldSpec (&spec)[N], std::initializer_list<Rule> rules) {
    const auto q = req_.target.find('?');
    if (req_.method == "GET" && q != std::string::npos && q + 1 < req_.target.size()) {
      json::object raw;
      for (const FieldSpec& field : spec) {
        const auto [begin, end] = req_.query_all.equal_range(std::string(field.name));
        if (begin == end) continue;
        if (field.type == FT::str_list || field.type == FT::id_list) {
          json::array items;
          for (auto it = begin; it != end; ++it) items.push_back(json::value(it->second));
          raw[field.name] = std::move(items);
        } else {
          raw[field.name] = json::value(std::prev(end)->second);
        }
      }
      return Msg{parse_message(raw, spec).fields};
    }
    if (req_.method == "POST" || req_.method == "PUT") {
      const auto it = req_.headers.find("content-type");
      if (it == req_.headers.end()) invalid("Bad Request. Content-Type header is missing.");
      // Flask: content_type.split(";")[0], compared exactly
      if (it->second.substr(0, it->second.find(';')) != "application/json") {
        invalid("Bad Request. Content-Type must be one of ['application/json'].");
      }
    }
    const json::object raw = parse_body(req_.body);
    Parsed parsed = parse_message(raw, spec);
    validate_schema(raw, parsed.ok, rules);
    return Msg{std::move(parsed.fields)};
  }

  // ---- experiments ----
  Response create_experiment();
  Response get_experiment();
  Response get_experiment_by_name();
  Response search_experiments();
  Response update_experiment();
  Response delete_experiment();
  Response restore_experiment();
  Response set_experiment_tag();
  Response delete_experiment_tag();
  // ---- runs ----
  Response create_run();
  Response get_run();
  Response update_run();
  Response delete_run();
  Response restore_run();
  Response search_runs();
  Response log_metric();
  Response log_param();
  Response set_tag();
  Response delete_tag();
  Response log_batch();
  Response log_inputs();
  Response get_metric_history();
  Response list_artifacts_legacy();
  // ---- artifacts proxy ----
  Response artifacts(const std::string& rest);

  State& st_;
  const RecordedRequest& req_;
};

Response Api::dispatch() {
  const std::string& path = req_.path;
  const auto& o = st_.options;

  if (path == "/health") return text(200, "OK");
  if (o.basic_auth || o.bearer_token) {
    const auto it = req_.headers.find("authorization");
    const std::string auth = it == req_.headers.end() ? std::string() : it->second;
    bool good = false;
    if (o.basic_auth && auth.rfind("Basic ", 0) == 0) {
      good = base64_decode_plain(strip(std::string_view(auth).substr(6))) ==
             o.basic_auth->first + ":" + o.basic_auth->second;
    }
    if (!good && o.bearer_token && auth == "Bearer " + *o.bearer_token) good = true;
    if (!good) {
      Response res = text(401,
                          "You are not authenticated. Please see "
                          "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to "
                          "authenticate.");
      res.headers["WWW-Authenticate"] = o.basic_auth ? "Basic realm=\"mlflow\"" : "Bearer realm=\"mlflow\"";
      return res;
    }
  }
  if (path == "/version") return text(200, st_.v3() ? "3.3.2.dev0" : "2.17.2");

  static const std::string kArtifacts = "/api/2.0/mlflow-artifacts/";
  if (path.rfind(kArtifacts, 0) == 0) return artifacts(path.substr(kArtifacts.size()));

  std::string endpoint;
  for (const char* prefix : {"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}) {
    if (path.rfind(prefix, 0) == 0) endpoint = path.substr(std::string_view(prefix).size());
  }
  static const std::map<std::string, Route> routes{
      {"experiments/create", {{"POST"}, &Api::create_experiment}},
      {"experiments/get", {{"GET"}, &Api::get_experiment}},
      {"experiments/get-by-name", {{"GET"}, &Api::get_experiment_by_name}},
      {"experiments/search", {{"POST", "GET"}, &Api::search_experiments}},
      {"experiments/update", {{"POST"}, &Api::update_experiment}},
      {"experiments/delete", {{"POST"}, &Api::delete_experiment}},
      {"experiments/restore", {{"POST"}, &Api::restore_experiment}},
      {"experiments/set-experiment-tag", {{"POST"}, &Api::set_experiment_tag}},
      {"experiments/delete-experiment-tag", {{"POST"}, &Api::delete_experiment_tag}},
      {"runs/create", {{"POST"}, &Api::create_run}},
      {"runs/get", {{"GET"}, &Api::get_run}},
      {"runs/update", {{"POST"}, &Api::update_run}},
      {"runs/delete", {{"POST"}, &Api::delete_run}},
      {"runs/restore", {{"POST"}, &Api::restore_run}},
      {"runs/search", {{"POST"}, &Api::search_runs}},
      {"runs/log-metric", {{"POST"}, &Api::log_metric}},
      {"runs/log-parameter", {{"POST"}, &Api::log_param}},
      {"runs/set-tag", {{"POST"}, &Api::set_tag}},
      {"runs/delete-tag", {{"POST"}, &Api::delete_tag}},
      {"runs/log-batch", {{"POST"}, &Api::log_batch}},
      {"runs/log-inputs", {{"POST"}, &Api::log_inputs}},
      {"metrics/get-history", {{"GET"}, &Api::get_metric_history}},
      {"artifacts/list", {{"GET"}, &Api::list_artifacts_legacy}},
  };
  const auto it = endpoint.empty() ? routes.end() : routes.find(endpoint);
  if (it == routes.end() || (endpoint == "experiments/delete-experiment-tag" && !st_.v3())) {
    return text(404, kHtml404);
  }
  const auto& methods = it->second.methods;
  if (std::find(methods.begin(), methods.end(), req_.method) == methods.end()) {
    Response res = text(405, kHtml405);
    std::string allow;
    std::vector<std::string_view> sorted(methods.begin(), methods.end());
    if (std::find(sorted.begin(), sorted.end(), "GET") != sorted.end()) sorted.push_back("HEAD");
    sorted.push_back("OPTIONS");
    std::sort(sorted.begin(), sorted.end());
    for (const auto m : sorted) allow += (allow.empty() ? "" : ", ") + std::string(m);
    res.headers["Allow"] = allow;
    return res;
  }
  return (this->*(it->second.endpoint))();
}

// ---- experiments -------------------------------------------------------------------------------------------------

Response Api::create_experiment() {
  static const FieldSpec spec[] = {{"name", FT::str}, {"artifact_location", FT::str}, {"tags", FT::kv_list}};
  const Msg m = message(spec, {{"name", {V::required, V::string}},
                               {"artifact_location", {V::string}},
                               {"tags", {V::array}}});
  const std::string name = m.s("name");
  const std::string location = m.s("artifact_location");
  if (location.find('#') != std::string::npos || location.find(';') != std::string::npos) {
    invalid("'artifact_location' URL can't include fragments or params.");
  }
  if (validation::utf8_length(name) > validation::MAX_EXPERIMENT_NAME_LENGTH) {
    invalid("'name' exceeds the maximum length of 500 characters");
  }
  std::vector<ExperimentTag> tags;
  if (const auto* a = m.arr("tags")) {
    for (const auto& t : *a) tags.push_back(ExperimentTag{sub_s(t, "key"), sub_s(t, "value")});
  }
  const std::int64_t now = st_.now_ms();
  if (st_.experiment_named(name) != nullptr) {
    fail("RESOURCE_ALREADY_EXISTS",
         "Experiment(name=" + name +
             ") already exists. Error: (raised as a result of Query-invoked autoflush; consider using a "
             "session.no_autoflush block if this flush is occurring prematurely)\n(sqlite3.IntegrityError) UNIQUE "
             "constraint failed: experiments.name\n[SQL: INSERT INTO experiments (name, artifact_location, "
             "lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?)]\n[parameters: ('" +
             name + "', '" + location + "', 'active', " + std::to_string(now) + ", " + std::to_string(now) +
             ")]\n(Background on this error at: https://sqlalche.me/e/14/gkpj)");
  }
  for (const auto& t : tags) {
    st_.validate_key("Tag key", "key", t.key);
    if (validation::utf8_length(t.value) > validation::MAX_EXPERIMENT_TAG_VAL_LENGTH) {
      invalid(st_.length_message(st_.v3() ? "value" : "Tag value", t.value, validation::MAX_EXPERIMENT_TAG_VAL_LENGTH));
    }
  }
  const std::int64_t id = st_.experiments.empty() ? 0 : st_.experiments.rbegin()->first + 1;
  Experiment e;
  e.experiment_id = std::to_string(id);
  e.name = name;
  e.artifact_location = location.empty() ? State::append_uri(st_.options.default_artifact_root, e.experiment_id)
                                         : location;
  e.creation_time = e.last_update_time = now;
  for (const auto& t : tags) {
    auto existing = std::find_if(e.tags.begin(), e.tags.end(), [&](const auto& x) { return x.key == t.key; });
    if (existing != e.tags.end()) {
      existing->value = t.value;
    } else {
      e.tags.push_back(t);
    }
  }
  st_.experiments[id] = e;
  return ok(json::object{{"experiment_id", e.experiment_id}});
}

Response Api::get_experiment() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str}};
  const Msg m = message(spec, {{"experiment_id", {V::required, V::string}}});
  const Experiment& e = st_.experiment_or_404(m.s("experiment_id"));
  return ok(json::object{{"experiment", State::experiment_json(e)}});
}

Response Api::get_experiment_by_name() {
  static const FieldSpec spec[] = {{"experiment_name", FT::str}};
  const Msg m = message(spec, {{"experiment_name", {V::required, V::string}}});
  const std::string name = m.s("experiment_name");
  const Experiment* e = st_.experiment_named(name);
  if (e == nullptr) fail("RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name '" + name + "'");
  return ok(json::object{{"experiment", State::experiment_json(*e)}});
}

Response Api::search_experiments() {
  static const FieldSpec spec[] = {{"max_results", FT::i64},
                                   {"page_token", FT::str},
                                   {"filter", FT::str},
                                   {"order_by", FT::str_list},
                                   {"view_type", FT::view}};
  const Msg m = message(spec, {{"view_type", {V::intlike}},
                               {"max_results", {V::intlike}},
                               {"order_by", {V::array}},
                               {"filter", {V::string}},
                               {"page_token", {V::string}}});
  const std::int64_t max_results = m.i("max_results");
  if (max_results < 1) {
    invalid("Invalid value " + std::to_string(max_results) +
            " for parameter 'max_results' supplied. It must be a positive integer");
  }
  if (max_results > 50000) {
    invalid("Invalid value " + std::to_string(max_results) +
            " for parameter 'max_results' supplied. It must be at most 50000");
  }
  const std::int64_t view = m.i("view_type", 1);
  std::vector<Experiment> found;
  std::vector<search::Comparison> filter;
  try {
    filter = search::parse_experiment_filter(m.s("filter"));
  } catch (const MlflowError& e) {
    invalid(e.message());
  }
  for (const auto& [id, e] : st_.experiments) {
    const bool active = e.lifecycle_stage == "active";
    if ((view == 1 && !active) || (view == 2 && active)) continue;
    if (!filter.empty() && !search::matches(e, filter)) continue;
    found.push_back(e);
  }
  const std::vector<std::string> order_by = m.strings("order_by");
  if (order_by.empty()) {
    std::stable_sort(found.begin(), found.end(), [](const Experiment& a, const Experiment& b) {
      if (a.creation_time != b.creation_time) return a.creation_time > b.creation_time;
      return std::stoll(a.experiment_id) < std::stoll(b.experiment_id);
    });
  } else {
    try {
      search::sort_experiments(found, search::parse_order_by(order_by));
    } catch (const MlflowError& e) {
      invalid(e.message());
    }
  }
  const std::int64_t offset = decode_token(m.s("page_token"));
  json::object out;
  json::array page;
  const auto n = static_cast<std::int64_t>(found.size());
  for (std::int64_t i = offset; i < std::min(n, offset + max_results); ++i) {
    page.push_back(State::experiment_json(found[static_cast<std::size_t>(i)]));
  }
  if (!page.empty()) out["experiments"] = std::move(page);
  if (offset + max_results < n) out["next_page_token"] = encode_token(offset + max_results);  // LIMIT n+1
  return ok(std::move(out));
}

Response Api::update_experiment() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str}, {"new_name", FT::str}};
  const Msg m = message(spec, {{"experiment_id", {V::required, V::string}}, {"new_name", {V::string, V::required}}});
  Experiment& e = st_.experiment_or_404(m.s("experiment_id"));
  if (e.lifecycle_stage != "active") fail("INVALID_STATE", "Cannot rename a non-active experiment.");
  const std::string new_name = m.s("new_name");
  if (validation::utf8_length(new_name) > validation::MAX_EXPERIMENT_NAME_LENGTH) {
    invalid("'name' exceeds the maximum length of 500 characters");
  }
  const std::int64_t now = st_.now_ms();
  const Experiment* other = st_.experiment_named(new_name);
  if (other != nullptr && other != &e) {
    fail("BAD_REQUEST",
         "(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name\n[SQL: UPDATE experiments SET name=?, "
         "last_update_time=? WHERE experiments.experiment_id = ?]\n[parameters: ('" +
             new_name + "', " + std::to_string(now) + ", " + e.experiment_id +
             ")]\n(Background on this error at: https://sqlalche.me/e/14/gkpj)");
  }
  e.name = new_name;
  e.last_update_time = now;
  return ok({});
}

Response Api::delete_experiment() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str}};
  const Msg m = message(spec, {{"experiment_id", {V::required, V::string}}});
  Experiment& e = st_.experiment_or_404(m.s("experiment_id"));
  if (e.lifecycle_stage != "active") {
    fail("RESOURCE_DOES_NOT_EXIST", "No Experiment with id=" + e.experiment_id + " exists");
  }
  const std::int64_t now = st_.now_ms();
  e.lifecycle_stage = "deleted";
  e.last_update_time = now;
  for (auto& [id, run] : st_.runs) {
    if (run.info.experiment_id != e.experiment_id) continue;
    run.info.lifecycle_stage = "deleted";
    run.deleted_time = now;
  }
  return ok({});
}

Response Api::restore_experiment() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str}};
  const Msg m = message(spec, {{"experiment_id", {V::required, V::string}}});
  Experiment& e = st_.experiment_or_404(m.s("experiment_id"));
  if (e.lifecycle_stage != "deleted") {
    fail("RESOURCE_DOES_NOT_EXIST", "No Experiment with id=" + e.experiment_id + " exists");
  }
  e.lifecycle_stage = "active";
  e.last_update_time = st_.now_ms();
  for (auto& [id, run] : st_.runs) {
    if (run.info.experiment_id != e.experiment_id) continue;
    run.info.lifecycle_stage = "active";  // all of them, even runs deleted one by one before
    run.deleted_time.reset();
  }
  return ok({});
}

Response Api::set_experiment_tag() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str}, {"key", FT::str}, {"value", FT::str}};
  const Msg m = message(spec, {{"experiment_id", {V::required, V::string}},
                               {"key", {V::required, V::string}},
                               {"value", {V::string}}});
  const std::string key = m.s("key");
  const std::string value = m.s("value");
  st_.validate_key("Tag key", "key", key);
  if (validation::utf8_length(value) > validation::MAX_EXPERIMENT_TAG_VAL_LENGTH) {
    invalid(st_.length_message(st_.v3() ? "value" : "Tag value", value, validation::MAX_EXPERIMENT_TAG_VAL_LENGTH));
  }
  Experiment& e = st_.experiment_or_404(m.s("experiment_id"));
  State::check_active(e);
  for (auto& t : e.tags) {
    if (t.key == key) {
      t.value = value;
      return ok({});
    }
  }
  e.tags.push_back(ExperimentTag{key, value});
  return ok({});
}

Response Api::delete_experiment_tag() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str}, {"key", FT::str}};
  const Msg m = message(spec, {{"experiment_id", {V::required, V::string}}, {"key", {V::required, V::string}}});
  Experiment& e = st_.experiment_or_404(m.s("experiment_id"));
  State::check_active(e);
  const std::string key = m.s("key");
  const auto it = std::find_if(e.tags.begin(), e.tags.end(), [&](const auto& t) { return t.key == key; });
  if (it == e.tags.end()) {
    fail("RESOURCE_DOES_NOT_EXIST", "No tag with name: " + key + " in experiment with id " + e.experiment_id);
  }
  e.tags.erase(it);
  return ok({});
}

// ---- runs --------------------------------------------------------------------------------------------------------

Response Api::create_run() {
  static const FieldSpec spec[] = {{"experiment_id", FT::id_str},
                                   {"user_id", FT::str},
                                   {"run_name", FT::str},
                                   {"start_time", FT::i64},
                                   {"tags", FT::kv_list}};
  const Msg m = message(spec, {{"experiment_id", {V::string}},
                               {"user_id", {V::string}},
                               {"start_time", {V::intlike}},
                               {"tags", {V::array}},
                               {"run_name", {V::string}}});
  const std::string requested_experiment = m.s("experiment_id");
  const Experiment& e = st_.experiment_or_404(requested_experiment);
  State::check_active(e);
  std::vector<RunTag> tags;
  if (const auto* a = m.arr("tags")) {
    for (const auto& t : *a) tags.push_back(RunTag{sub_s(t, "key"), sub_s(t, "value")});
  }
  std::string run_name_tag;
  for (const auto& t : tags) {
    if (t.key == "mlflow.runName") run_name_tag = t.value;
  }
  std::string run_name = m.s("run_name");
  if (!run_name.empty() && !run_name_tag.empty() && run_name != run_name_tag) {
    invalid("Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='" +
            run_name + "', mlflow.runName='" + run_name_tag + "').");
  }
  if (run_name.empty()) run_name = run_name_tag;
  if (run_name.empty()) run_name = detail::generate_run_name();
  if (run_name_tag.empty()) tags.push_back(RunTag{"mlflow.runName", run_name});

  RunRec run;
  run.info.run_id = st_.new_run_id();
  run.info.run_name = run_name;
  run.info.experiment_id = e.experiment_id;
  run.info.user_id = m.s("user_id");
  run.info.status = RunStatus::RUNNING;
  run.info.start_time = m.i("start_time");
  run.info.artifact_uri = State::append_uri(State::append_uri(e.artifact_location, run.info.run_id), "artifacts");
  run.info.lifecycle_stage = "active";
  if (requested_experiment.empty()) {  // looked up as "0" but inserted as "" (the real server's FK failure)
    fail("BAD_REQUEST",
         "(sqlite3.IntegrityError) FOREIGN KEY constraint failed\n[SQL: INSERT INTO runs (run_uuid, name, "
         "source_type, source_name, entry_point_name, user_id, status, start_time, end_time, deleted_time, "
         "source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
         "?, ?)]\n[parameters: ('" +
             run.info.run_id + "', '" + run_name + "', 'UNKNOWN', '', '', '" + run.info.user_id + "', 'RUNNING', " +
             std::to_string(run.info.start_time) + ", None, None, '', 'active', '" + run.info.artifact_uri +
             "', '')]\n(Background on this error at: https://sqlalche.me/e/14/gkpj)");
  }
  for (const auto& t : tags) {
    const auto dup = std::count_if(tags.begin(), tags.end(), [&](const RunTag& x) { return x.key == t.key; });
    if (dup > 1) {
      fail("BAD_REQUEST", "(sqlite3.IntegrityError) UNIQUE constraint failed: tags.key, tags.run_uuid");
    }
  }
  run.tags = tags;  // not validated by the SQL store's create_run
  const std::string id = run.info.run_id;
  st_.runs[id] = std::move(run);
  st_.run_order.push_back(id);
  return ok(json::object{{"run", st_.run_json(st_.runs[id], State::RunView::create)}});
}

Response Api::get_run() {
  static const FieldSpec spec[] = {{"run_id", FT::str}, {"run_uuid", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}}});
  const RunRec& run = st_.run_or_404(m.run_id());
  return ok(json::object{{"run", st_.run_json(run, State::RunView::get)}});
}

Response Api::update_run() {
  static const FieldSpec spec[] = {{"run_id", FT::str},
                                   {"run_uuid", FT::str},
                                   {"status", FT::status},
                                   {"end_time", FT::i64},
                                   {"run_name", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}},
                               {"end_time", {V::intlike}},
                               {"status", {V::string}},
                               {"run_name", {V::string}}});
  RunRec& run = st_.active_run(m.run_id());
  if (m.has("status")) run.info.status = static_cast<RunStatus>(m.i("status"));
  if (m.has("end_time")) run.info.end_time = m.i("end_time");
  const std::string name = m.s("run_name");
  if (!name.empty()) {
    run.info.run_name = name;
    run.set_tag("mlflow.runName", name);
  }
  return ok(json::object{{"run_info", State::run_info_json(run.info)}});
}

Response Api::delete_run() {
  static const FieldSpec spec[] = {{"run_id", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}}});
  RunRec& run = st_.run_or_404(m.s("run_id"));
  run.info.lifecycle_stage = "deleted";
  run.deleted_time = st_.now_ms();
  return ok({});
}

Response Api::restore_run() {
  static const FieldSpec spec[] = {{"run_id", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}}});
  RunRec& run = st_.run_or_404(m.s("run_id"));
  run.info.lifecycle_stage = "active";
  run.deleted_time.reset();
  return ok({});
}

Response Api::search_runs() {
  static const FieldSpec spec[] = {{"experiment_ids", FT::id_list}, {"filter", FT::str},   {"run_view_type", FT::view},
                                   {"max_results", FT::i32},        {"order_by", FT::str_list}, {"page_token", FT::str}};
  const Msg m = message(spec, {{"experiment_ids", {V::array}},
                               {"filter", {V::string}},
                               {"max_results", {V::intlike, V::at_most_50000}},
                               {"order_by", {V::array}},
                               {"page_token", {V::string}}});
  const std::int64_t max_results = m.i("max_results", 1000);
  if (max_results > 50000) {
    invalid("Invalid value " + std::to_string(max_results) + " for parameter 'max_results' supplied.");
  }
  const std::int64_t view = m.i("run_view_type", 1);
  const std::vector<std::string> experiment_ids = m.strings("experiment_ids");
  std::vector<search::Comparison> filter;
  std::vector<search::OrderBy> order_by;
  try {
    filter = search::parse_run_filter(m.s("filter"));
    order_by = search::parse_order_by(m.strings("order_by"));
  } catch (const MlflowError& e) {
    invalid(e.message());
  }
  std::vector<Run> found;
  for (const auto& id : st_.run_order) {
    const RunRec& rec = st_.runs.at(id);
    if (std::find(experiment_ids.begin(), experiment_ids.end(), rec.info.experiment_id) == experiment_ids.end()) {
      continue;
    }
    const bool active = rec.info.lifecycle_stage == "active";
    if ((view == 1 && !active) || (view == 2 && active)) continue;
    Run run = rec.entity();
    if (!filter.empty() && !search::matches(run, filter)) continue;
    found.push_back(std::move(run));
  }
  search::sort_runs(found, order_by);
  const std::int64_t offset = decode_token(m.s("page_token"));
  json::array page;
  const auto n = static_cast<std::int64_t>(found.size());
  for (std::int64_t i = offset; i < std::min(n, offset + max_results); ++i) {
    page.push_back(st_.run_json(st_.runs.at(found[static_cast<std::size_t>(i)].info.run_id), State::RunView::search));
  }
  json::object out;
  // The SQL store hands out a token whenever the page is full, even when nothing follows.
  const bool full = static_cast<std::int64_t>(page.size()) == max_results;
  if (!page.empty()) out["runs"] = std::move(page);
  if (full) out["next_page_token"] = encode_token(offset + max_results);
  return ok(std::move(out));
}

Response Api::log_metric() {
  static const FieldSpec spec[] = {{"run_id", FT::str},    {"run_uuid", FT::str},     {"key", FT::str},
                                   {"value", FT::f64},     {"timestamp", FT::i64},    {"step", FT::i64},
                                   {"model_id", FT::str},  {"dataset_name", FT::str}, {"dataset_digest", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}},
                               {"key", {V::required, V::string}},
                               {"value", {V::required, V::floatlike}},
                               {"timestamp", {V::required, V::intlike}},
                               {"step", {V::intlike}}});
  const double value = m.d("value");
  const MetricRow row = sanitize(m.s("key"), value, m.i("timestamp"), m.i("step"));
  st_.validate_metric(row, "name", value);
  RunRec& run = st_.active_run(m.run_id());
  st_.log_metric_row(run, row);
  return ok({});
}

Response Api::log_param() {
  static const FieldSpec spec[] = {{"run_id", FT::str}, {"run_uuid", FT::str}, {"key", FT::str}, {"value", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}},
                               {"key", {V::required, V::string}},
                               {"value", {V::string}}});
  const std::string key = m.s("key");
  st_.validate_key("Param key", "key", key);
  const std::string value = st_.limit_value("Param value", m.s("value"), validation::MAX_PARAM_VAL_LENGTH);
  const std::string run_id = m.run_id();
  RunRec& run = st_.active_run(run_id);
  for (const auto& p : run.params) {
    if (p.key != key) continue;
    if (p.value == value) return ok({});
    invalid("Changing param values is not allowed. Param with key='" + key + "' was already logged with value='" +
            p.value + "' for run ID='" + run_id + "'. Attempted logging new value '" + value + "'.");
  }
  run.params.push_back(Param{key, value});
  return ok({});
}

Response Api::set_tag() {
  static const FieldSpec spec[] = {{"run_id", FT::str}, {"run_uuid", FT::str}, {"key", FT::str}, {"value", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}},
                               {"key", {V::required, V::string}},
                               {"value", {V::string}}});
  const std::string key = m.s("key");
  st_.validate_key("Tag key", "key", key);
  const std::string value = st_.limit_value("Tag value", m.s("value"), validation::MAX_TAG_VAL_LENGTH);
  RunRec& run = st_.active_run(m.run_id());
  run.set_tag(key, value);
  if (key == "mlflow.runName") run.info.run_name = value;
  return ok({});
}

Response Api::delete_tag() {
  static const FieldSpec spec[] = {{"run_id", FT::str}, {"key", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}}, {"key", {V::required, V::string}}});
  const std::string run_id = m.s("run_id");
  const std::string key = m.s("key");
  RunRec& run = st_.active_run(run_id);
  const auto it = std::find_if(run.tags.begin(), run.tags.end(), [&](const RunTag& t) { return t.key == key; });
  if (it == run.tags.end()) {
    fail("RESOURCE_DOES_NOT_EXIST", "No tag with name: " + key + " in run with id " + run_id);
  }
  run.tags.erase(it);
  return ok({});
}

Response Api::log_batch() {
  static const FieldSpec spec[] = {
      {"run_id", FT::str}, {"metrics", FT::metric_list}, {"params", FT::kv_list}, {"tags", FT::kv_list}};
  const Msg m = message(spec, {{"run_id", {V::string, V::required}},
                               {"metrics", {V::array, V::metric_fields}},
                               {"params", {V::array, V::param_fields}},
                               {"tags", {V::array, V::tag_fields}}});
  const std::string run_id = m.s("run_id");
  static const json::array kEmpty;
  const json::array& metrics = m.arr("metrics") ? *m.arr("metrics") : kEmpty;
  const json::array& params = m.arr("params") ? *m.arr("params") : kEmpty;
  const json::array& tags = m.arr("tags") ? *m.arr("tags") : kEmpty;

  // run id format (mlflow.utils.validation._validate_run_id)
  bool id_ok = !run_id.empty() && run_id.size() <= 256 && std::isalnum(static_cast<unsigned char>(run_id[0]));
  for (char c : run_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) id_ok = false;
  }
  if (!id_ok) invalid("Invalid value " + dumps(json::value(run_id), false) + " for parameter 'run_id' supplied.");

  if (params.size() > validation::MAX_PARAMS_TAGS_PER_BATCH) {
    invalid("A batch logging request can contain at most 100 params. Got " + std::to_string(params.size()) +
            " params. Please split up params across multiple requests and try again.");
  }
  if (tags.size() > validation::MAX_PARAMS_TAGS_PER_BATCH) {
    invalid("A batch logging request can contain at most 100 tags. Got " + std::to_string(tags.size()) +
            " tags. Please split up tags across multiple requests and try again.");
  }
  if (metrics.size() > validation::MAX_METRICS_PER_BATCH) {
    invalid("A batch logging request can contain at most 1000 metrics. Got " + std::to_string(metrics.size()) +
            " metrics. Please split up metrics across multiple requests and try again.");
  }
  const std::size_t total = metrics.size() + params.size() + tags.size();
  if (total > validation::MAX_ENTITIES_PER_BATCH) {
    invalid("A batch logging request can contain at most 1000 metrics, params, and tags. Got " +
            std::to_string(total) +
            " metrics, params, and tags. Please split up metrics, params, and tags across multiple requests and try "
            "again.");
  }

  std::vector<MetricRow> rows;
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    const auto& o = metrics[i].get_object();
    const double value = o.contains("value") ? o.at("value").get_double() : 0.0;
    MetricRow row = sanitize(sub_s(metrics[i], "key"), value,
                             o.contains("timestamp") ? o.at("timestamp").get_int64() : 0,
                             o.contains("step") ? o.at("step").get_int64() : 0);
    st_.validate_metric(row, "metrics[" + std::to_string(i) + "].key", value);
    rows.push_back(std::move(row));
  }
  std::vector<Param> new_params;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string key = sub_s(params[i], "key");
    st_.validate_key("Param key", "params[" + std::to_string(i) + "].key", key);
    new_params.push_back(
        Param{key, st_.limit_value("Param value", sub_s(params[i], "value"), validation::MAX_PARAM_VAL_LENGTH)});
  }
  std::vector<RunTag> new_tags;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const std::string key = sub_s(tags[i], "key");
    st_.validate_key("Tag key", "tags[" + std::to_string(i) + "].key", key);
    new_tags.push_back(
        RunTag{key, st_.limit_value("Tag value", sub_s(tags[i], "value"), validation::MAX_TAG_VAL_LENGTH)});
  }
  std::vector<std::string> duplicates;
  for (std::size_t i = 0; i < new_params.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (new_params[j].key == new_params[i].key &&
          std::find(duplicates.begin(), duplicates.end(), new_params[i].key) == duplicates.end()) {
        duplicates.push_back(new_params[i].key);
      }
    }
  }
  if (!duplicates.empty()) {
    std::string list;
    for (const auto& d : duplicates) list += (list.empty() ? "'" : ", '") + d + "'";
    invalid("Duplicate parameter keys have been submitted: [" + list +
            "]. Please ensure the request contains only one param value per param key.");
  }

  RunRec& run = st_.active_run(run_id);
  std::string changed;
  for (const auto& p : new_params) {
    for (const auto& existing : run.params) {
      if (existing.key == p.key && existing.value != p.value) {
        changed += std::string(changed.empty() ? "" : ", ") + "{'key': '" + p.key + "', 'old_value': '" +
                   existing.value + "', 'new_value': '" + p.value + "'}";
      }
    }
  }
  if (!changed.empty()) {
    invalid("Changing param values is not allowed. Params were already logged='[" + changed + "]' for run ID='" +
            run_id + "'.");
  }
  for (const auto& p : new_params) {
    const bool exists = std::any_of(run.params.begin(), run.params.end(), [&](const Param& x) { return x.key == p.key; });
    if (!exists) run.params.push_back(p);
  }
  for (const auto& row : rows) st_.log_metric_row(run, row);
  for (const auto& t : new_tags) {
    run.set_tag(t.key, t.value);
    if (t.key == "mlflow.runName") run.info.run_name = t.value;
  }
  return ok({});
}

Response Api::log_inputs() {
  static const FieldSpec spec[] = {{"run_id", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::required, V::string}}});
  st_.active_run(m.s("run_id"));
  return ok({});  // datasets are accepted and not kept: no client of this project logs them yet
}

Response Api::get_metric_history() {
  static const FieldSpec spec[] = {{"run_id", FT::str},
                                   {"run_uuid", FT::str},
                                   {"metric_key", FT::str},
                                   {"page_token", FT::str},
                                   {"max_results", FT::i32}};
  const Msg m = message(spec, {{"run_id", {V::string, V::required}},
                               {"metric_key", {V::string, V::required}},
                               {"page_token", {V::string}},
                               {"max_results", {V::intlike}}});
  const RunRec& run = st_.run_or_404(m.run_id());
  const std::string key = m.s("metric_key");
  std::vector<MetricRow> points;
  for (const auto& row : run.history) {
    if (row.key == key) points.push_back(row);
  }
  // The SQL store reads the points through the metrics primary-key index: (timestamp, step, value) order.
  std::stable_sort(points.begin(), points.end(), [](const MetricRow& a, const MetricRow& b) {
    return std::tie(a.timestamp, a.step, a.value, a.is_nan) < std::tie(b.timestamp, b.step, b.value, b.is_nan);
  });
  json::object out;
  const bool paginate = st_.options.paginate_history.value_or(st_.v3());
  std::size_t begin = 0;
  std::size_t end = points.size();
  if (paginate) {
    std::int64_t max_results = m.i("max_results");
    if (!m.has("max_results") && !st_.options.history_missing_max_results_loops) max_results = 25000;
    const auto offset = static_cast<std::size_t>(decode_token(m.s("page_token")));
    begin = std::min(offset, points.size());
    // LIMIT max_results + 1: one row more than asked means another page follows.
    end = std::min(points.size(), begin + static_cast<std::size_t>(std::max<std::int64_t>(max_results, 0)) + 1);
    if (end - begin > static_cast<std::size_t>(max_results)) {
      end = begin + static_cast<std::size_t>(max_results);
      out["next_page_token"] = encode_token(static_cast<std::int64_t>(end));
    }
  }
  json::array metrics;
  for (std::size_t i = begin; i < end; ++i) metrics.push_back(State::metric_json(points[i]));
  json::object result;
  if (!metrics.empty()) result["metrics"] = std::move(metrics);
  if (out.contains("next_page_token")) result["next_page_token"] = out["next_page_token"];
  return ok(std::move(result));
}

Response Api::list_artifacts_legacy() {
  static const FieldSpec spec[] = {{"run_id", FT::str}, {"run_uuid", FT::str}, {"path", FT::str}, {"page_token", FT::str}};
  const Msg m = message(spec, {{"run_id", {V::string, V::required}}, {"path", {V::string}}, {"page_token", {V::string}}});
  const RunRec& run = st_.run_or_404(m.run_id());
  const std::string rel = m.s("path");
  if (!rel.empty() && !path_is_safe(rel)) invalid("Invalid path");
  json::object out;
  out["root_uri"] = run.info.artifact_uri;
  const std::string scheme = "mlflow-artifacts:";
  if (run.info.artifact_uri.rfind(scheme, 0) != 0) return ok(std::move(out));
  std::string root = run.info.artifact_uri.substr(scheme.size());
  while (!root.empty() && root[0] == '/') root.erase(0, 1);
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  std::map<std::string, std::optional<std::int64_t>> entries;  // name -> size (nullopt: a directory)
  for (const auto& [path, bytes] : st_.artifacts) {
    if (path.rfind(dir + "/", 0) != 0) continue;
    const std::string tail = path.substr(dir.size() + 1);
    const auto slash = tail.find('/');
    if (slash == std::string::npos) {
      entries[tail] = static_cast<std::int64_t>(bytes.size());
    } else {
      entries[tail.substr(0, slash)] = std::nullopt;
    }
  }
  json::array files;
  for (const auto& [name, size] : entries) {
    json::object f;
    f["path"] = rel.empty() ? name : rel + "/" + name;
    f["is_dir"] = !size.has_value();
    if (size) f["file_size"] = *size;
    files.push_back(std::move(f));
  }
  if (!files.empty()) out["files"] = std::move(files);
  return ok(std::move(out));
}

Response Api::artifacts(const std::string& rest) {
  if (!st_.options.serve_artifacts) {
    return text(503,
                "Endpoint: " + req_.path +
                    " disabled due to the mlflow server running with `--no-serve-artifacts`. To enable artifacts "
                    "server functionality, run `mlflow server` with `--serve-artifacts`");
  }
  const std::string artifacts_prefix = "artifacts";
  if (rest.rfind("mpu/", 0) == 0) {
    if (req_.method != "POST") return text(405, kHtml405);
    fail("NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository");
  }
  if (rest == artifacts_prefix) {  // listing
    if (req_.method != "GET") return text(405, kHtml405);
    const auto it = req_.query.find("path");
    std::string dir = it == req_.query.end() ? std::string() : it->second;
    while (!dir.empty() && dir.back() == '/') dir.pop_back();
    if (!dir.empty() && !path_is_safe(dir)) invalid("Invalid path");
    std::map<std::string, std::optional<std::int64_t>> entries;
    const std::string prefix = dir.empty() ? std::string() : dir + "/";
    for (const auto& [path, bytes] : st_.artifacts) {
      if (path.rfind(prefix, 0) != 0) continue;
      const std::string tail = path.substr(prefix.size());
      const auto slash = tail.find('/');
      if (slash == std::string::npos) {
        entries[tail] = static_cast<std::int64_t>(bytes.size());
      } else {
        entries[tail.substr(0, slash)] = std::nullopt;
      }
    }
    json::array files;
    for (const auto& [name, size] : entries) {
      json::object f;
      f["path"] = name;
      f["is_dir"] = !size.has_value();
      if (size) f["file_size"] = *size;
      files.push_back(std::move(f));
    }
    json::object out;
    if (!files.empty()) out["files"] = std::move(files);
    return ok(std::move(out));
  }
  if (rest.rfind(artifacts_prefix + "/", 0) != 0) return text(404, kHtml404);
  const std::string path = rest.substr(artifacts_prefix.size() + 1);
  if (path.empty()) return text(404, kHtml404);
  if (!path_is_safe(path)) invalid("Invalid path");
  if (req_.method == "PUT") {
    st_.artifacts[path] = req_.body;
    return ok({});
  }
  if (req_.method == "GET") {
    const auto it = st_.artifacts.find(path);
    if (it == st_.artifacts.end()) {
      fail("INTERNAL_ERROR",
           "The following failures occurred while downloading one or more artifacts from "
           "<artifacts-destination>:\n##### File " +
               path + " #####\n[Errno 2] No such file or directory: '<artifacts-destination>/" + path + "'");
    }
    Response res;
    res.body = it->second;
    res.content_type = guess_mime(path);
    const auto slash = path.rfind('/');
    res.headers["Content-Disposition"] =
        "attachment; filename=" + (slash == std::string::npos ? path : path.substr(slash + 1));
    res.headers["X-Content-Type-Options"] = "nosniff";
    return res;
  }
  if (req_.method == "DELETE") {
    for (auto it = st_.artifacts.begin(); it != st_.artifacts.end();) {
      if (it->first == path || it->first.rfind(path + "/", 0) == 0) {
        it = st_.artifacts.erase(it);
      } else {
        ++it;
      }
    }
    return ok({});
  }
  return text(405, kHtml405);
}

}  // namespace

// =================================================================================================================
// FakeMlflowServer
// =================================================================================================================

FakeMlflowServer::FakeMlflowServer(FakeMlflowOptions options)
    : state_(std::make_unique<State>()), options_(std::move(options)) {
  state_->options = options_;
  state_->reset();
  ServerOptions server_options;
  server_options.tls = options_.tls;
  server_options.cert_pem = options_.cert_pem;
  server_options.key_pem = options_.key_pem;
  server_options.keep_alive = options_.keep_alive.value_or(options_.flavor == MlflowFlavor::v3_3);
  server_options.idle_timeout = options_.idle_timeout;
  server_ = std::make_unique<LoopbackServer>([this](const RecordedRequest& r) { return handle(r); }, server_options);
}

FakeMlflowServer::~FakeMlflowServer() { server_.reset(); }  // stop the thread before the state goes

Response FakeMlflowServer::handle(const RecordedRequest& request) {
  std::lock_guard lock(state_->mutex);
  try {
    return Api(*state_, request).dispatch();
  } catch (const ApiError& e) {
    Response res;
    res.status = e.status;
    res.body = dumps(json::object{{"error_code", e.code}, {"message", e.message}}, false);
    return res;
  } catch (const MlflowError& e) {
    Response res;
    res.status = e.http_status().value_or(http_status_for(e.error_code()));
    res.body = dumps(json::object{{"error_code", e.error_code_name()}, {"message", e.message()}}, false);
    return res;
  }
}

std::string FakeMlflowServer::base_url() const { return server_->base_url(); }
std::uint16_t FakeMlflowServer::port() const { return server_->port(); }
LoopbackServer& FakeMlflowServer::loopback() { return *server_; }
const FakeMlflowOptions& FakeMlflowServer::options() const { return options_; }
std::string FakeMlflowServer::cert_pem() const { return server_->options().cert_pem; }

std::optional<Experiment> FakeMlflowServer::experiment(const std::string& experiment_id) const {
  std::lock_guard lock(state_->mutex);
  const auto n = py_int_str(experiment_id);
  if (!n) return std::nullopt;
  const auto it = state_->experiments.find(*n);
  if (it == state_->experiments.end()) return std::nullopt;
  return it->second;
}

std::optional<Experiment> FakeMlflowServer::experiment_by_name(const std::string& name) const {
  std::lock_guard lock(state_->mutex);
  for (const auto& [id, e] : state_->experiments) {
    if (e.name == name) return e;
  }
  return std::nullopt;
}

std::vector<Experiment> FakeMlflowServer::experiments() const {
  std::lock_guard lock(state_->mutex);
  std::vector<Experiment> out;
  for (const auto& [id, e] : state_->experiments) out.push_back(e);
  return out;
}

std::optional<Run> FakeMlflowServer::run(const std::string& run_id) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->runs.find(run_id);
  if (it == state_->runs.end()) return std::nullopt;
  return it->second.entity();
}

std::vector<Run> FakeMlflowServer::runs_in(const std::string& experiment_id) const {
  std::lock_guard lock(state_->mutex);
  std::vector<Run> out;
  for (const auto& id : state_->run_order) {
    const RunRec& r = state_->runs.at(id);
    if (r.info.experiment_id == experiment_id) out.push_back(r.entity());
  }
  return out;
}

std::vector<Run> FakeMlflowServer::runs() const {
  std::lock_guard lock(state_->mutex);
  std::vector<Run> out;
  for (const auto& id : state_->run_order) out.push_back(state_->runs.at(id).entity());
  return out;
}

std::vector<Metric> FakeMlflowServer::metric_history(const std::string& run_id, const std::string& key) const {
  std::lock_guard lock(state_->mutex);
  std::vector<Metric> out;
  const auto it = state_->runs.find(run_id);
  if (it == state_->runs.end()) return out;
  for (const auto& row : it->second.history) {
    if (row.key == key) out.push_back(row.entity());
  }
  return out;
}

std::size_t FakeMlflowServer::metric_count(const std::string& run_id) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->runs.find(run_id);
  return it == state_->runs.end() ? 0 : it->second.history.size();
}

std::optional<std::int64_t> FakeMlflowServer::run_deleted_time(const std::string& run_id) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->runs.find(run_id);
  if (it == state_->runs.end()) return std::nullopt;
  return it->second.deleted_time;
}

std::optional<std::string> FakeMlflowServer::artifact(const std::string& path) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->artifacts.find(path);
  if (it == state_->artifacts.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FakeMlflowServer::artifact_paths() const {
  std::lock_guard lock(state_->mutex);
  std::vector<std::string> out;
  for (const auto& [path, bytes] : state_->artifacts) out.push_back(path);
  return out;
}

std::vector<RecordedRequest> FakeMlflowServer::requests() const { return server_->requests(); }

namespace {
std::string full_path(std::string_view path) {
  if (!path.empty() && path[0] == '/') return std::string(path);
  return "/api/2.0/mlflow/" + std::string(path);
}
}  // namespace

std::vector<RecordedRequest> FakeMlflowServer::requests_to(std::string_view path) const {
  const std::string wanted = full_path(path);
  std::vector<RecordedRequest> out;
  for (auto& r : server_->requests()) {
    if (r.path == wanted) out.push_back(std::move(r));
  }
  return out;
}

std::size_t FakeMlflowServer::request_count(std::string_view path) const { return requests_to(path).size(); }

std::size_t FakeMlflowServer::request_count(std::string_view method, std::string_view path) const {
  std::size_t n = 0;
  for (const auto& r : requests_to(path)) n += r.method == method ? 1 : 0;
  return n;
}

void FakeMlflowServer::reset() {
  {
    std::lock_guard lock(state_->mutex);
    state_->reset();
  }
  server_->clear_faults();
  server_->clear_requests();
}

}  // namespace mlflow::test
