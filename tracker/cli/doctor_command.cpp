// mlflow-cpp doctor: checks the tracking URI end to end and says, one line per check, what is wrong.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "tracker/cli/commands.hpp"
#include "tracker/cli/output.hpp"
#include "tracker/transport/http_client.hpp"
#include "tracker/transport/options.hpp"
#include "tracker/transport/uri_redaction.hpp"

namespace mlflow::cli {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
  std::string fix;  ///< what to do; failures only
};

class Report {
 public:
  void ok(std::string name, std::string detail) { checks_.push_back({std::move(name), true, std::move(detail), {}}); }
  void fail(std::string name, std::string detail, std::string fix) {
    checks_.push_back({std::move(name), false, std::move(detail), std::move(fix)});
  }
  bool all_ok() const {
    return std::all_of(checks_.begin(), checks_.end(), [](const Check& c) { return c.ok; });
  }

  void print(std::ostream& out, const std::string& uri, bool as_json) const {
    if (as_json) {
      json::array checks;
      for (const auto& check : checks_) {
        json::object object{{"check", check.name}, {"ok", check.ok}, {"detail", check.detail}};
        if (!check.ok) object["fix"] = check.fix;
        checks.push_back(std::move(object));
      }
      write_json(out, json::object{{"tracking_uri", uri}, {"ok", all_ok()}, {"checks", std::move(checks)}});
      return;
    }
    std::size_t width = 0;
    for (const auto& check : checks_) width = std::max(width, check.name.size());
    for (const auto& check : checks_) {
      out << (check.ok ? "OK    " : "FAIL  ") << check.name << std::string(width - check.name.size() + 2, ' ')
          << check.detail;
      if (!check.ok && !check.fix.empty()) out << " -- fix: " << check.fix;
      out << '\n';
    }
  }

 private:
  std::vector<Check> checks_;
};

bool has_prefix_ci(const std::string& text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

bool is_auth_error(const MlflowError& error) {
  return error.error_code() == ErrorCode::UNAUTHENTICATED || error.error_code() == ErrorCode::PERMISSION_DENIED ||
         error.http_status() == 401 || error.http_status() == 403;
}

// One read through the same client every command uses: the store's own checks (schema, auth, the
// server's answers) decide, not a re-implementation of them here.
std::string probe_with_client(const std::string& uri) {
  MlflowClient client(uri);
  auto page = client.search_experiments(ViewType::ALL, 1000);
  std::string detail = std::to_string(page.items.size());
  if (!page.next_page_token.empty()) detail += "+";
  return detail + (page.items.size() == 1 ? " experiment" : " experiments") + " visible";
}

void check_sqlite(const std::string& uri, Report& report) {
  // sqlite:///relative.db or sqlite:////absolute.db, as SQLAlchemy spells them.
  std::string rest = uri.substr(std::string_view("sqlite://").size());
  if (const auto query = rest.find('?'); query != std::string::npos) rest.resize(query);
  if (rest.size() < 2 || rest.front() != '/') {
    report.fail("tracking URI", transport::redact_password(uri) + " names no file",
                "use sqlite:///relative/path.db or sqlite:////absolute/path.db");
    return;
  }
  const fs::path path = fs::absolute(fs::path(rest.substr(1)));
  report.ok("tracking URI", transport::redact_password(uri) + " (SQLite file store)");

  std::error_code error;
  const bool exists = fs::exists(path, error);
  if (!exists) {
    const fs::path dir = path.parent_path();
    if (!fs::is_directory(dir, error)) {
      report.fail("file", path.string() + " does not exist and its directory " + dir.string() + " is missing",
                  "create the directory (mkdir -p " + dir.string() + ") or choose another path");
    } else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      report.fail("file", path.string() + " does not exist and " + dir.string() + " is not writable",
                  "make the directory writable or choose another path");
    } else {
      report.ok("file", path.string() + " does not exist yet; it will be created on first use");
    }
    return;  // Nothing to open without creating it, and doctor changes nothing.
  }
  if (!fs::is_regular_file(path, error)) {
    report.fail("file", path.string() + " is not a regular file", "point the URI at an MLflow .db file");
    return;
  }
  if (::access(path.c_str(), R_OK | W_OK) != 0) {
    report.fail("file", path.string() + " is not readable and writable by this user",
                "fix its permissions (chmod u+rw) or use another file");
    return;
  }
  report.ok("file", path.string() + " (" + std::to_string(fs::file_size(path, error)) + " bytes, read-write)");

  try {
    report.ok("schema", "MLflow tracking tables readable; " + probe_with_client(uri));
  } catch (const std::exception& e) {
    report.fail("schema", e.what(),
                "use a file made by MLflow or by mlflow-cpp (or a new path); the file was left unchanged");
  }
}

// The credentials the server will see, in the order HttpClient picks its Authorization header:
// MLFLOW_TRACKING_USERNAME with MLFLOW_TRACKING_PASSWORD, then MLFLOW_TRACKING_TOKEN, then the tracking URI's
// "user:password@". Only names are shown; a password or token never is.
struct Credentials {
  bool present = false;
  std::string who;  ///< "basic auth as 'alice'", "bearer token", ...
  std::string how;  ///< who, with what the user should know about it (plain http, ignored URI credentials)
  std::string fix;  ///< what to check or set when the server refuses
};

Credentials credentials_in_use(const transport::Options& options, const transport::BaseUri& uri) {
  const bool env_basic = !options.username.empty() && !options.password.empty();
  const bool from_env = env_basic || !options.token.empty();
  const bool in_uri = !uri.userinfo_user.empty();
  if (!from_env && !in_uri) {
    return {false, "no credentials", "no credentials",
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"};
  }
  Credentials c;
  c.present = true;
  if (from_env) {
    c.who = env_basic ? "basic auth as '" + options.username + "'" : "bearer token";
    c.fix = "check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN";
  } else {
    c.who = "basic auth as '" + uri.userinfo_user + "' from the tracking URI";
    c.fix = "check the user name and password in the tracking URI (or set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD instead)";
  }
  c.how = c.who;
  if (!uri.tls) c.how += ", sent unencrypted over http";
  // Both set: name the one that is sent, so that nobody edits the other in vain.
  if (from_env && in_uri) c.how += "; the credentials in the tracking URI are not used";
  return c;
}

// Doctor should answer quickly: unless the user chose otherwise, one retry and a short deadline.
void bound_http_time(int timeout_seconds) {
  const std::string seconds = std::to_string(timeout_seconds);
  setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", seconds.c_str(), 0);
  setenv("MLFLOW_CPP_HTTP_TOTAL_TIMEOUT", seconds.c_str(), 0);
  setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1", 0);
  setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.5", 0);
  setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0", 0);
}

void check_http(const std::string& uri, int timeout_seconds, Report& report) {
  bound_http_time(timeout_seconds);
  const bool tls = has_prefix_ci(uri, "https://");

  std::unique_ptr<transport::HttpClient> http;
  transport::Options options;
  try {
    options = transport::Options::from_env();
    options.validate();
    http = std::make_unique<transport::HttpClient>(uri, options);
  } catch (const std::exception& e) {
    report.fail("configuration", e.what(), "fix the tracking URI or the MLFLOW_* variable named");
    return;
  }
  const std::string where = http->base_uri().display();
  report.ok("tracking URI",
            transport::redact_password(uri) + (tls ? " (MLflow server over HTTPS)" : " (MLflow server over HTTP)"));

  transport::Response version;
  try {
    version = http->send({"GET", "/version", "", ""});
  } catch (const MlflowError& e) {
    const bool tls_failed = tls && e.error_code() == ErrorCode::IO_ERROR &&
                            std::string_view(e.what()).find("TLS") != std::string_view::npos;
    if (tls_failed) {
      report.ok("reachable", http->base_uri().host_port() + " accepts connections");
      report.fail("TLS", e.what(),
                  "if the server uses a private CA set MLFLOW_TRACKING_SERVER_CERT_PATH=/path/ca.pem "
                  "(MLFLOW_TRACKING_INSECURE_TLS=true skips verification; not for production)");
    } else if (e.error_code() == ErrorCode::IO_ERROR) {
      report.ok("reachable", http->base_uri().host_port() + " accepts connections");
      report.fail("HTTP", e.what(), "check the scheme (http or https) and the port of the tracking URI");
    } else if (e.error_code() == ErrorCode::DEADLINE_EXCEEDED) {
      report.fail("reachable", e.what(),
                  "check that the server is up and not overloaded; MLFLOW_HTTP_REQUEST_TIMEOUT raises the deadline");
    } else {
      report.fail("reachable", e.what(), "check the host and port, that `mlflow server` is running, and proxies");
    }
    return;
  }
  report.ok("reachable", http->base_uri().host_port() + " answered in " + std::to_string(version.elapsed.count()) +
                             " ms");
  if (tls) {
    if (options.insecure_tls) {
      report.ok("TLS", "connected; certificate NOT verified (MLFLOW_TRACKING_INSECURE_TLS)");
    } else if (!options.server_cert_path.empty()) {
      report.ok("TLS", "certificate verified with " + options.server_cert_path);
    } else {
      report.ok("TLS", "certificate verified with the system CA store");
    }
  }

  const std::string body = trimmed(version.body);
  const bool looks_like_version =
      !body.empty() && body.size() < 64 && body.find('<') == std::string::npos && body.find('{') == std::string::npos;
  const Credentials credentials = credentials_in_use(options, http->base_uri());
  if (version.status == 401 || version.status == 403) {
    // MLflow's basic-auth app guards /version too, so this is where missing credentials show first.
    report.fail("auth",
                "GET /version answered " + std::to_string(version.status) +
                    (credentials.present ? ": the credentials were rejected (" + credentials.who + ")"
                                         : ": the server wants credentials"),
                credentials.fix);
    return;
  }
  if (version.status != 200 || !looks_like_version) {
    report.fail("MLflow version",
                "GET " + where + "/version answered " + std::to_string(version.status) +
                    (looks_like_version || body.empty() ? "" : " with something that is not a version") +
                    "; this does not look like an MLflow tracking server",
                "check the URL (scheme, port, path prefix) points at `mlflow server`");
    return;
  }
  report.ok("MLflow version", "MLflow " + body);

  try {
    const std::string visible = probe_with_client(uri);
    report.ok("auth", "experiments/search accepted (" + credentials.how + "); " + visible);
  } catch (const MlflowError& e) {
    if (is_auth_error(e)) {
      report.fail("auth", e.what(), credentials.fix);
    } else {
      report.fail("tracking API", e.what(), "check the server's log; the URL may point at the wrong path prefix");
    }
  } catch (const std::exception& e) {
    report.fail("tracking API", e.what(), "check the server's log");
  }
}

}  // namespace

void add_doctor_command(CLI::App& app, CliContext& ctx) {
  auto timeout = std::make_shared<int>(10);
  auto* doctor = app.add_subcommand(
      "doctor", "Check the tracking URI end to end (file and schema, or server, version, auth, TLS)");
  doctor->add_option("--timeout", *timeout, "Seconds each network check may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  doctor->callback([&ctx, timeout] {
    const std::string uri = ctx.tracking_uri();
    Report report;
    if (has_prefix_ci(uri, "sqlite://")) {
      check_sqlite(uri, report);
    } else if (has_prefix_ci(uri, "http://") || has_prefix_ci(uri, "https://")) {
      check_http(uri, *timeout, report);
    } else {
      report.fail("tracking URI", "'" + transport::redact_password(uri) + "' has a scheme mlflow-cpp does not support",
                  "use sqlite:///file.db, sqlite:////abs/file.db, http://host:port or https://host");
    }
    report.print(std::cout, transport::redact_password(uri), ctx.json);
    if (!report.all_ok()) ctx.exit_code = exit_code::error;
  });
}

}  // namespace mlflow::cli
