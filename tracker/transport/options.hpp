#pragma once
// Settings of the HTTP transport, with defaults from the environment variables MLflow's Python client reads.

#include <chrono>
#include <string>

namespace mlflow::transport {

/// How an HttpClient connects, authenticates, times out and retries. Defaults match MLflow 3.x; from_env()
/// overlays the environment. A value type; thread-safe as a value.
struct Options {
  /// Deadline for connecting (resolve + TCP + TLS) and, separately, for each request/response exchange.
  /// MLFLOW_HTTP_REQUEST_TIMEOUT (seconds).
  std::chrono::milliseconds request_timeout{std::chrono::seconds(120)};
  /// Wall-time budget of one call, retries and back-off sleeps included, so that no call hangs for long.
  /// MLFLOW_CPP_HTTP_TOTAL_TIMEOUT (seconds).
  std::chrono::milliseconds total_timeout{std::chrono::seconds(120)};
  /// Retries after the first attempt. MLFLOW_HTTP_REQUEST_MAX_RETRIES; must be < 10 as in MLflow.
  int max_retries = 7;
  /// Seconds; the sleep before retry n >= 2 is factor * 2^(n-1) (the first retry is immediate).
  /// MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR; must be < 120 as in MLflow.
  double backoff_factor = 2.0;
  /// Seconds of uniform random jitter added to each back-off sleep. MLFLOW_HTTP_REQUEST_BACKOFF_JITTER.
  double backoff_jitter = 1.0;
  /// Upper bound of one back-off sleep (urllib3's backoff_max).
  std::chrono::milliseconds max_backoff{std::chrono::seconds(120)};
  /// Sleep what a 429/503/413 answer's Retry-After asks. MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER.
  bool respect_retry_after = true;

  /// Basic auth; wins over the token when both are set, as in MLflow. MLFLOW_TRACKING_USERNAME/_PASSWORD.
  std::string username;
  std::string password;
  /// Bearer token. MLFLOW_TRACKING_TOKEN.
  std::string token;

  /// Skip certificate verification. MLFLOW_TRACKING_INSECURE_TLS (true/false/1/0).
  bool insecure_tls = false;
  /// PEM CA bundle that verifies the server. MLFLOW_TRACKING_SERVER_CERT_PATH.
  std::string server_cert_path;
  /// PEM file holding the client certificate and its key. MLFLOW_TRACKING_CLIENT_CERT_PATH.
  std::string client_cert_path;

  /// "mlflow-cpp/<version>".
  std::string user_agent = default_user_agent();

  /// Defaults overlaid with the environment. Throws MlflowError(INVALID_PARAMETER_VALUE) naming the variable
  /// when one is malformed.
  static Options from_env();
  /// Throws MlflowError(INVALID_PARAMETER_VALUE) for values MLflow refuses (max_retries >= 10,
  /// backoff_factor >= 120, insecure TLS together with a server certificate path, negative durations).
  void validate() const;

  static std::string default_user_agent();
};

}  // namespace mlflow::transport
