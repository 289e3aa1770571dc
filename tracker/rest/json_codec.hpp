#pragma once
// JSON for MLflow's REST API: an exact parser (int64 as integers, doubles correctly rounded), a compact writer, and
// the mapping between MLflow entities and their wire form (rules in shared/mlflow-reference/protocol.md §1.2-1.3).

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mlflow/entities.hpp"

namespace mlflow::rest {

/// Thrown when a body is not JSON, or a field has the wrong type. RestStore turns it into an MlflowError that
/// names the endpoint.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses JSON. Integers keep all 64 bits (int64/uint64 kinds); doubles are rounded correctly (from_chars on the
/// token, as Boost.JSON 1.81 may be one ulp off). Throws DecodeError.
boost::json::value parse_json(std::string_view text);

/// Compact JSON. Doubles in shortest round-trip form; non-finite doubles must already be strings (encode_double).
std::string write_json(const boost::json::value& value);

/// A finite double as a number; NaN, +Inf, -Inf as "NaN", "Infinity", "-Infinity" (what protobuf's JSON accepts).
boost::json::value encode_double(double value);
/// A number (any kind) or one of the strings "NaN", "Infinity", "-Infinity" (also "inf"/"nan" in any case).
double decode_double(const boost::json::value& value, std::string_view field);
/// An integer kind, an integral double, or a decimal string; never through double for large values.
std::int64_t decode_int64(const boost::json::value& value, std::string_view field);

// Field access on objects: absent (or null) fields give the fallback; a present field of the wrong type throws.
std::string get_string(const boost::json::object& obj, std::string_view key, std::string fallback = {});
std::int64_t get_int64(const boost::json::object& obj, std::string_view key, std::int64_t fallback = 0);
std::optional<std::int64_t> get_optional_int64(const boost::json::object& obj, std::string_view key);
/// The object under key, or an empty object when absent.
const boost::json::object& get_object(const boost::json::object& obj, std::string_view key);
/// The array under key, or an empty array when absent.
const boost::json::array& get_array(const boost::json::object& obj, std::string_view key);
const boost::json::object& as_object(const boost::json::value& value, std::string_view what);

boost::json::object encode_metric(const Metric& metric);
boost::json::object encode_key_value(std::string_view key, std::string_view value);

// Direct writers for hot request bodies (log-batch): they append to a caller-owned buffer, so a body is encoded
// without building a JSON tree, and produce exactly the bytes write_json would for the same value.

/// `s` as a JSON string literal, escaped as Boost.JSON's serializer does (\" \\ \b \t \n \f \r, other bytes
/// below 0x20 as \u00xx; everything else, UTF-8 included, copied as is).
void append_json_string(std::string& out, std::string_view s);
/// A double as write_json writes encode_double(value): shortest round-trip form, ".0" added to integral forms,
/// NaN/+Inf/-Inf as the strings "NaN"/"Infinity"/"-Infinity".
void append_json_double(std::string& out, double value);
void append_json_int64(std::string& out, std::int64_t value);
/// The bytes of write_json(encode_metric(metric)).
void append_metric_json(std::string& out, const Metric& metric);
/// The same from the parts (the spool's WireEncoder: the uploader sends what this wrote when the point was spooled).
void append_metric_json(std::string& out, std::string_view key, double value, std::int64_t timestamp,
                        std::int64_t step);
/// The bytes of write_json(encode_key_value(key, value)).
void append_key_value_json(std::string& out, std::string_view key, std::string_view value);

Metric decode_metric(const boost::json::object& obj);
Experiment decode_experiment(const boost::json::object& obj);
RunInfo decode_run_info(const boost::json::object& obj);
Run decode_run(const boost::json::object& obj);

}  // namespace mlflow::rest
