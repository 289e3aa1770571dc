#include "tracker/rest/json_codec.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cmath>
#include <limits>

namespace mlflow::rest {

namespace json = boost::json;

namespace {

// The DOM builder of boost::json::parser, except that doubles are re-read from their token with from_chars:
// Boost.JSON 1.81 trades exactness for speed and can be one ulp off, which would corrupt metric values that
// travel through here on their way to another store.
class ExactHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::string number;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    double exact = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), exact);
    st.push_double(ec == std::errc() && ptr == number.data() + number.size() ? exact : d);
    number.clear();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

void write_value(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      return;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return;
    case json::kind::double_:
      append_json_double(out, v.get_double());
      return;
    case json::kind::string:
      out += json::serialize(v.get_string());
      return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write_value(e, out);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string_view(kv.key()));
        out += ':';
        write_value(kv.value(), out);
      }
      out += '}';
      return;
    }
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return out;
}

[[noreturn]] void wrong_type(std::string_view field, std::string_view expected, const json::value& got) {
  std::string shown = json::serialize(got);
  if (shown.size() > 80) shown = shown.substr(0, 80) + "...";
  throw DecodeError("field '" + std::string(field) + "' should be " + std::string(expected) + ", got " + shown);
}

const json::value* find(const json::object& obj, std::string_view key) {
  auto it = obj.find(json::string_view(key.data(), key.size()));
  if (it == obj.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

}  // namespace

json::value parse_json(std::string_view text) {
  json::basic_parser<ExactHandler> parser(json::parse_options{});
  parser.handler().st.reset();
  json::error_code ec;
  const std::size_t n = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && n < text.size()) ec = json::error::extra_data;
  if (ec || !parser.done()) {
    if (!ec) ec = json::error::incomplete;
    throw DecodeError("not valid JSON (" + ec.message() + " at offset " + std::to_string(n) + ")");
  }
  return parser.handler().st.release();
}

std::string write_json(const json::value& value) {
  std::string out;
  write_value(value, out);
  return out;
}

json::value encode_double(double value) {
  if (std::isnan(value)) return json::string("NaN");
  if (std::isinf(value)) return json::string(value > 0 ? "Infinity" : "-Infinity");
  return json::value(value);
}

double decode_double(const json::value& value, std::string_view field) {
  switch (value.kind()) {
    case json::kind::double_:
      return value.get_double();
    case json::kind::int64:
      return static_cast<double>(value.get_int64());
    case json::kind::uint64:
      return static_cast<double>(value.get_uint64());
    case json::kind::string: {
      const std::string s = lower(std::string_view(value.get_string().data(), value.get_string().size()));
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
      if (s == "infinity" || s == "inf" || s == "+infinity" || s == "+inf") return std::numeric_limits<double>::infinity();
      if (s == "-infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
      double d = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return d;
      break;
    }
    default:
      break;
  }
  wrong_type(field, "a number", value);
}

std::int64_t decode_int64(const json::value& value, std::string_view field) {
  switch (value.kind()) {
    case json::kind::int64:
      return value.get_int64();
    case json::kind::uint64:
      if (value.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(value.get_uint64());
      }
      break;
    case json::kind::double_: {
      const double d = value.get_double();
      // Only exactly representable integers; 2^63 itself is out of range.
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9223372036854775808.0) {
        return static_cast<std::int64_t>(d);
      }
      break;
    }
    case json::kind::string: {
      const auto& s = value.get_string();
      std::int64_t i = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return i;
      break;
    }
    default:
      break;
  }
  wrong_type(field, "a 64-bit integer", value);
}

std::string get_string(const json::object& obj, std::string_view key, std::string fallback) {
  const json::value* v = find(obj, key);
  if (v == nullptr) return fallback;
  if (v->is_string()) return std::string(v->get_string().data(), v->get_string().size());
  // Ids are strings on the wire, but the server accepts numbers for them; be as lenient reading answers.
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  wrong_type(key, "a string", *v);
}

std::int64_t get_int64(const json::object& obj, std::string_view key, std::int64_t fallback) {
  const json::value* v = find(obj, key);
  return v == nullptr ? fallback : decode_int64(*v, key);
}

std::optional<std::int64_t> get_optional_int64(const json::object& obj, std::string_view key) {
  const json::value* v = find(obj, key);
  if (v == nullptr) return std::nullopt;
  return decode_int64(*v, key);
}

const json::object& get_object(const json::object& obj, std::string_view key) {
  static const json::object empty;
  const json::value* v = find(obj, key);
  if (v == nullptr) return empty;
  if (!v->is_object()) wrong_type(key, "an object", *v);
  return v->get_object();
}

const json::array& get_array(const json::object& obj, std::string_view key) {
  static const json::array empty;
  const json::value* v = find(obj, key);
  if (v == nullptr) return empty;
  if (!v->is_array()) wrong_type(key, "an array", *v);
  return v->get_array();
}

const json::object& as_object(const json::value& value, std::string_view what) {
  if (!value.is_object()) wrong_type(what, "an object", value);
  return value.get_object();
}

json::object encode_metric(const Metric& metric) {
  json::object o;
  o["key"] = metric.key;
  o["value"] = encode_double(metric.value);
  o["timestamp"] = metric.timestamp;
  o["step"] = metric.step;
  return o;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p != end) {
    // Copy the longest run that needs no escape in one append.
    const char* run = p;
    while (run != end) {
      const auto c = static_cast<unsigned char>(*run);
      if (c < 0x20 || c == '"' || c == '\\') break;
      ++run;
    }
    out.append(p, static_cast<std::size_t>(run - p));
    if (run == end) break;
    const auto c = static_cast<unsigned char>(*run);
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    std::size_t len = 2;
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\b': esc[1] = 'b'; break;
      case '\t': esc[1] = 't'; break;
      case '\n': esc[1] = 'n'; break;
      case '\f': esc[1] = 'f'; break;
      case '\r': esc[1] = 'r'; break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xf];
        len = 6;
    }
    out.append(esc, len);
    p = run + 1;
  }
  out += '"';
}

void append_json_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
  // Same rule as write_value: an integral-looking form stays a double ("5.0", "-0.0").
  if (std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)).find_first_of(".e") == std::string_view::npos) {
    out += ".0";
  }
}

void append_json_int64(std::string& out, std::int64_t value) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}

void append_metric_json(std::string& out, const Metric& metric) {
  append_metric_json(out, metric.key, metric.value, metric.timestamp, metric.step);
}

void append_metric_json(std::string& out, std::string_view key, double value, std::int64_t timestamp,
                        std::int64_t step) {
  out += "{\"key\":";
  append_json_string(out, key);
  out += ",\"value\":";
  append_json_double(out, value);
  out += ",\"timestamp\":";
  append_json_int64(out, timestamp);
  out += ",\"step\":";
  append_json_int64(out, step);
  out += '}';
}

void append_key_value_json(std::string& out, std::string_view key, std::string_view value) {
  out += "{\"key\":";
  append_json_string(out, key);
  out += ",\"value\":";
  append_json_string(out, value);
  out += '}';
}

json::object encode_key_value(std::string_view key, std::string_view value) {
  json::object o;
  o["key"] = json::string_view(key.data(), key.size());
  o["value"] = json::string_view(value.data(), value.size());
  return o;
}

Metric decode_metric(const json::object& obj) {
  Metric m;
  m.key = get_string(obj, "key");
  const json::value* v = find(obj, "value");
  m.value = v == nullptr ? 0.0 : decode_double(*v, "value");
  m.timestamp = get_int64(obj, "timestamp");
  m.step = get_int64(obj, "step");
  return m;
}

Experiment decode_experiment(const json::object& obj) {
  Experiment e;
  e.experiment_id = get_string(obj, "experiment_id");
  e.name = get_string(obj, "name");
  e.artifact_location = get_string(obj, "artifact_location");
  e.lifecycle_stage = get_string(obj, "lifecycle_stage", "active");
  e.creation_time = get_int64(obj, "creation_time");
  e.last_update_time = get_int64(obj, "last_update_time");
  for (const auto& t : get_array(obj, "tags")) {
    const auto& to = as_object(t, "tags[]");
    e.tags.push_back(ExperimentTag{get_string(to, "key"), get_string(to, "value")});
  }
  return e;
}

RunInfo decode_run_info(const json::object& obj) {
  RunInfo info;
  info.run_id = get_string(obj, "run_id");
  if (info.run_id.empty()) info.run_id = get_string(obj, "run_uuid");
  info.run_name = get_string(obj, "run_name");
  info.experiment_id = get_string(obj, "experiment_id");
  info.user_id = get_string(obj, "user_id");
  if (const json::value* s = find(obj, "status")) {
    std::string name;
    if (s->is_string()) {
      name = std::string(s->get_string().data(), s->get_string().size());
    } else if (s->is_int64()) {
      name = std::to_string(s->get_int64());
    } else {
      wrong_type("status", "a run status name", *s);
    }
    try {
      info.status = run_status_from_string(name);
    } catch (const std::exception&) {
      throw DecodeError("field 'status' holds an unknown run status '" + name + "'");
    }
  }
  info.start_time = get_int64(obj, "start_time");
  info.end_time = get_optional_int64(obj, "end_time");
  info.artifact_uri = get_string(obj, "artifact_uri");
  info.lifecycle_stage = get_string(obj, "lifecycle_stage", "active");
  return info;
}

Run decode_run(const json::object& obj) {
  Run run;
  run.info = decode_run_info(get_object(obj, "info"));
  const json::object& data = get_object(obj, "data");
  for (const auto& m : get_array(data, "metrics")) run.data.metrics.push_back(decode_metric(as_object(m, "metrics[]")));
  for (const auto& p : get_array(data, "params")) {
    const auto& po = as_object(p, "params[]");
    run.data.params.push_back(Param{get_string(po, "key"), get_string(po, "value")});
  }
  for (const auto& t : get_array(data, "tags")) {
    const auto& to = as_object(t, "tags[]");
    run.data.tags.push_back(RunTag{get_string(to, "key"), get_string(to, "value")});
  }
  return run;
}

}  // namespace mlflow::rest
