#include "tracker/transport/options.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "mlflow/error.hpp"

#ifndef MLFLOW_CPP_VERSION
#define MLFLOW_CPP_VERSION "0.0.0"
#endif

namespace mlflow::transport {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

[[noreturn]] void bad_env(const char* name, const std::string& value, const char* expected) {
  throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                    std::string("Environment variable ") + name + "='" + value + "' is not valid: expected " +
                        expected + ".");
}

std::optional<double> env_number(const char* name) {
  auto raw = env(name);
  if (!raw) return std::nullopt;
  std::string_view text = trim(*raw);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value) || text.empty()) {
    bad_env(name, *raw, "a number");
  }
  return value;
}

std::optional<int> env_int(const char* name) {
  auto raw = env(name);
  if (!raw) return std::nullopt;
  std::string_view text = trim(*raw);
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) bad_env(name, *raw, "an integer");
  return value;
}

// MLflow's boolean variables accept exactly true/false/1/0, case-insensitively; anything else is an error
// rather than a silent false, so a typo cannot switch verification off (or on) unnoticed.
std::optional<bool> env_bool(const char* name) {
  auto raw = env(name);
  if (!raw) return std::nullopt;
  std::string lower;
  for (char c : trim(*raw)) lower += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  if (lower == "true" || lower == "1") return true;
  if (lower == "false" || lower == "0") return false;
  bad_env(name, *raw, "one of true, false, 1, 0");
}

std::chrono::milliseconds seconds_to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

}  // namespace

std::string Options::default_user_agent() { return std::string("mlflow-cpp/") + MLFLOW_CPP_VERSION; }

Options Options::from_env() {
  Options o;
  if (auto v = env_number("MLFLOW_HTTP_REQUEST_TIMEOUT")) o.request_timeout = seconds_to_ms(*v);
  if (auto v = env_number("MLFLOW_CPP_HTTP_TOTAL_TIMEOUT")) o.total_timeout = seconds_to_ms(*v);
  if (auto v = env_int("MLFLOW_HTTP_REQUEST_MAX_RETRIES")) o.max_retries = *v;
  if (auto v = env_number("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")) o.backoff_factor = *v;
  if (auto v = env_number("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")) o.backoff_jitter = *v;
  if (auto v = env_bool("MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER")) o.respect_retry_after = *v;
  if (auto v = env("MLFLOW_TRACKING_USERNAME")) o.username = *v;
  if (auto v = env("MLFLOW_TRACKING_PASSWORD")) o.password = *v;
  if (auto v = env("MLFLOW_TRACKING_TOKEN")) o.token = *v;
  if (auto v = env_bool("MLFLOW_TRACKING_INSECURE_TLS")) o.insecure_tls = *v;
  if (auto v = env("MLFLOW_TRACKING_SERVER_CERT_PATH")) o.server_cert_path = *v;
  if (auto v = env("MLFLOW_TRACKING_CLIENT_CERT_PATH")) o.client_cert_path = *v;
  return o;
}

void Options::validate() const {
  auto invalid = [](const std::string& what) { throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE, what); };
  if (max_retries < 0 || max_retries >= 10) {
    invalid("HTTP max retries is " + std::to_string(max_retries) +
            "; it must be between 0 and 9 (MLFLOW_HTTP_REQUEST_MAX_RETRIES, limit 10 as in MLflow).");
  }
  if (!(backoff_factor >= 0.0) || backoff_factor >= 120.0) {
    invalid("HTTP backoff factor is " + std::to_string(backoff_factor) +
            "; it must be at least 0 and below 120 (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, limit 120 as in MLflow).");
  }
  if (!(backoff_jitter >= 0.0)) {
    invalid("HTTP backoff jitter must not be negative (MLFLOW_HTTP_REQUEST_BACKOFF_JITTER).");
  }
  if (request_timeout.count() <= 0) {
    invalid("HTTP request timeout must be positive (MLFLOW_HTTP_REQUEST_TIMEOUT, seconds).");
  }
  if (total_timeout.count() <= 0) {
    invalid("HTTP total time budget must be positive (MLFLOW_CPP_HTTP_TOTAL_TIMEOUT, seconds).");
  }
  if (insecure_tls && !server_cert_path.empty()) {
    invalid("MLFLOW_TRACKING_INSECURE_TLS=true and MLFLOW_TRACKING_SERVER_CERT_PATH are both set; they contradict "
            "each other. Unset one: keep the certificate path to verify the server against it, or keep the "
            "insecure flag to skip verification.");
  }
}

}  // namespace mlflow::transport
