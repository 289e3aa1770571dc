#include "tracker/rest/rest_store.hpp"

#include <boost/json.hpp>
#include <functional>
#include <string_view>
#include <utility>

#include "mlflow/error.hpp"
#include "tracker/rest/batch_split.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/transport/http_client.hpp"

namespace mlflow::rest {

namespace json = boost::json;

namespace {

constexpr std::string_view API_PREFIX = "/api/2.0/mlflow/";

bool starts_with_ci(const std::string& s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = s[i];
    if (static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c) != prefix[i]) return false;
  }
  return true;
}

std::string snippet(std::string_view body) {
  constexpr std::size_t limit = 200;
  std::string out;
  for (char c : body.substr(0, limit)) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  if (body.size() > limit) out += "...";
  return out;
}

/// Query-string builder: percent-encoded values, repeated keys for lists (as Flask's request.args reads them).
class Query {
 public:
  Query& add(std::string_view key, std::string_view value) {
    text_ += text_.empty() ? '?' : '&';
    text_ += transport::percent_encode(key);
    text_ += '=';
    text_ += transport::percent_encode(value);
    return *this;
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400: return ErrorCode::BAD_REQUEST;
    case 401: return ErrorCode::UNAUTHENTICATED;
    case 403: return ErrorCode::PERMISSION_DENIED;
    case 404: return ErrorCode::ENDPOINT_NOT_FOUND;
    case 405: return ErrorCode::ENDPOINT_NOT_FOUND;
    case 408: return ErrorCode::DEADLINE_EXCEEDED;
    case 409: return ErrorCode::RESOURCE_CONFLICT;
    case 429: return ErrorCode::REQUEST_LIMIT_EXCEEDED;
    case 501: return ErrorCode::NOT_IMPLEMENTED;
    case 502: return ErrorCode::TEMPORARILY_UNAVAILABLE;
    case 503: return ErrorCode::TEMPORARILY_UNAVAILABLE;
    case 504: return ErrorCode::DEADLINE_EXCEEDED;
    default: return status >= 500 ? ErrorCode::INTERNAL_ERROR : ErrorCode::BAD_REQUEST;
  }
}

struct Endpoint {
  std::string_view method;
  std::string_view path;  // below /api/2.0/mlflow/
};

class Caller {
 public:
  explicit Caller(transport::HttpClient& http) : http_(http) {}

  /// Sends one request and returns the parsed JSON object of a 2xx answer; throws MlflowError otherwise.
  json::object call(Endpoint ep, const Query& query, const json::object* body) {
    transport::Request req;
    req.method = std::string(ep.method);
    req.target = std::string(API_PREFIX) + std::string(ep.path) + query.str();
    if (body != nullptr) {
      req.body = write_json(*body);
      req.content_type = "application/json";
    }
    transport::Response resp = http_.send(req);
    if (resp.status >= 200 && resp.status < 300) return success_body(ep, resp);
    fail(ep, resp);
  }

  /// POSTs an already encoded JSON body. The buffer is lent to the request and handed back (its capacity
  /// kept, its contents unchanged) so that the caller can reuse it for the next body.
  json::object post_encoded(std::string_view path, std::string& body) {
    const Endpoint ep{"POST", path};
    transport::Request req;
    req.method = "POST";
    req.target = std::string(API_PREFIX) + std::string(path);
    req.content_type = "application/json";
    req.body.swap(body);
    struct GiveBack {
      std::string& from;
      std::string& to;
      ~GiveBack() { from.swap(to); }
    } give_back{req.body, body};
    transport::Response resp = http_.send(req);
    if (resp.status >= 200 && resp.status < 300) return success_body(ep, resp);
    fail(ep, resp);
  }

  json::object get(std::string_view path, const Query& query) { return call({"GET", path}, query, nullptr); }
  json::object post(std::string_view path, const json::object& body) { return call({"POST", path}, Query(), &body); }

  /// Runs a decoder over an answer, turning a wrong field type into an MlflowError naming the endpoint.
  template <class F>
  auto decode(std::string_view path, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const DecodeError& e) {
      throw MlflowError(ErrorCode::INTERNAL_ERROR,
                        "Unexpected answer from the MLflow tracking server at " + http_.base_uri().host_port() +
                            " to " + asked_path(path) + ": " + e.what() +
                            ". Check that MLFLOW_TRACKING_URI points at an MLflow tracking server.");
    }
  }

  std::string asked_path(std::string_view path) const {
    return http_.base_uri().path_prefix + std::string(API_PREFIX) + std::string(path);
  }

 private:
  json::object success_body(Endpoint ep, const transport::Response& resp) {
    std::string_view body = resp.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
    // Armeria-based proxies (Databricks) answer a literal "200 OK" where MLflow sends {}; MLflow's client accepts it.
    if (body == "200 OK" || (body.empty() && resp.status != 200)) return json::object();
    json::value parsed;
    try {
      parsed = parse_json(body);
    } catch (const DecodeError& e) {
      const bool html = starts_with_ci(resp.content_type, "text/html");
      throw MlflowError(ErrorCode::INTERNAL_ERROR,
                        "Malformed answer from the MLflow tracking server at " + http_.base_uri().host_port() +
                            " to " + std::string(ep.method) + " " + asked_path(ep.path) + " (HTTP " +
                            std::to_string(resp.status) + "): " + (body.empty() ? "empty body" : e.what()) +
                            "; the body starts with: '" + snippet(body) + "'. " +
                            (html ? "An HTML page means " + http_.base_uri().display() +
                                        " does not look like an MLflow tracking server. "
                                  : std::string("The answer may have been cut off by the server or a proxy. ")) +
                            "Check MLFLOW_TRACKING_URI (scheme, host, port and path prefix).",
                        resp.status);
    }
    if (!parsed.is_object()) {
      throw MlflowError(ErrorCode::INTERNAL_ERROR,
                        "Unexpected answer from the MLflow tracking server at " + http_.base_uri().host_port() +
                            " to " + std::string(ep.method) + " " + asked_path(ep.path) +
                            ": expected a JSON object, got '" + snippet(body) +
                            "'. Check that MLFLOW_TRACKING_URI points at an MLflow tracking server.",
                        resp.status);
    }
    return std::move(parsed.get_object());
  }

  /// Throws the error of a non-2xx answer: a NotMlflowAnswer for a 4xx without MLflow's JSON error body that
  /// error_for does not already name (404/405: no such endpoint; 401/403: credentials).
  [[noreturn]] void fail(Endpoint ep, const transport::Response& resp) {
    MlflowError error = error_for(ep, resp);
    const bool mlflow_json = has_mlflow_error_body(resp.body);
    if (resp.status >= 400 && resp.status < 500 && !mlflow_json && resp.status != 404 && resp.status != 405 &&
        resp.status != 401 && resp.status != 403) {
      throw NotMlflowAnswer(error);
    }
    throw error;
  }

  static bool has_mlflow_error_body(const std::string& body) {
    try {
      const auto parsed = parse_json(body);
      return parsed.is_object() && parsed.get_object().contains("error_code") &&
             parsed.get_object().at("error_code").is_string();
    } catch (const DecodeError&) {
      return false;
    }
  }

  MlflowError error_for(Endpoint ep, const transport::Response& resp) {
    const std::string asked = std::string(ep.method) + " " + asked_path(ep.path);
    const std::string where = http_.base_uri().host_port();
    const std::string gave_up = resp.gave_up_reason.empty() ? std::string() : " (" + resp.gave_up_reason + ")";
    std::optional<json::value> parsed;
    try {
      parsed = parse_json(resp.body);
    } catch (const DecodeError&) {
    }
    if (parsed && parsed->is_object()) {
      const json::object& obj = parsed->get_object();
      auto code_it = obj.find("error_code");
      if (code_it != obj.end() && code_it->value().is_string()) {
        std::string message;
        if (auto m = obj.find("message"); m != obj.end() && m->value().is_string()) {
          message = std::string(m->value().get_string().data(), m->value().get_string().size());
        }
        const auto& code = code_it->value().get_string();
        return MlflowError(std::string(code.data(), code.size()), message + gave_up, resp.status);
      }
    }
    const std::string status_text = "HTTP " + std::to_string(resp.status) + (resp.reason.empty() ? "" : " " + resp.reason);
    if (resp.status == 404 || resp.status == 405) {
      return MlflowError(ErrorCode::ENDPOINT_NOT_FOUND,
                         asked + " answered " + status_text + " with a page that is not MLflow's JSON: " +
                             http_.base_uri().display() +
                             " does not look like an MLflow tracking server (or its MLflow version lacks this "
                             "endpoint). Check MLFLOW_TRACKING_URI, including any path prefix.",
                         resp.status);
    }
    if (resp.status == 401) {
      return MlflowError(ErrorCode::UNAUTHENTICATED,
                         "The MLflow tracking server at " + where + " requires authentication (" + status_text +
                             " for " + asked + "). Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                             "MLFLOW_TRACKING_TOKEN, to credentials it accepts.",
                         resp.status);
    }
    if (resp.status == 403) {
      return MlflowError(ErrorCode::PERMISSION_DENIED,
                         "The MLflow tracking server at " + where + " denied " + asked + " (" + status_text +
                             "): the configured user lacks permission for it.",
                         resp.status);
    }
    if (resp.status >= 300 && resp.status < 400) {
      return MlflowError(ErrorCode::BAD_REQUEST,
                         "The MLflow tracking server at " + where + " redirected " + asked + " (" + status_text +
                             (resp.location.empty() ? std::string() : " to " + resp.location) +
                             "); redirects are not followed. Set MLFLOW_TRACKING_URI to the final address.",
                         resp.status);
    }
    return MlflowError(code_for_status(resp.status),
                       status_text + " from the MLflow tracking server at " + where + " for " + asked + gave_up +
                           (resp.body.empty() ? std::string() : ": " + snippet(resp.body)),
                       resp.status);
  }

  transport::HttpClient& http_;
};

json::array string_array(const std::vector<std::string>& values) {
  json::array a;
  for (const auto& v : values) a.emplace_back(v);
  return a;
}

}  // namespace

RestStore::RestStore(const std::string& tracking_uri) : RestStore(tracking_uri, transport::Options::from_env()) {}

RestStore::RestStore(const std::string& tracking_uri, transport::Options options)
    : http_(std::make_unique<transport::HttpClient>(tracking_uri, std::move(options))) {}

RestStore::~RestStore() = default;

bool RestStore::handles(const std::string& tracking_uri) {
  return starts_with_ci(tracking_uri, "http://") || starts_with_ci(tracking_uri, "https://");
}

// ---- experiments ----

std::string RestStore::create_experiment(const std::string& name, const std::optional<std::string>& artifact_location,
                                         const std::vector<ExperimentTag>& tags) {
  json::object body;
  body["name"] = name;
  if (artifact_location && !artifact_location->empty()) body["artifact_location"] = *artifact_location;
  if (!tags.empty()) {
    json::array a;
    for (const auto& t : tags) a.push_back(encode_key_value(t.key, t.value));
    body["tags"] = std::move(a);
  }
  Caller c(*http_);
  auto resp = c.post("experiments/create", body);
  return c.decode("experiments/create", [&] { return get_string(resp, "experiment_id"); });
}

Experiment RestStore::get_experiment(const std::string& experiment_id) {
  Caller c(*http_);
  auto resp = c.get("experiments/get", Query().add("experiment_id", experiment_id));
  return c.decode("experiments/get", [&] { return decode_experiment(get_object(resp, "experiment")); });
}

std::optional<Experiment> RestStore::get_experiment_by_name(const std::string& name) {
  Caller c(*http_);
  json::object resp;
  try {
    resp = c.get("experiments/get-by-name", Query().add("experiment_name", name));
  } catch (const MlflowError& e) {
    if (e.error_code() == ErrorCode::RESOURCE_DOES_NOT_EXIST && e.http_status() == 404) return std::nullopt;
    throw;
  }
  return c.decode("experiments/get-by-name", [&] { return decode_experiment(get_object(resp, "experiment")); });
}

PagedList<Experiment> RestStore::search_experiments(ViewType view_type, std::int64_t max_results,
                                                    const std::string& filter_string,
                                                    const std::vector<std::string>& order_by,
                                                    const std::string& page_token) {
  json::object body;
  // Always sent: without it the server reads 0 and answers 400.
  body["max_results"] = max_results;
  body["view_type"] = std::string(to_string(view_type));
  if (!filter_string.empty()) body["filter"] = filter_string;
  if (!order_by.empty()) body["order_by"] = string_array(order_by);
  if (!page_token.empty()) body["page_token"] = page_token;
  Caller c(*http_);
  auto resp = c.post("experiments/search", body);
  return c.decode("experiments/search", [&] {
    PagedList<Experiment> out;
    for (const auto& e : get_array(resp, "experiments")) out.items.push_back(decode_experiment(as_object(e, "experiments[]")));
    out.next_page_token = get_string(resp, "next_page_token");
    return out;
  });
}

void RestStore::rename_experiment(const std::string& experiment_id, const std::string& new_name) {
  json::object body;
  body["experiment_id"] = experiment_id;
  body["new_name"] = new_name;
  Caller(*http_).post("experiments/update", body);
}

void RestStore::delete_experiment(const std::string& experiment_id) {
  json::object body;
  body["experiment_id"] = experiment_id;
  Caller(*http_).post("experiments/delete", body);
}

void RestStore::restore_experiment(const std::string& experiment_id) {
  json::object body;
  body["experiment_id"] = experiment_id;
  Caller(*http_).post("experiments/restore", body);
}

void RestStore::set_experiment_tag(const std::string& experiment_id, const ExperimentTag& tag) {
  json::object body;
  body["experiment_id"] = experiment_id;
  body["key"] = tag.key;
  body["value"] = tag.value;
  Caller(*http_).post("experiments/set-experiment-tag", body);
}

// ---- runs ----

Run RestStore::create_run(const std::string& experiment_id, const std::string& user_id, std::int64_t start_time,
                          const std::vector<RunTag>& tags, const std::string& run_name) {
  json::object body;
  body["experiment_id"] = experiment_id;
  if (!user_id.empty()) body["user_id"] = user_id;
  // Always sent: the server stores 0 when it is missing.
  body["start_time"] = start_time;
  if (!tags.empty()) {
    json::array a;
    for (const auto& t : tags) a.push_back(encode_key_value(t.key, t.value));
    body["tags"] = std::move(a);
  }
  if (!run_name.empty()) body["run_name"] = run_name;
  Caller c(*http_);
  auto resp = c.post("runs/create", body);
  return c.decode("runs/create", [&] { return decode_run(get_object(resp, "run")); });
}

Run RestStore::get_run(const std::string& run_id) {
  Caller c(*http_);
  auto resp = c.get("runs/get", Query().add("run_id", run_id));
  return c.decode("runs/get", [&] { return decode_run(get_object(resp, "run")); });
}

RunInfo RestStore::update_run_info(const std::string& run_id, std::optional<RunStatus> status,
                                   std::optional<std::int64_t> end_time, const std::optional<std::string>& run_name) {
  json::object body;
  body["run_id"] = run_id;
  if (status) body["status"] = std::string(to_string(*status));
  if (end_time) body["end_time"] = *end_time;
  if (run_name) body["run_name"] = *run_name;
  Caller c(*http_);
  auto resp = c.post("runs/update", body);
  return c.decode("runs/update", [&] { return decode_run_info(get_object(resp, "run_info")); });
}

void RestStore::delete_run(const std::string& run_id) {
  json::object body;
  body["run_id"] = run_id;
  Caller(*http_).post("runs/delete", body);
}

void RestStore::restore_run(const std::string& run_id) {
  json::object body;
  body["run_id"] = run_id;
  Caller(*http_).post("runs/restore", body);
}

void RestStore::delete_tag(const std::string& run_id, const std::string& key) {
  json::object body;
  body["run_id"] = run_id;
  body["key"] = key;
  Caller(*http_).post("runs/delete-tag", body);
}

void RestStore::log_batch(const std::string& run_id, const std::vector<Metric>& metrics,
                          const std::vector<Param>& params, const std::vector<RunTag>& tags) {
  // Encoded straight into one buffer per thread, kept across calls: the uploader sends thousands of
  // 1000-metric bodies, and a JSON tree per metric cost more than the HTTP exchange.
  thread_local std::string body;
  Caller c(*http_);
  for (const BatchChunk& chunk : split_log_batch(metrics, params, tags)) {
    body.clear();
    body += "{\"run_id\":";
    append_json_string(body, run_id);
    if (chunk.metrics_end > chunk.metrics_begin) {
      body += ",\"metrics\":[";
      for (std::size_t i = chunk.metrics_begin; i < chunk.metrics_end; ++i) {
        if (i != chunk.metrics_begin) body += ',';
        append_metric_json(body, metrics[i]);
      }
      body += ']';
    }
    if (chunk.params_end > chunk.params_begin) {
      body += ",\"params\":[";
      for (std::size_t i = chunk.params_begin; i < chunk.params_end; ++i) {
        if (i != chunk.params_begin) body += ',';
        append_key_value_json(body, params[i].key, params[i].value);
      }
      body += ']';
    }
    if (chunk.tags_end > chunk.tags_begin) {
      body += ",\"tags\":[";
      for (std::size_t i = chunk.tags_begin; i < chunk.tags_end; ++i) {
        if (i != chunk.tags_begin) body += ',';
        append_key_value_json(body, tags[i].key, tags[i].value);
      }
      body += ']';
    }
    body += '}';
    c.post_encoded("runs/log-batch", body);
  }
}

void RestStore::begin_metrics_body(std::string& body, std::string_view run_id) {
  body.clear();
  body += "{\"run_id\":";
  append_json_string(body, run_id);
  body += ",\"metrics\":[";
}

void RestStore::end_metrics_body(std::string& body) { body += "]}"; }

void RestStore::post_log_batch(std::string& body) { Caller(*http_).post_encoded("runs/log-batch", body); }

std::vector<Metric> RestStore::get_metric_history(const std::string& run_id, const std::string& key) {
  Caller c(*http_);
  std::vector<Metric> out;
  std::string token;
  for (;;) {
    Query q;
    q.add("run_id", run_id).add("metric_key", key).add("max_results", std::to_string(METRIC_HISTORY_PAGE_SIZE));
    if (!token.empty()) q.add("page_token", token);
    auto resp = c.get("metrics/get-history", q);
    std::string next;
    const std::size_t page_size = c.decode("metrics/get-history", [&] {
      const auto& page = get_array(resp, "metrics");
      for (const auto& m : page) out.push_back(decode_metric(as_object(m, "metrics[]")));
      next = get_string(resp, "next_page_token");
      return page.size();
    });
    // MLflow 3.x without max_results answers an empty page and a token for the same offset; never loop on that.
    if (next.empty() || page_size == 0 || next == token) break;
    token = std::move(next);
  }
  return out;
}

PagedList<Run> RestStore::search_runs(const std::vector<std::string>& experiment_ids, const std::string& filter_string,
                                      ViewType run_view_type, std::int64_t max_results,
                                      const std::vector<std::string>& order_by, const std::string& page_token) {
  json::object body;
  body["experiment_ids"] = string_array(experiment_ids);
  if (!filter_string.empty()) body["filter"] = filter_string;
  body["run_view_type"] = std::string(to_string(run_view_type));
  body["max_results"] = max_results;
  if (!order_by.empty()) body["order_by"] = string_array(order_by);
  if (!page_token.empty()) body["page_token"] = page_token;
  Caller c(*http_);
  auto resp = c.post("runs/search", body);
  return c.decode("runs/search", [&] {
    PagedList<Run> out;
    for (const auto& r : get_array(resp, "runs")) out.items.push_back(decode_run(as_object(r, "runs[]")));
    out.next_page_token = get_string(resp, "next_page_token");
    return out;
  });
}

// ---- one-entity endpoints ----

void RestStore::log_metric_single(const std::string& run_id, const Metric& metric) {
  json::object body;
  body["run_id"] = run_id;
  for (auto& kv : encode_metric(metric)) body[kv.key()] = kv.value();
  Caller(*http_).post("runs/log-metric", body);
}

void RestStore::log_param_single(const std::string& run_id, const Param& param) {
  json::object body;
  body["run_id"] = run_id;
  body["key"] = param.key;
  body["value"] = param.value;
  Caller(*http_).post("runs/log-parameter", body);
}

void RestStore::set_tag_single(const std::string& run_id, const RunTag& tag) {
  json::object body;
  body["run_id"] = run_id;
  body["key"] = tag.key;
  body["value"] = tag.value;
  Caller(*http_).post("runs/set-tag", body);
}

}  // namespace mlflow::rest
