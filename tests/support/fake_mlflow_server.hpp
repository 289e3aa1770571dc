#pragma once
// An in-memory double of an MLflow tracking server (2.17.2 by default, or 3.3) on a real loopback socket.
// It answers the REST API 2.0 as the transcripts in shared/mlflow-reference/transcripts/ show: status codes,
// JSON shapes and encodings, error codes and messages, HTML 404/405, the partial-parse quirks (a bare NaN token
// stores value 0, timestamp 0, step 0), latest_metrics, pagination tokens, and the mlflow-artifacts proxy.
// Faults (reset, delay, 503, ...) come from the underlying LoopbackServer: fake.loopback().push_fault(...).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlflow/entities.hpp"
#include "support/loopback_server.hpp"

namespace mlflow::test {

/// Which real server to imitate. Differences: /version, Connection: close (2.17, gunicorn) vs keep-alive
/// (3.3, uvicorn), get-history pagination, "inputs"/"outputs" in run responses, some error texts, a
/// non-numeric experiment id (404 vs 500), delete-experiment-tag (3.3 only).
enum class MlflowFlavor { v2_17, v3_3 };

/// Options of the fake. Unset optionals follow the flavor.
struct FakeMlflowOptions {
  MlflowFlavor flavor = MlflowFlavor::v2_17;
  std::optional<bool> keep_alive;        ///< default: false for 2.17 (every answer says Connection: close), true for 3.3
  std::optional<bool> paginate_history;  ///< metrics/get-history pages as 3.3 does; default: flavor == v3_3
  /// With pagination: a get-history without max_results answers no metrics and a token for offset 0 (3.3's
  /// infinite loop, mlflow#23916). When false, a missing max_results means 25000.
  bool history_missing_max_results_loops = true;
  bool pretty_json = true;  ///< json.dumps(indent=2) as MLflow does; false: one line (", " and ": " separators)
  bool tls = false;         ///< HTTPS with cert_pem/key_pem (a self-signed pair is made when empty)
  std::string cert_pem;
  std::string key_pem;
  std::chrono::milliseconds idle_timeout{0};  ///< close idle kept-alive connections (see ServerOptions)
  /// Require `Authorization: Basic base64(user:password)` (MLflow's basic-auth app: 401 text with
  /// WWW-Authenticate: Basic realm="mlflow"; /health stays open).
  std::optional<std::pair<std::string, std::string>> basic_auth;
  /// Require `Authorization: Bearer <token>` (401 otherwise).
  std::optional<std::string> bearer_token;
  std::string default_artifact_root = "mlflow-artifacts:/";  ///< experiment artifact_location = root + id
  bool serve_artifacts = true;       ///< false: the mlflow-artifacts endpoints answer 503 text
  bool truncate_long_values = true;  ///< MLFLOW_TRUNCATE_LONG_VALUES on the server (false: long values are 400)
};

/// The fake MLflow tracking server. Thread-safe: the server thread handles requests while a test reads the
/// state through the accessors (each returns a snapshot).
class FakeMlflowServer {
 public:
  explicit FakeMlflowServer(FakeMlflowOptions options = {});
  ~FakeMlflowServer();
  FakeMlflowServer(const FakeMlflowServer&) = delete;
  FakeMlflowServer& operator=(const FakeMlflowServer&) = delete;

  /// "http://127.0.0.1:<port>" (or https): the tracking URI to give a client.
  std::string base_url() const;
  std::uint16_t port() const;
  /// The socket layer: faults, recorded requests, connection counts, stop()/start() for an outage.
  LoopbackServer& loopback();
  const FakeMlflowOptions& options() const;
  /// The server certificate (PEM) when tls is on, for a client to trust.
  std::string cert_pem() const;

  // ---- state, as the server holds it (snapshots) ----
  std::optional<Experiment> experiment(const std::string& experiment_id) const;
  std::optional<Experiment> experiment_by_name(const std::string& name) const;
  std::vector<Experiment> experiments() const;  ///< all, deleted ones too, by id
  /// The run as runs/get would return it (data.metrics = latest per key). Deleted runs too.
  std::optional<Run> run(const std::string& run_id) const;
  std::vector<Run> runs_in(const std::string& experiment_id) const;  ///< all, deleted too, in creation order
  std::vector<Run> runs() const;                                      ///< every run, in creation order
  /// Every stored point of one metric in insertion order (duplicates already dropped). NaN comes back as NaN,
  /// +/-Inf as +/-DBL_MAX (what the SQL store keeps).
  std::vector<Metric> metric_history(const std::string& run_id, const std::string& key) const;
  /// Total metric rows stored for a run (all keys).
  std::size_t metric_count(const std::string& run_id) const;
  /// Deleted runs carry the time they were deleted.
  std::optional<std::int64_t> run_deleted_time(const std::string& run_id) const;
  /// Artifact bytes by path relative to the artifact root, e.g. "1/<run>/artifacts/dir/hello.txt".
  std::optional<std::string> artifact(const std::string& path) const;
  std::vector<std::string> artifact_paths() const;

  // ---- requests ----
  std::vector<RecordedRequest> requests() const;  ///< same as loopback().requests()
  /// Requests whose decoded path equals `path`, e.g. "/api/2.0/mlflow/runs/log-batch" (or just "runs/log-batch",
  /// taken relative to /api/2.0/mlflow/).
  std::size_t request_count(std::string_view path) const;
  std::size_t request_count(std::string_view method, std::string_view path) const;
  std::vector<RecordedRequest> requests_to(std::string_view path) const;

  // ---- control ----
  /// Back to a fresh server: only the Default experiment "0", no runs, no artifacts, no faults, no records.
  void reset();
  /// Calls the handler directly, without a socket (to seed state quickly or to test encoding).
  Response handle(const RecordedRequest& request);

  struct State;  ///< implementation detail (public only so that the .cpp's handler can name it)

 private:
  std::unique_ptr<State> state_;
  std::unique_ptr<LoopbackServer> server_;
  FakeMlflowOptions options_;
};

/// Python's repr() of a float (what MLflow's json.dumps writes): "1.0", "0.25", "1e-05",
/// "1.7976931348623157e+308", "nan", "inf". Exposed for tests.
std::string python_float_repr(double value);

/// Serialises JSON text the way Python's json.dumps does (ensure_ascii; indent=2 when pretty, else ", "/": "
/// separators; integral doubles keep ".0"). Input is JSON text; throws std::invalid_argument if it does not
/// parse. Exposed for tests that compare bodies.
std::string python_json_dumps(std::string_view json_text, bool pretty);

}  // namespace mlflow::test
