// The direct log-batch writers (append_json_*) against the Boost.JSON tree written by write_json: same bytes.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tracker/rest/json_codec.hpp"

namespace mlflow::rest {
namespace {

std::vector<std::string> tricky_strings() {
  std::vector<std::string> out = {"",
                                  "loss",
                                  "a\"b",
                                  "back\\slash",
                                  "slash/ok",
                                  "tab\there",
                                  "nl\nret\rff\fbs\b",
                                  "vt\x0bunit\x1f",
                                  "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
                                  "del\x7f",
                                  "\"\\\"\\"};
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls += static_cast<char>(c);
  out.push_back(all_controls);
  out.push_back(std::string("nul\0in", 6));
  return out;
}

std::vector<double> tricky_doubles() {
  return {0.0,
          -0.0,
          1.0,
          -5.0,
          0.1,
          1.0 / 3.0,
          1e308,
          -1e308,
          std::numeric_limits<double>::max(),
          std::numeric_limits<double>::lowest(),
          std::numeric_limits<double>::min(),
          std::numeric_limits<double>::denorm_min(),
          4.9e-324 * 3,
          1e21,
          1e-7,
          123456789012345680.0,
          std::numeric_limits<double>::quiet_NaN(),
          -std::numeric_limits<double>::quiet_NaN(),
          std::numeric_limits<double>::infinity(),
          -std::numeric_limits<double>::infinity()};
}

TEST(JsonWriter, StringsMatchBoostSerializer) {
  for (const auto& s : tricky_strings()) {
    std::string direct;
    append_json_string(direct, s);
    EXPECT_EQ(direct, write_json(boost::json::value(boost::json::string(s)))) << "input size " << s.size();
    // And it parses back to the same bytes.
    EXPECT_EQ(std::string(parse_json(direct).as_string()), s);
  }
}

TEST(JsonWriter, ControlCharactersUseShortOrUnicodeEscapes) {
  std::string out;
  append_json_string(out, std::string("\x01\x1f\n\"\\", 5));
  EXPECT_EQ(out, "\"\\u0001\\u001f\\n\\\"\\\\\"");
}

TEST(JsonWriter, DoublesMatchWriteJson) {
  for (double d : tricky_doubles()) {
    std::string direct;
    append_json_double(direct, d);
    EXPECT_EQ(direct, write_json(encode_double(d))) << d;
    const double back = decode_double(parse_json(direct), "value");
    if (std::isnan(d)) {
      EXPECT_TRUE(std::isnan(back));
    } else {
      EXPECT_EQ(back, d);
      EXPECT_EQ(std::signbit(back), std::signbit(d)) << direct;
    }
  }
  std::string nonfinite;
  append_json_double(nonfinite, std::numeric_limits<double>::quiet_NaN());
  append_json_double(nonfinite, std::numeric_limits<double>::infinity());
  append_json_double(nonfinite, -std::numeric_limits<double>::infinity());
  append_json_double(nonfinite, -0.0);
  EXPECT_EQ(nonfinite, "\"NaN\"\"Infinity\"\"-Infinity\"-0.0");
}

TEST(JsonWriter, Int64MatchesWriteJson) {
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1700000000000},
                         std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    std::string direct;
    append_json_int64(direct, v);
    EXPECT_EQ(direct, write_json(boost::json::value(v)));
  }
}

TEST(JsonWriter, MetricsAndKeyValuesMatchTheTreeEncoding) {
  const auto strings = tricky_strings();
  const auto doubles = tricky_doubles();
  for (std::size_t i = 0; i < strings.size(); ++i) {
    for (std::size_t j = 0; j < doubles.size(); ++j) {
      const Metric m{strings[i], doubles[j], std::numeric_limits<std::int64_t>::min() + static_cast<std::int64_t>(j),
                     static_cast<std::int64_t>(i) - 3};
      std::string direct = "prefix";
      append_metric_json(direct, m);
      EXPECT_EQ(direct, "prefix" + write_json(encode_metric(m)));
    }
    std::string kv;
    append_key_value_json(kv, strings[i], strings[strings.size() - 1 - i]);
    EXPECT_EQ(kv, write_json(encode_key_value(strings[i], strings[strings.size() - 1 - i])));
  }
}

}  // namespace
}  // namespace mlflow::rest
