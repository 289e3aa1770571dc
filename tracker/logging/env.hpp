#pragma once
// Reading MLFLOW_CPP_... options from the environment, with a default for unset or unusable values.

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace mlflow::logging {

/// The variable's value, or `fallback` when it is unset or empty.
inline std::string env_string(const char* name, std::string_view fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : std::string(fallback);
}

/// true/1/yes/on and false/0/no/off (any case); anything else keeps `fallback` and says so on stderr.
inline bool env_bool(const char* name, bool fallback) {
  std::string v = env_string(name, "");
  if (v.empty()) return fallback;
  for (char& c : v) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  std::fprintf(stderr, "mlflow-cpp: %s=%s is not true or false; using %s\n", name, v.c_str(),
               fallback ? "true" : "false");
  return fallback;
}

/// An integer in [min, max]; anything else keeps `fallback` and says so on stderr.
inline std::int64_t env_int(const char* name, std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const std::string v = env_string(name, "");
  if (v.empty()) return fallback;
  std::int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || out < min || out > max) {
    std::fprintf(stderr, "mlflow-cpp: %s=%s is not an integer in [%lld, %lld]; using %lld\n", name, v.c_str(),
                 static_cast<long long>(min), static_cast<long long>(max), static_cast<long long>(fallback));
    return fallback;
  }
  return out;
}

}  // namespace mlflow::logging
