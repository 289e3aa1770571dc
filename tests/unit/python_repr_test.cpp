// python_float_repr and ParamValue: the strings must be exactly what Python's repr()/str() print.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "mlflow/fluent.hpp"

namespace {

using mlflow::ParamValue;
using mlflow::python_float_repr;

// Expected strings printed by CPython 3 repr() for the same doubles.
const std::vector<std::pair<double, std::string>> kPythonRepr = {
    {0.1, "0.1"},
    {1.0, "1.0"},
    {1e-05, "1e-05"},
    {1e16, "1e+16"},
    {0.0001, "0.0001"},
    {123456789012345.0, "123456789012345.0"},
    {1.2345678901234568e+16, "1.2345678901234568e+16"},
    {0.0, "0.0"},
    {-0.0, "-0.0"},
    {0.5, "0.5"},
    {2.5e-5, "2.5e-05"},
    {1e15, "1000000000000000.0"},
    {9999999999999998.0, "9999999999999998.0"},
    {0.00012345, "0.00012345"},
    {1.5, "1.5"},
    {-1.5, "-1.5"},
    {3.141592653589793, "3.141592653589793"},
    {1.0 / 3.0, "0.3333333333333333"},
    {2.0 / 3.0, "0.6666666666666666"},
    {1e100, "1e+100"},
    {1.7976931348623157e308, "1.7976931348623157e+308"},
    {5e-324, "5e-324"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {100.0, "100.0"},
    {1234.5678, "1234.5678"},
    {0.1 + 0.2, "0.30000000000000004"},
    {1e22, "1e+22"},
    {1e21, "1e+21"},
    {123456789.123, "123456789.123"},
    {-0.001, "-0.001"},
    {12345678901234567.0, "1.2345678901234568e+16"},
    {0.32005, "0.32005"},
    {-0.32900000000000007, "-0.32900000000000007"},
    {0.10329, "0.10329"},
    {4.35, "4.35"},
    {1e-7, "1e-07"},
    {123e-20, "1.23e-18"},
    {65536.0, "65536.0"},
    {9223372036854775808.0, "9.223372036854776e+18"},
    {-1e-300, "-1e-300"},
    {0.001, "0.001"},
};

TEST(PythonRepr, matches_python_for_known_values) {
  for (const auto& [value, expected] : kPythonRepr) {
    EXPECT_EQ(python_float_repr(value), expected) << "for value with bits of " << expected;
  }
}

TEST(PythonRepr, special_values) {
  EXPECT_EQ(python_float_repr(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(python_float_repr(-std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(python_float_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(python_float_repr(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(PythonRepr, switches_to_exponent_below_1e_minus_4_and_from_1e16) {
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(0.00009999), "9.999e-05");
  EXPECT_EQ(python_float_repr(9999999999999999.0), "1e+16");  // rounds to 1e16 as a double
  EXPECT_EQ(python_float_repr(999999999999999.9), "999999999999999.9");
  EXPECT_EQ(python_float_repr(1e16 + 2.0), "1.0000000000000002e+16");
}

TEST(PythonRepr, powers_of_ten_follow_the_rule) {
  for (int e = -20; e <= 25; ++e) {
    const double value = std::strtod(("1e" + std::to_string(e)).c_str(), nullptr);
    std::string expected;
    if (e < -4 || e >= 16) {
      const int magnitude = e < 0 ? -e : e;
      expected = std::string("1e") + (e < 0 ? "-" : "+") + (magnitude < 10 ? "0" : "") + std::to_string(magnitude);
    } else if (e < 0) {
      expected = "0." + std::string(static_cast<std::size_t>(-e - 1), '0') + "1";
    } else {
      expected = "1" + std::string(static_cast<std::size_t>(e), '0') + ".0";
    }
    EXPECT_EQ(python_float_repr(value), expected) << "1e" << e;
  }
}

TEST(PythonRepr, round_trips_random_doubles) {
  std::mt19937_64 rng(12345);  // fixed seed: deterministic
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t bits = rng();
    double value;
    std::memcpy(&value, &bits, sizeof value);
    if (!std::isfinite(value)) continue;
    const std::string text = python_float_repr(value);
    const double back = std::strtod(text.c_str(), nullptr);
    ASSERT_EQ(std::memcmp(&back, &value, sizeof value), 0) << text;
    // Python's shape: a decimal point or an exponent is always present.
    ASSERT_TRUE(text.find('.') != std::string::npos || text.find('e') != std::string::npos) << text;
  }
}

TEST(PythonRepr, shortest_digits_for_short_decimals) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> digits(0, 999999);
  std::uniform_int_distribution<int> scale(0, 6);
  for (int i = 0; i < 5000; ++i) {
    const int n = digits(rng);
    const int s = scale(rng);
    // n / 10^s printed by Python is the decimal literal itself (shortest form), e.g. 12.345.
    std::string literal = std::to_string(n);
    if (s > 0) {
      if (literal.size() <= static_cast<std::size_t>(s)) literal.insert(0, static_cast<std::size_t>(s) + 1 - literal.size(), '0');
      literal.insert(literal.size() - static_cast<std::size_t>(s), ".");
      while (literal.back() == '0') literal.pop_back();
      if (literal.back() == '.') literal += '0';
    } else {
      literal += ".0";
    }
    const double value = std::strtod(literal.c_str(), nullptr);
    if (value != 0.0 && std::fabs(value) < 1e-4) continue;  // those use exponent form
    ASSERT_EQ(python_float_repr(value), literal);
  }
}

TEST(ParamValue, converts_like_python_str) {
  EXPECT_EQ(ParamValue(0.1).str(), "0.1");
  EXPECT_EQ(ParamValue(1.0).str(), "1.0");
  EXPECT_EQ(ParamValue(1e-5).str(), "1e-05");
  EXPECT_EQ(ParamValue(0.5f).str(), "0.5");
  EXPECT_EQ(ParamValue(0.1f).str(), "0.10000000149011612");  // a float widened to double, as numpy.float32 -> float
  EXPECT_EQ(ParamValue(42).str(), "42");
  EXPECT_EQ(ParamValue(-7L).str(), "-7");
  EXPECT_EQ(ParamValue(std::uint64_t{18446744073709551615ULL}).str(), "18446744073709551615");
  EXPECT_EQ(ParamValue(true).str(), "True");
  EXPECT_EQ(ParamValue(false).str(), "False");
  EXPECT_EQ(ParamValue("text").str(), "text");
  EXPECT_EQ(ParamValue(std::string("[[-1, 0, 1]]")).str(), "[[-1, 0, 1]]");
}

}  // namespace
