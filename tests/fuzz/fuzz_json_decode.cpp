// The REST client's answer decoder: any body a server (or something pretending to be one) sends must parse into
// an entity or fail with DecodeError, never crash, and what is decoded must survive a round trip.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "fuzz_common.hpp"
#include "tracker/rest/json_codec.hpp"

namespace json = boost::json;
using namespace mlflow;
using mlflow::fuzz::check;

namespace {

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

template <class F>
void decode(F&& f) {
  try {
    f();
  } catch (const rest::DecodeError&) {
  }
}

void decode_entities(const json::object& obj) {
  decode([&] {
    const Metric m = rest::decode_metric(obj);
    // What the client would send back for it must decode to the same point (NaN and +-Inf included).
    const json::value again = rest::parse_json(rest::write_json(rest::encode_metric(m)));
    const Metric back = rest::decode_metric(again.as_object());
    check(back.key == m.key && same_double(back.value, m.value) && back.timestamp == m.timestamp &&
              back.step == m.step,
          "metric does not survive encode/decode");
    // The direct writers of the log-batch hot path promise write_json's exact bytes.
    std::string direct;
    rest::append_metric_json(direct, m);
    check(direct == rest::write_json(rest::encode_metric(m)), "append_metric_json differs from write_json");
    std::string kv;
    rest::append_key_value_json(kv, m.key, m.key);
    check(kv == rest::write_json(rest::encode_key_value(m.key, m.key)), "append_key_value_json differs from write_json");
  });
  decode([&] { rest::decode_experiment(obj); });
  decode([&] { rest::decode_run_info(obj); });
  decode([&] { rest::decode_run(obj); });
  // The shapes RestStore unwraps: {"run": ...}, {"experiment": ...}, {"run_info": ...}, lists with tokens.
  decode([&] { rest::decode_run(rest::get_object(obj, "run")); });
  decode([&] { rest::decode_experiment(rest::get_object(obj, "experiment")); });
  decode([&] { rest::decode_run_info(rest::get_object(obj, "run_info")); });
  decode([&] {
    for (const auto& r : rest::get_array(obj, "runs")) rest::decode_run(rest::as_object(r, "runs[]"));
    rest::get_string(obj, "next_page_token");
  });
  decode([&] {
    for (const auto& e : rest::get_array(obj, "experiments"))
      rest::decode_experiment(rest::as_object(e, "experiments[]"));
  });
  decode([&] {
    for (const auto& m : rest::get_array(obj, "metrics")) rest::decode_metric(rest::as_object(m, "metrics[]"));
  });
  decode([&] { rest::get_string(obj, "experiment_id"); });
  decode([&] { rest::get_optional_int64(obj, "file_size"); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  json::value value;
  try {
    value = rest::parse_json(text);
  } catch (const rest::DecodeError&) {
    return 0;
  }
  // The writer's output must be JSON this parser reads back to the same text.
  const std::string written = rest::write_json(value);
  json::value reparsed;
  try {
    reparsed = rest::parse_json(written);
  } catch (const rest::DecodeError& e) {
    mlflow::fuzz::finding(std::string("write_json produced unparsable JSON: ") + e.what());
  }
  check(rest::write_json(reparsed) == written, "write_json(parse_json(write_json(v))) differs from write_json(v)");

  if (value.is_object()) decode_entities(value.get_object());
  if (value.is_array()) {
    for (const auto& v : value.get_array()) {
      if (v.is_object()) decode_entities(v.get_object());
    }
  }
  decode([&] { rest::decode_double(value, "value"); });
  decode([&] { rest::decode_int64(value, "timestamp"); });
  return 0;
}
