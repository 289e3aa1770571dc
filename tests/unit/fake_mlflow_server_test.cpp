// The fake MLflow server against the recorded transcripts of real servers, through a plain HTTP client.

#include "support/fake_mlflow_server.hpp"
#include "support/test_http_client.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace mlflow::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------------------------
// helpers

struct Reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  json::value json;  // null when the body is not JSON

  const json::object& obj() const { return json.as_object(); }
};

json::value parse_or_null(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value() : v;
}

/// A client bound to one fake server: paths are relative to /api/2.0/mlflow/ unless they start with '/'.
class Api {
 public:
  explicit Api(const FakeMlflowServer& server) : client_("127.0.0.1", server.port(), options_for(server)) {}

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const std::map<std::string, std::string>& headers = {}) {
    const std::string target = path.rfind('/', 0) == 0 ? path : "/api/2.0/mlflow/" + path;
    HttpResult r = client_.request(method, target, body, headers);
    return Reply{r.status, r.body, r.headers, parse_or_null(r.body)};
  }
  Reply post(const std::string& path, const std::string& body) { return call("POST", path, body); }
  Reply get(const std::string& path) { return call("GET", path); }

  std::string create_experiment(const std::string& name) {
    const Reply r = post("experiments/create", R"({"name":")" + name + R"("})");
    EXPECT_EQ(r.status, 200) << r.body;
    return std::string(r.obj().at("experiment_id").as_string());
  }
  std::string create_run(const std::string& experiment_id, const std::string& extra = R"(,"start_time":1000)") {
    const Reply r = post("runs/create", R"({"experiment_id":")" + experiment_id + "\"" + extra + "}");
    EXPECT_EQ(r.status, 200) << r.body;
    return std::string(r.obj().at("run").at("info").at("run_id").as_string());
  }

  TestHttpClient& client() { return client_; }

 private:
  static TestHttpClient::Options options_for(const FakeMlflowServer& server) {
    TestHttpClient::Options o;
    o.tls = server.options().tls;
    o.ca_pem = server.cert_pem();
    return o;
  }
  TestHttpClient client_;
};

void expect_json(const Reply& r, int status, const std::string& expected_json) {
  EXPECT_EQ(r.status, status) << r.body;
  const json::value expected = json::parse(expected_json);
  EXPECT_EQ(r.json, expected) << "actual:   " << r.body << "\nexpected: " << expected_json;
}

void expect_error(const Reply& r, int status, const std::string& code, const std::string& message) {
  EXPECT_EQ(r.status, status) << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.obj().at("error_code").as_string(), code) << r.body;
  EXPECT_EQ(r.obj().at("message").as_string(), message) << r.body;
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Masks what legitimately differs between two servers: 32-hex run ids, 13-digit millisecond times, and (when
// asked) generated run names.
std::string mask(const std::string& s, bool run_names) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && is_hex(s[j])) ++j;
    const bool bounded = (i == 0 || !is_hex(s[i - 1]));
    if (bounded && j - i == 32) {
      out += "<id>";
      i = j;
      continue;
    }
    std::size_t k = i;
    while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
    if (bounded && k - i == 13 && (k == s.size() || !is_hex(s[k]))) {
      out += "<ms>";
      i = k;
      continue;
    }
    out.push_back(s[i]);
    ++i;
  }
  if (run_names) {
    // adjective-animal-NNN
    std::string masked;
    std::size_t p = 0;
    while (p < out.size()) {
      std::size_t a = p;
      while (a < out.size() && std::islower(static_cast<unsigned char>(out[a]))) ++a;
      std::size_t b = a < out.size() && out[a] == '-' && a > p ? a + 1 : std::string::npos;
      std::size_t c = b;
      if (b != std::string::npos) {
        while (c < out.size() && std::islower(static_cast<unsigned char>(out[c]))) ++c;
      }
      std::size_t d = (c != std::string::npos && c > b && c < out.size() && out[c] == '-') ? c + 1 : std::string::npos;
      std::size_t e = d;
      if (d != std::string::npos) {
        while (e < out.size() && std::isdigit(static_cast<unsigned char>(out[e]))) ++e;
      }
      if (d != std::string::npos && e > d && (p == 0 || out[p - 1] == '"')) {
        masked += "<name>";
        p = e;
        continue;
      }
      masked.push_back(out[p]);
      ++p;
    }
    out = masked;
  }
  return out;
}

void normalize(json::value& v) {
  if (v.is_object()) {
    for (auto& kv : v.as_object()) {
      if (kv.key() == "creation_time" || kv.key() == "last_update_time") {
        kv.value() = 0;
      } else {
        normalize(kv.value());
      }
    }
  } else if (v.is_array()) {
    for (auto& x : v.as_array()) normalize(x);
  } else if (v.is_string()) {
    v = mask(std::string(v.as_string()), false);
  }
}

// The transcript tool collapsed pretty JSON onto one line: a newline plus indentation became one space.
std::string collapse(const std::string& pretty) {
  std::string out;
  for (std::size_t i = 0; i < pretty.size(); ++i) {
    if (pretty[i] != '\n') {
      out.push_back(pretty[i]);
      continue;
    }
    std::size_t j = i + 1;
    while (j < pretty.size() && pretty[j] == ' ') ++j;
    if (j > i + 1) out.push_back(' ');
    i = j - 1;
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

struct Exchange {
  std::string title;
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;
  int status = 0;
  std::string response;
};

// rest-walkthrough-*.txt: "### METHOD TARGET", ">>> body", "<<< STATUS body..." (body may span lines).
std::vector<Exchange> parse_walkthrough(const std::string& text) {
  std::vector<Exchange> out;
  std::istringstream in(text);
  std::string line;
  std::optional<Exchange> current;
  bool in_body = false;
  const auto flush = [&] {
    if (current) out.push_back(*current);
    current.reset();
    in_body = false;
  };
  while (std::getline(in, line)) {
    if (line.rfind("### ", 0) == 0) {
      flush();
      std::istringstream words(line.substr(4));
      Exchange ex;
      words >> ex.method >> ex.target;
      if (ex.method == "GET" || ex.method == "POST" || ex.method == "PUT") {
        ex.title = line;
        current = ex;
      }
    } else if (current && line.rfind(">>> ", 0) == 0) {
      current->body = line.substr(4);
    } else if (current && line.rfind("<<< ", 0) == 0) {
      current->status = std::stoi(line.substr(4, 3));
      current->response = line.size() > 8 ? line.substr(8) : "";
      in_body = true;
    } else if (current && in_body && !line.empty()) {
      current->response += "\n" + line;
    } else if (line.empty()) {
      in_body = false;
    }
  }
  flush();
  return out;
}

// edge-cases-*.txt: "## title", "METHOD TARGET [body]", "-> STATUS body" (one line, cut at 400 characters).
std::vector<Exchange> parse_edge_cases(const std::string& text) {
  std::vector<Exchange> out;
  std::istringstream in(text);
  std::string line;
  std::string title;
  std::optional<Exchange> current;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      title = line.substr(3);
    } else if (line.rfind("-> ", 0) == 0 && current) {
      current->status = std::stoi(line.substr(3, 3));
      current->response = line.size() > 7 ? line.substr(7) : "";
      out.push_back(*current);
      current.reset();
    } else if (line.rfind("GET ", 0) == 0 || line.rfind("POST ", 0) == 0) {
      Exchange ex;
      ex.title = title;
      const auto sp1 = line.find(' ');
      const auto sp2 = line.find(' ', sp1 + 1);
      ex.method = line.substr(0, sp1);
      ex.target = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
      ex.body = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
      if (title == "POST without Content-Type") ex.headers["Content-Type"] = "";
      if (title == "POST with text/plain") ex.headers["Content-Type"] = "text/plain";
      if (title == "POST application/json; charset=utf-8") ex.headers["Content-Type"] = "application/json; charset=utf-8";
      current = ex;
    }
  }
  return out;
}

/// Sends every exchange and compares status and body. `run_id` maps the transcript's run id to ours; a
/// runs/create answer names our run.
void replay(FakeMlflowServer& server, const std::vector<Exchange>& exchanges, std::string transcript_run_id,
            std::string our_run_id, const std::string& artifact_body) {
  Api api(server);
  std::size_t compared_json = 0;
  std::size_t compared_prefix = 0;
  for (const Exchange& ex : exchanges) {
    SCOPED_TRACE(ex.title + " " + ex.method + " " + ex.target);
    std::string body = ex.method == "PUT" ? artifact_body : ex.body;
    std::map<std::string, std::string> headers = ex.headers;
    if (ex.method == "PUT") headers["Content-Type"] = "text/plain";
    body = replace_all(body, transcript_run_id, our_run_id);
    const std::string target = replace_all(ex.target, transcript_run_id, our_run_id);
    const Reply r = api.call(ex.method, target, body, headers);
    EXPECT_EQ(r.status, ex.status) << r.body;
    if (ex.target.find("/runs/create") != std::string::npos && r.status == 200 && transcript_run_id.empty()) {
      // the walkthrough's single run: learn both ids from the answers
      const auto expected = parse_or_null(ex.response);
      transcript_run_id = std::string(expected.at("run").at("info").at("run_id").as_string());
      our_run_id = std::string(r.obj().at("run").at("info").at("run_id").as_string());
    }
    if (ex.response.empty()) continue;
    json::value expected = parse_or_null(ex.response);
    if (!expected.is_null() && (ex.response.front() == '{' || ex.response.front() == '[')) {
      ASSERT_FALSE(r.json.is_null()) << r.body;
      json::value actual = r.json;
      normalize(expected);
      normalize(actual);
      EXPECT_EQ(actual, expected) << "actual:   " << r.body << "\nexpected: " << ex.response;
      ++compared_json;
    } else if (ex.response.front() == '{') {
      // cut by the transcript tool: compare the part that was kept
      const std::string got = mask(collapse(r.body), true);
      std::string want = mask(ex.response, true);
      want.resize(want.find_last_of(" ,"));  // the cut may fall inside a generated name
      EXPECT_EQ(got.substr(0, want.size()), want) << "actual: " << r.body;
      ++compared_prefix;
    } else {
      EXPECT_EQ(replace_all(trim(r.body), "\n", ""), trim(ex.response));
    }
  }
  EXPECT_GE(compared_json, 20u);
  (void)compared_prefix;
}

std::string transcript(const std::string& name) {
  return read_file(std::string(MLFLOW_TEST_DATA_DIR) + "/transcripts/" + name);
}

// ---------------------------------------------------------------------------------------------------------------
// transcripts

TEST(FakeMlflowServer, ReplaysTheRestWalkthroughOf2_17) {
  FakeMlflowServer server;
  const auto exchanges = parse_walkthrough(transcript("rest-walkthrough-2.17.2.txt"));
  ASSERT_GE(exchanges.size(), 28u);
  replay(server, exchanges, "", "", "hello from curl\n");
  // gunicorn closes every connection
  const auto requests = server.requests();
  EXPECT_EQ(server.loopback().connections_accepted(), requests.size());
}

TEST(FakeMlflowServer, ReplaysTheRestWalkthroughOf3_3) {
  FakeMlflowOptions options;
  options.flavor = MlflowFlavor::v3_3;
  FakeMlflowServer server(options);
  const auto exchanges = parse_walkthrough(transcript("rest-walkthrough-3.3.txt"));
  ASSERT_GE(exchanges.size(), 28u);
  replay(server, exchanges, "", "", "hello from curl\n");
  EXPECT_EQ(server.loopback().connections_accepted(), 1u);  // uvicorn keeps the connection alive
}

void replay_edge_cases(MlflowFlavor flavor, const std::string& file) {
  FakeMlflowOptions options;
  options.flavor = flavor;
  FakeMlflowServer server(options);
  const std::string text = transcript(file);
  // The session's setup (not in the file): experiment "edge-..." and one run without start time.
  const auto run_pos = text.find("# experiment 1 run ");
  ASSERT_NE(run_pos, std::string::npos);
  const std::string transcript_run = text.substr(run_pos + 19, 32);
  const auto name_pos = text.find("\"name\": \"edge-");
  const std::string experiment = text.substr(name_pos + 9, text.find('"', name_pos + 9) - name_pos - 9);
  const auto run_name_pos = text.find("\"run_name\": \"");
  const std::string run_name = text.substr(run_name_pos + 13, text.find('"', run_name_pos + 13) - run_name_pos - 13);
  Api api(server);
  ASSERT_EQ(api.create_experiment(experiment), "1");
  const std::string run = api.create_run("1", R"(,"run_name":")" + run_name + "\"");
  server.loopback().clear_requests();
  const auto exchanges = parse_edge_cases(text);
  ASSERT_GE(exchanges.size(), 30u);
  replay(server, exchanges, transcript_run, run, "");
}

TEST(FakeMlflowServer, ReplaysTheEdgeCasesOf2_17) { replay_edge_cases(MlflowFlavor::v2_17, "edge-cases-2.17.2.txt"); }
TEST(FakeMlflowServer, ReplaysTheEdgeCasesOf3_3) { replay_edge_cases(MlflowFlavor::v3_3, "edge-cases-3.3.txt"); }

// ---------------------------------------------------------------------------------------------------------------
// experiments (validation-cases transcripts)

TEST(FakeMlflowServer, ExperimentCreateGetAndErrors) {
  FakeMlflowServer server;
  Api api(server);
  expect_json(api.post("experiments/create", R"({"name": "exp1", "tags": [{"key": "t", "value": "v"}]})"), 200,
              R"({"experiment_id": "1"})");
  const Reply dup = api.post("experiments/create", R"({"name": "exp1"})");
  EXPECT_EQ(dup.status, 400);
  EXPECT_EQ(dup.obj().at("error_code"), "RESOURCE_ALREADY_EXISTS");
  EXPECT_EQ(std::string(dup.obj().at("message").as_string()).rfind("Experiment(name=exp1) already exists. Error: ", 0),
            0u);
  expect_error(api.post("experiments/create", "{}"), 400, "INVALID_PARAMETER_VALUE",
               "Missing value for required parameter 'name'. See the API docs for more information about request "
               "parameters.");
  expect_error(api.post("experiments/create", R"({"name": ")" + std::string(501, 'n') + "\"}"), 400,
               "INVALID_PARAMETER_VALUE", "'name' exceeds the maximum length of 500 characters");
  expect_error(api.post("experiments/create", R"({"name": "frag", "artifact_location": "s3://b/x#y"})"), 400,
               "INVALID_PARAMETER_VALUE", "'artifact_location' URL can't include fragments or params.");
  const Reply got = api.get("experiments/get?experiment_id=1");
  EXPECT_EQ(got.status, 200);
  const auto& e = got.obj().at("experiment").as_object();
  EXPECT_EQ(e.at("name"), "exp1");
  EXPECT_EQ(e.at("artifact_location"), "mlflow-artifacts:/1");
  EXPECT_EQ(e.at("lifecycle_stage"), "active");
  EXPECT_TRUE(e.at("creation_time").is_int64());
  EXPECT_EQ(e.at("tags"), json::parse(R"([{"key": "t", "value": "v"}])"));
  expect_error(api.get("experiments/get?experiment_id=999"), 404, "RESOURCE_DOES_NOT_EXIST",
               "No Experiment with id=999 exists");
  expect_error(api.get("experiments/get-by-name?experiment_name=nope"), 404, "RESOURCE_DOES_NOT_EXIST",
               "Could not find experiment with name 'nope'");
  // pretty-printed as json.dumps(indent=2)
  EXPECT_EQ(api.post("experiments/create", R"({"name": "exp2"})").body, "{\n  \"experiment_id\": \"2\"\n}");
  const auto stored = server.experiment_by_name("exp1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->experiment_id, "1");
  EXPECT_EQ(server.experiments().size(), 3u);
}

TEST(FakeMlflowServer, ExperimentSearchNeedsMaxResultsAndPages) {
  FakeMlflowServer server;
  Api api(server);
  api.create_experiment("exp1");
  const std::string no_max =
      "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer";
  expect_error(api.get("experiments/search"), 400, "INVALID_PARAMETER_VALUE", no_max);
  expect_error(api.post("experiments/search", "{}"), 400, "INVALID_PARAMETER_VALUE", no_max);
  expect_error(api.post("experiments/search", R"({"max_results": 50001})"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000");
  const Reply first = api.post("experiments/search", R"({"max_results": 1, "view_type": "ALL"})");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.obj().at("experiments").as_array().size(), 1u);
  EXPECT_EQ(first.obj().at("experiments").at(0).at("experiment_id"), "1");
  EXPECT_EQ(first.obj().at("next_page_token"), "eyJvZmZzZXQiOiAxfQ==");
  const Reply second = api.get("experiments/search?max_results=1&page_token=eyJvZmZzZXQiOiAxfQ%3D%3D");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.obj().at("experiments").at(0).at("name"), "Default");
  EXPECT_FALSE(second.obj().contains("next_page_token"));
  const Reply all = api.get("experiments/search?max_results=10&view_type=3");
  EXPECT_EQ(all.obj().at("experiments").as_array().size(), 2u);
  const Reply filtered = api.post("experiments/search", R"({"max_results": 10, "filter": "name = 'exp1'"})");
  ASSERT_EQ(filtered.status, 200) << filtered.body;
  EXPECT_EQ(filtered.obj().at("experiments").as_array().size(), 1u);
  const Reply none = api.post("experiments/search", R"({"max_results": 10, "view_type": "DELETED_ONLY"})");
  expect_json(none, 200, "{}");
  EXPECT_EQ(none.body, "{}");
}

TEST(FakeMlflowServer, ExperimentLifecycleMatrix) {
  FakeMlflowServer server;
  Api api(server);
  api.create_experiment("exp1");
  const std::string run = api.create_run("1");
  expect_json(api.post("experiments/update", R"({"experiment_id": "1", "new_name": "exp1-renamed"})"), 200, "{}");
  api.create_experiment("exp2");
  const Reply clash = api.post("experiments/update", R"({"experiment_id": "1", "new_name": "exp2"})");
  EXPECT_EQ(clash.status, 400);
  EXPECT_EQ(clash.obj().at("error_code"), "BAD_REQUEST");
  expect_error(api.post("experiments/update", R"({"experiment_id": "1", "new_name": ""})"), 400,
               "INVALID_PARAMETER_VALUE",
               "Missing value for required parameter 'new_name'. See the API docs for more information about "
               "request parameters.");
  expect_json(api.post("experiments/delete", R"({"experiment_id": "1"})"), 200, "{}");
  EXPECT_EQ(server.run(run)->info.lifecycle_stage, "deleted");
  EXPECT_TRUE(server.run_deleted_time(run).has_value());
  expect_error(api.post("experiments/delete", R"({"experiment_id": "1"})"), 404, "RESOURCE_DOES_NOT_EXIST",
               "No Experiment with id=1 exists");
  const Reply again = api.post("experiments/create", R"({"name": "exp1-renamed"})");
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.obj().at("error_code"), "RESOURCE_ALREADY_EXISTS");
  const Reply by_name = api.get("experiments/get-by-name?experiment_name=exp1-renamed");
  EXPECT_EQ(by_name.status, 200);
  EXPECT_EQ(by_name.obj().at("experiment").at("lifecycle_stage"), "deleted");
  expect_error(api.post("runs/create", R"({"experiment_id": "1"})"), 400, "INVALID_PARAMETER_VALUE",
               "The experiment 1 must be in the 'active' state. Current state is deleted.");
  expect_error(api.post("experiments/update", R"({"experiment_id": "1", "new_name": "x"})"), 500, "INVALID_STATE",
               "Cannot rename a non-active experiment.");
  expect_error(api.post("experiments/set-experiment-tag", R"({"experiment_id": "1", "key": "k", "value": "v"})"),
               400, "INVALID_PARAMETER_VALUE",
               "The experiment 1 must be in the 'active' state. Current state is deleted.");
  expect_json(api.post("experiments/restore", R"({"experiment_id": "1"})"), 200, "{}");
  EXPECT_EQ(server.run(run)->info.lifecycle_stage, "active");
  EXPECT_FALSE(server.run_deleted_time(run).has_value());
  expect_error(api.post("experiments/restore", R"({"experiment_id": "1"})"), 404, "RESOURCE_DOES_NOT_EXIST",
               "No Experiment with id=1 exists");
  expect_json(api.post("experiments/delete", R"({"experiment_id": "0"})"), 200, "{}");
  EXPECT_EQ(server.experiment("0")->lifecycle_stage, "deleted");
}

TEST(FakeMlflowServer, ExperimentTags) {
  FakeMlflowServer server;
  Api api(server);
  api.create_experiment("e");
  expect_json(api.post("experiments/set-experiment-tag", R"({"experiment_id": "1", "key": "k", "value": "v1"})"),
              200, "{}");
  api.post("experiments/set-experiment-tag", R"({"experiment_id": "1", "key": "k", "value": "v2"})");
  EXPECT_EQ(server.experiment("1")->tags, (std::vector<ExperimentTag>{{"k", "v2"}}));
  const std::string long_value(5001, 'x');
  expect_error(
      api.post("experiments/set-experiment-tag", R"({"experiment_id": "1", "key": "k", "value": ")" + long_value + "\"}"),
      400, "INVALID_PARAMETER_VALUE",
      "Tag value '" + long_value + "' had length 5001, which exceeded length limit of 5000");
  // delete-experiment-tag exists only in 3.x
  EXPECT_EQ(api.post("experiments/delete-experiment-tag", R"({"experiment_id": "1", "key": "k"})").status, 404);

  FakeMlflowOptions v3;
  v3.flavor = MlflowFlavor::v3_3;
  FakeMlflowServer server3(v3);
  Api api3(server3);
  api3.create_experiment("e");
  expect_error(
      api3.post("experiments/set-experiment-tag", R"({"experiment_id": "1", "key": "k", "value": ")" + long_value + "\"}"),
      400, "INVALID_PARAMETER_VALUE", "'value' exceeds the maximum length of 5000 characters");
  api3.post("experiments/set-experiment-tag", R"({"experiment_id": "1", "key": "k", "value": "v"})");
  expect_json(api3.post("experiments/delete-experiment-tag", R"({"experiment_id": "1", "key": "k"})"), 200, "{}");
  EXPECT_TRUE(server3.experiment("1")->tags.empty());
  EXPECT_EQ(api3.post("experiments/delete-experiment-tag", R"({"experiment_id": "1", "key": "k"})").status, 404);
  expect_error(api3.get("experiments/get?experiment_id=abc"), 500, "INTERNAL_ERROR",
               "invalid literal for int() with base 10: 'abc'");
}

// ---------------------------------------------------------------------------------------------------------------
// runs

TEST(FakeMlflowServer, RunCreateNamesIdsAndErrors) {
  FakeMlflowServer server;
  Api api(server);
  api.create_experiment("e");
  const Reply r = api.post("runs/create", R"({"experiment_id": "1", "start_time": 1700000000000})");
  ASSERT_EQ(r.status, 200);
  const auto& info = r.obj().at("run").at("info").as_object();
  const std::string id(info.at("run_id").as_string());
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(info.at("run_uuid"), info.at("run_id"));
  EXPECT_EQ(info.at("artifact_uri"), json::value("mlflow-artifacts:/1/" + id + "/artifacts"));
  EXPECT_EQ(info.at("user_id"), "");
  EXPECT_EQ(info.at("status"), "RUNNING");
  EXPECT_EQ(info.at("start_time"), 1700000000000);
  EXPECT_FALSE(info.contains("end_time"));
  const std::string name(info.at("run_name").as_string());
  EXPECT_FALSE(name.empty());
  EXPECT_EQ(r.obj().at("run").at("data"), json::parse(R"({"tags": [{"key": "mlflow.runName", "value": ")" + name + "\"}]}"));
  EXPECT_FALSE(r.obj().at("run").as_object().contains("inputs"));  // 2.17 create has none
  EXPECT_NE(api.create_run("1"), id);

  const Reply named = api.post(
      "runs/create",
      R"({"experiment_id": 1, "start_time": "1700000000001", "run_name": "named", "user_id": "u", "tags": [{"key": "mlflow.user", "value": "alice"}]})");
  ASSERT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(named.obj().at("run").at("info").at("start_time"), 1700000000001);
  EXPECT_EQ(named.obj().at("run").at("info").at("user_id"), "u");
  EXPECT_EQ(named.obj().at("run").at("data"),
            json::parse(R"({"tags": [{"key": "mlflow.user", "value": "alice"}, {"key": "mlflow.runName", "value": "named"}]})"));
  expect_error(api.post("runs/create",
                        R"({"experiment_id": "1", "run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]})"),
               400, "INVALID_PARAMETER_VALUE",
               "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
               "(run_name='a', mlflow.runName='b').");
  expect_error(api.post("runs/create", R"({"experiment_id": "999"})"), 404, "RESOURCE_DOES_NOT_EXIST",
               "No Experiment with id=999 exists");
  const Reply no_exp = api.post("runs/create", R"({"start_time": 5})");
  EXPECT_EQ(no_exp.status, 400);
  EXPECT_EQ(no_exp.obj().at("error_code"), "BAD_REQUEST");
  EXPECT_NE(std::string(no_exp.obj().at("message").as_string()).find("FOREIGN KEY constraint failed"),
            std::string::npos);
  EXPECT_NE(std::string(no_exp.obj().at("message").as_string()).find("mlflow-artifacts:/0/"), std::string::npos);
  // without start_time the server stores 0
  const Reply no_start = api.post("runs/create", R"({"experiment_id": "1", "run_name": "no-start"})");
  EXPECT_EQ(no_start.obj().at("run").at("info").at("start_time"), 0);
  EXPECT_EQ(server.runs_in("1").size(), 4u);
  EXPECT_EQ(server.runs().size(), 4u);
}

TEST(FakeMlflowServer, RunGetUpdateDeleteRestore) {
  FakeMlflowServer server;
  Api api(server);
  const std::string run = api.create_run("0");
  const Reply got = api.get("runs/get?run_id=" + run);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.obj().at("run").at("inputs"), json::object());
  EXPECT_EQ(api.get("runs/get?run_uuid=" + run).status, 200);
  expect_error(api.get("runs/get?run_id=0123456789abcdef0123456789abcdef"), 404, "RESOURCE_DOES_NOT_EXIST",
               "Run with id=0123456789abcdef0123456789abcdef not found");
  expect_error(api.get("runs/get"), 400, "INVALID_PARAMETER_VALUE",
               "Missing value for required parameter 'run_id'. See the API docs for more information about request "
               "parameters.");

  Reply u = api.post("runs/update", R"({"run_id": ")" + run + R"(", "status": "FINISHED", "end_time": "1700000009999"})");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(u.obj().at("run_info").at("status"), "FINISHED");
  EXPECT_EQ(u.obj().at("run_info").at("end_time"), 1700000009999);
  u = api.post("runs/update", R"({"run_id": ")" + run + R"(", "status": 4})");
  EXPECT_EQ(u.obj().at("run_info").at("status"), "FAILED");
  u = api.post("runs/update", R"({"run_id": ")" + run + R"(", "status": "DONE", "end_time": 5})");
  EXPECT_EQ(u.status, 200);  // the bad enum stops the parse: nothing after it is applied either
  EXPECT_EQ(u.obj().at("run_info").at("status"), "FAILED");
  EXPECT_EQ(u.obj().at("run_info").at("end_time"), 1700000009999);
  u = api.post("runs/update", R"({"run_uuid": ")" + run + R"(", "run_name": "renamed"})");
  EXPECT_EQ(u.obj().at("run_info").at("run_name"), "renamed");
  EXPECT_EQ(server.run(run)->data.tag("mlflow.runName")->value, "renamed");

  expect_json(api.post("runs/delete", R"({"run_id": ")" + run + "\"}"), 200, "{}");
  expect_json(api.post("runs/delete", R"({"run_id": ")" + run + "\"}"), 200, "{}");  // idempotent
  EXPECT_EQ(server.run(run)->info.lifecycle_stage, "deleted");
  const std::string deleted = "The run " + run + " must be in the 'active' state. Current state is deleted.";
  expect_error(api.post("runs/log-metric", R"({"run_id": ")" + run + R"(", "key": "m", "value": 1, "timestamp": 1})"),
               400, "INVALID_PARAMETER_VALUE", deleted);
  expect_error(api.post("runs/update", R"({"run_id": ")" + run + R"(", "status": "FINISHED"})"), 400,
               "INVALID_PARAMETER_VALUE", deleted);
  EXPECT_EQ(api.get("runs/get?run_id=" + run).obj().at("run").at("info").at("lifecycle_stage"), "deleted");
  expect_json(api.post("runs/restore", R"({"run_id": ")" + run + "\"}"), 200, "{}");
  EXPECT_EQ(server.run(run)->info.lifecycle_stage, "active");
  expect_error(api.post("runs/delete", R"({"run_id": "nonexistentrun"})"), 404, "RESOURCE_DOES_NOT_EXIST",
               "Run with id=nonexistentrun not found");
}

TEST(FakeMlflowServer, RunSearchFiltersOrdersAndPages) {
  FakeMlflowServer server;
  Api api(server);
  api.create_experiment("e");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(api.create_run("1", R"(,"start_time":)" + std::to_string(1000 + i)));
    api.post("runs/log-parameter", R"({"run_id": ")" + ids.back() + R"(", "key": "i", "value": ")" + std::to_string(i) + "\"}");
  }
  api.post("runs/set-tag", R"({"run_id": ")" + ids[1] + R"(", "key": "offline.id", "value": "abc"})");
  expect_json(api.post("runs/search", "{}"), 200, "{}");  // no experiment ids, no runs
  expect_json(api.post("runs/search", R"({"experiment_ids": ["0"], "max_results": 10})"), 200, "{}");
  const Reply all = api.post("runs/search", R"({"experiment_ids": ["1"]})");
  ASSERT_EQ(all.obj().at("runs").as_array().size(), 3u);
  EXPECT_EQ(all.obj().at("runs").at(0).at("info").at("run_id"), json::value(ids[2]));  // start_time DESC
  EXPECT_EQ(all.obj().at("runs").at(0).at("inputs"), json::object());
  const Reply tagged =
      api.post("runs/search", R"({"experiment_ids": [1], "filter": "tags.`offline.id` = 'abc'", "max_results": 5})");
  ASSERT_EQ(tagged.status, 200) << tagged.body;
  ASSERT_EQ(tagged.obj().at("runs").as_array().size(), 1u);
  EXPECT_EQ(tagged.obj().at("runs").at(0).at("info").at("run_id"), json::value(ids[1]));
  const Reply ordered =
      api.post("runs/search", R"({"experiment_ids": ["1"], "order_by": ["params.i ASC"], "max_results": 5})");
  EXPECT_EQ(ordered.obj().at("runs").at(0).at("info").at("run_id"), json::value(ids[0]));
  // pages: the SQL store gives a token whenever a page is full, so the last page may be empty
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    const Reply page = api.post("runs/search", R"({"experiment_ids": ["1"], "max_results": 1)" +
                                                   (token.empty() ? "" : R"(, "page_token": ")" + token + "\"") + "}");
    ASSERT_EQ(page.status, 200) << page.body;
    if (page.obj().contains("runs")) {
      for (const auto& r : page.obj().at("runs").as_array()) seen.emplace_back(r.at("info").at("run_id").as_string());
    }
    token = page.obj().contains("next_page_token") ? std::string(page.obj().at("next_page_token").as_string()) : "";
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, (std::vector<std::string>{ids[2], ids[1], ids[0]}));
  EXPECT_EQ(pages, 4);
  expect_error(api.post("runs/search", R"({"experiment_ids": ["1"], "max_results": 50001})"), 400,
               "INVALID_PARAMETER_VALUE",
               "Invalid value 50001 for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API "
               "docs for more information about request parameters.");
  EXPECT_EQ(api.post("runs/search", R"({"experiment_ids": ["1"], "filter": "bogus ~~ 1"})").status, 400);
  api.post("runs/delete", R"({"run_id": ")" + ids[0] + "\"}");
  EXPECT_EQ(api.post("runs/search", R"({"experiment_ids": ["1"]})").obj().at("runs").as_array().size(), 2u);
  EXPECT_EQ(api.post("runs/search", R"({"experiment_ids": ["1"], "run_view_type": "ALL"})")
                .obj().at("runs").as_array().size(), 3u);
  EXPECT_EQ(api.post("runs/search", R"({"experiment_ids": ["1"], "run_view_type": "DELETED_ONLY"})")
                .obj().at("runs").as_array().size(), 1u);
}

// ---------------------------------------------------------------------------------------------------------------
// logging

TEST(FakeMlflowServer, LogMetricEncodingAndValidation) {
  FakeMlflowServer server;
  Api api(server);
  const std::string run = api.create_run("0");
  const auto log = [&](const std::string& fields) {
    return api.post("runs/log-metric", R"({"run_id": ")" + run + "\", " + fields + "}");
  };
  expect_json(log(R"("key": "m", "value": 1.5, "timestamp": 1700000000000, "step": 1)"), 200, "{}");
  expect_json(log(R"("key": "m", "value": 1.5, "timestamp": 1700000000000, "step": 1)"), 200, "{}");  // duplicate
  EXPECT_EQ(server.metric_history(run, "m").size(), 1u);
  log(R"("key": "nan_str", "value": "NaN", "timestamp": 1700000000000)");
  log(R"("key": "inf_str", "value": "Infinity", "timestamp": 1700000000000)");
  log(R"("key": "ninf_str", "value": "-Infinity", "timestamp": 1700000000000)");
  log(R"("key": "nan_bare", "value": NaN, "timestamp": 1700000000000, "step": 3)");
  log(R"("key": "big", "value": 2, "timestamp": 9007199254740993, "step": "9007199254740993")");
  log(R"("key": "neg_step", "value": 2, "timestamp": 1, "step": -5)");
  log(R"("key": "lower_nan", "value": "nan", "timestamp": 7, "step": 7)");
  log(R"("key": "lower_inf", "value": "inf", "timestamp": 7)");
  log(R"("key": "str_val", "value": "1.25", "timestamp": 7)");
  log(R"("key": "bool_val", "value": true, "timestamp": 7)");
  log(R"("key": "float_ts", "timestamp": 1.5, "value": 3, "step": 9)");
  log(R"("key": "uni_é", "value": 1, "timestamp": 1)");
  log(R"("key": "with space", "value": 1, "timestamp": 1)");
  log(R"("key": "with:colon", "value": 1, "timestamp": 1)");

  const Reply got = api.get("runs/get?run_id=" + run);
  ASSERT_EQ(got.status, 200);
  std::map<std::string, json::value> latest;
  for (const auto& m : got.obj().at("run").at("data").at("metrics").as_array()) {
    latest[std::string(m.at("key").as_string())] = m;
  }
  EXPECT_EQ(latest.at("m"), json::parse(R"({"key": "m", "value": 1.5, "timestamp": 1700000000000, "step": 1})"));
  EXPECT_EQ(latest.at("nan_str").at("value"), "NaN");
  EXPECT_EQ(latest.at("inf_str").at("value"), 1.7976931348623157e308);
  EXPECT_EQ(latest.at("ninf_str").at("value"), -1.7976931348623157e308);
  EXPECT_NE(got.body.find("\"value\": 1.7976931348623157e+308"), std::string::npos);
  // a bare NaN token: value 0, and every field after it in the object left at 0
  EXPECT_EQ(latest.at("nan_bare"), json::parse(R"({"key": "nan_bare", "value": 0.0, "timestamp": 0, "step": 0})"));
  EXPECT_EQ(latest.at("big").at("timestamp"), 9007199254740993);
  EXPECT_EQ(latest.at("big").at("step"), 9007199254740993);
  EXPECT_EQ(latest.at("neg_step").at("step"), -5);
  EXPECT_EQ(latest.at("lower_nan"), json::parse(R"({"key": "lower_nan", "value": 0.0, "timestamp": 0, "step": 0})"));
  EXPECT_EQ(latest.at("lower_inf").at("value"), 1.7976931348623157e308);
  EXPECT_EQ(latest.at("str_val").at("value"), 1.25);
  EXPECT_EQ(latest.at("bool_val").at("value"), 1.0);
  EXPECT_EQ(latest.at("float_ts"), json::parse(R"({"key": "float_ts", "value": 0.0, "timestamp": 0, "step": 0})"));
  EXPECT_TRUE(latest.count("uni_é"));
  EXPECT_NE(got.body.find("\"uni_\\u00e9\""), std::string::npos);  // ensure_ascii

  const auto nan_history = server.metric_history(run, "nan_str");
  ASSERT_EQ(nan_history.size(), 1u);
  EXPECT_TRUE(std::isnan(nan_history[0].value));
  EXPECT_EQ(server.metric_history(run, "inf_str")[0].value, std::numeric_limits<double>::max());

  expect_error(log(R"("key": "neg", "value": 2.0, "timestamp": -1)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value -1 for parameter 'timestamp' supplied: metric 'neg' (value=2.0). Timestamp must be a "
               "nonnegative long (64-bit integer) ");
  expect_error(log(R"("key": "nots", "value": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Missing value for required parameter 'timestamp'. See the API docs for more information about "
               "request parameters.");
  expect_error(log(R"("key": "bad key!", "value": 1, "timestamp": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"bad key!\" for parameter 'name' supplied: Names may only contain alphanumerics, "
               "underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
  expect_error(log(R"("key": "a/../b", "value": 1, "timestamp": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"a/../b\" for parameter 'name' supplied: Names may be treated as files in certain "
               "cases, and must not resolve to other names when treated as such. This name would resolve to 'b'");
  expect_error(log(R"("key": "/lead", "value": 1, "timestamp": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"/lead\" for parameter 'name' supplied: Names may be treated as files in certain "
               "cases, and must not resolve to other names when treated as such. This name would resolve to '/lead'");
  expect_error(log(R"("key": "trail/", "value": 1, "timestamp": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"trail/\" for parameter 'name' supplied: Names may be treated as files in certain "
               "cases, and must not resolve to other names when treated as such. This name would resolve to 'trail'");
  const std::string long_key(251, 'k');
  expect_error(log(R"("key": ")" + long_key + R"(", "value": 1, "timestamp": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Metric name '" + long_key + "' had length 251, which exceeded length limit of 250");
  expect_error(log(R"("key": "v", "value": "abc", "timestamp": 1)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"abc\" for parameter 'value' supplied:  Hint: Value was of type 'str'. See the API "
               "docs for more information about request parameters.");
  expect_error(api.post("runs/log-metric", R"({"run_id": "deadbeef", "key": "m", "value": 1, "timestamp": 1})"),
               404, "RESOURCE_DOES_NOT_EXIST", "Run with id=deadbeef not found");
}

TEST(FakeMlflowServer, LatestMetricsRule) {
  FakeMlflowServer server;
  Api api(server);
  const std::string run = api.create_run("0");
  // (step, timestamp, value) points from protocol.md 5.3: latest is step 3, ts 60, value 0.5
  for (const char* p : {R"("step": 1, "timestamp": 100, "value": 5.0)", R"("step": 3, "timestamp": 50, "value": 1.0)",
                        R"("step": 3, "timestamp": 50, "value": 2.0)", R"("step": 3, "timestamp": 60, "value": 0.5)",
                        R"("step": 2, "timestamp": 999, "value": 9.0)"}) {
    expect_json(api.post("runs/log-metric", R"({"run_id": ")" + run + R"(", "key": "x", )" + p + "}"), 200, "{}");
  }
  const mlflow::Run r = *server.run(run);
  ASSERT_EQ(r.data.metrics.size(), 1u);
  EXPECT_EQ(r.data.metrics[0], (Metric{"x", 0.5, 60, 3}));
  EXPECT_EQ(server.metric_history(run, "x").size(), 5u);
  EXPECT_EQ(server.metric_count(run), 5u);
}

TEST(FakeMlflowServer, LogParamAndTags) {
  FakeMlflowServer server;
  Api api(server);
  const std::string run = api.create_run("0");
  const auto param = [&](const std::string& fields) {
    return api.post("runs/log-parameter", R"({"run_id": ")" + run + "\", " + fields + "}");
  };
  expect_json(param(R"("key": "p", "value": "1")"), 200, "{}");
  expect_json(param(R"("key": "p", "value": "1")"), 200, "{}");
  expect_error(param(R"("key": "p", "value": "2")"), 400, "INVALID_PARAMETER_VALUE",
               "Changing param values is not allowed. Param with key='p' was already logged with value='1' for run "
               "ID='" + run + "'. Attempted logging new value '2'.");
  expect_json(param(R"("key": "long", "value": ")" + std::string(6001, 'x') + "\""), 200, "{}");
  expect_json(param(R"("key": "empty", "value": "")"), 200, "{}");
  expect_json(param(R"("key": "missing")"), 200, "{}");
  expect_error(param(R"("key": "num", "value": 5)"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value 5 for parameter 'value' supplied:  Hint: Value was of type 'int'. See the API docs for "
               "more information about request parameters.");
  expect_error(param(R"("key": "bad key!", "value": "1")"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"bad key!\" for parameter 'key' supplied: Names may only contain alphanumerics, "
               "underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
  const mlflow::Run r = *server.run(run);
  EXPECT_EQ(r.data.param("long")->value.size(), 6000u);
  EXPECT_EQ(r.data.param("missing")->value, "");
  EXPECT_EQ(r.data.params.front(), (Param{"p", "1"}));

  const auto tag = [&](const std::string& fields) {
    return api.post("runs/set-tag", R"({"run_id": ")" + run + "\", " + fields + "}");
  };
  expect_json(tag(R"("key": "t1", "value": "a")"), 200, "{}");
  expect_json(tag(R"("key": "t1", "value": "b")"), 200, "{}");
  expect_json(tag(R"("key": "long", "value": ")" + std::string(8001, 'y') + "\""), 200, "{}");
  expect_json(tag(R"("key": "mlflow.runName", "value": "via-set-tag")"), 200, "{}");
  EXPECT_EQ(server.run(run)->data.tag("t1")->value, "b");
  EXPECT_EQ(server.run(run)->data.tag("long")->value.size(), 8000u);
  EXPECT_EQ(server.run(run)->info.run_name, "via-set-tag");
  expect_json(api.post("runs/delete-tag", R"({"run_id": ")" + run + R"(", "key": "t1"})"), 200, "{}");
  expect_error(api.post("runs/delete-tag", R"({"run_id": ")" + run + R"(", "key": "t1"})"), 404,
               "RESOURCE_DOES_NOT_EXIST", "No tag with name: t1 in run with id " + run);
}

TEST(FakeMlflowServer, LogBatchRules) {
  FakeMlflowServer server;
  Api api(server);
  const std::string run = api.create_run("0");
  const auto batch = [&](const std::string& fields) {
    return api.post("runs/log-batch", R"({"run_id": ")" + run + "\"" + (fields.empty() ? "" : ", " + fields) + "}");
  };
  const auto items = [](const std::string& kind, int n, const std::string& prefix) {
    std::string out = "\"" + kind + "\": [";
    for (int i = 0; i < n; ++i) {
      out += (i ? "," : "") + std::string(R"({"key": ")") + prefix + std::to_string(i) + "\"" +
             (kind == "metrics" ? R"(, "value": 1, "timestamp": )" + std::to_string(i) : R"(, "value": "v")") + "}";
    }
    return out + "]";
  };
  expect_json(batch(""), 200, "{}");
  expect_error(batch(R"("params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}])"), 400,
               "INVALID_PARAMETER_VALUE",
               "Duplicate parameter keys have been submitted: ['dup']. Please ensure the request contains only one "
               "param value per param key.");
  expect_error(batch(R"("params": [{"key": "dup2", "value": "1"}, {"key": "dup2", "value": "1"}])"), 400,
               "INVALID_PARAMETER_VALUE",
               "Duplicate parameter keys have been submitted: ['dup2']. Please ensure the request contains only one "
               "param value per param key.");
  expect_json(batch(R"("params": [{"key": "p", "value": "1"}])"), 200, "{}");
  expect_json(batch(R"("params": [{"key": "p", "value": "1"}, {"key": "q", "value": "2"}])"), 200, "{}");
  expect_error(batch(R"("params": [{"key": "p", "value": "CHANGED"}], "metrics": [{"key": "never", "value": 1, "timestamp": 1}])"), 400,
               "INVALID_PARAMETER_VALUE",
               "Changing param values is not allowed. Params were already logged='[{'key': 'p', 'old_value': '1', "
               "'new_value': 'CHANGED'}]' for run ID='" + run + "'.");
  EXPECT_TRUE(server.metric_history(run, "never").empty());  // nothing of a refused batch is kept
  expect_json(batch(R"("tags": [{"key": "t", "value": "1"}, {"key": "t", "value": "2"}])"), 200, "{}");
  EXPECT_EQ(server.run(run)->data.tag("t")->value, "2");
  expect_json(batch(R"("metrics": [{"key": "d", "value": 1, "timestamp": 1}, {"key": "d", "value": 1, "timestamp": 1}, {"key": "d", "value": "NaN", "timestamp": 2}])"),
              200, "{}");
  EXPECT_EQ(server.metric_history(run, "d").size(), 2u);
  expect_error(batch(items("params", 101, "p")), 400, "INVALID_PARAMETER_VALUE",
               "A batch logging request can contain at most 100 params. Got 101 params. Please split up params across "
               "multiple requests and try again.");
  expect_error(batch(items("metrics", 1001, "m")), 400, "INVALID_PARAMETER_VALUE",
               "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics "
               "across multiple requests and try again.");
  expect_error(batch(items("metrics", 950, "m") + ", " + items("tags", 51, "t")), 400, "INVALID_PARAMETER_VALUE",
               "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001 metrics, params, "
               "and tags. Please split up metrics, params, and tags across multiple requests and try again.");
  expect_json(batch(items("metrics", 1000, "m")), 200, "{}");
  expect_error(batch(R"("metrics": [{"key": "m", "value": 1}])"), 400, "INVALID_PARAMETER_VALUE",
               "Missing value for required parameter 'metrics[0].timestamp'. See the API docs for more information "
               "about request parameters.");
  expect_error(api.post("runs/log-batch", R"({"run_id": "bad id!"})"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid value \"bad id!\" for parameter 'run_id' supplied.");
  expect_json(batch(R"("tags": [{"key": "mlflow.runName", "value": "via-batch"}])"), 200, "{}");
  EXPECT_EQ(server.run(run)->info.run_name, "via-batch");
  // a lowercase "nan" inside a batch corrupts that point and drops everything after it
  expect_json(batch(R"("metrics": [{"key": "ok", "value": 1, "timestamp": 5}, {"key": "lnan", "value": "nan", "timestamp": 1}, {"key": "lost", "value": 1, "timestamp": 1}])"),
              200, "{}");
  EXPECT_EQ(server.metric_history(run, "lnan"), (std::vector<Metric>{{"lnan", 0.0, 0, 0}}));
  EXPECT_TRUE(server.metric_history(run, "lost").empty());
  EXPECT_EQ(server.metric_history(run, "ok").size(), 1u);
}

TEST(FakeMlflowServer, MetricHistoryAllAt2_17AndPaginatedAt3_3) {
  for (const MlflowFlavor flavor : {MlflowFlavor::v2_17, MlflowFlavor::v3_3}) {
    FakeMlflowOptions options;
    options.flavor = flavor;
    FakeMlflowServer server(options);
    Api api(server);
    const std::string run = api.create_run("0");
    std::string metrics;
    for (int i = 4; i >= 0; --i) {
      metrics += std::string(metrics.empty() ? "" : ",") + R"({"key": "bm", "value": 1, "timestamp": )" +
                 std::to_string(i) + "}";
    }
    api.post("runs/log-batch", R"({"run_id": ")" + run + R"(", "metrics": [)" + metrics + "]}");
    const std::string base = "metrics/get-history?run_id=" + run + "&metric_key=bm";
    const Reply two = api.get(base + "&max_results=2");
    ASSERT_EQ(two.status, 200);
    if (flavor == MlflowFlavor::v2_17) {
      EXPECT_EQ(two.obj().at("metrics").as_array().size(), 5u);  // max_results ignored
      EXPECT_FALSE(two.obj().contains("next_page_token"));
      EXPECT_EQ(api.get(base).obj().at("metrics").as_array().size(), 5u);
    } else {
      EXPECT_EQ(two.obj().at("metrics").as_array().size(), 2u);
      EXPECT_EQ(two.obj().at("metrics").at(0).at("timestamp"), 0);  // ORDER BY timestamp, step, value
      EXPECT_EQ(two.obj().at("next_page_token"), "eyJvZmZzZXQiOiAyfQ==");
      const Reply rest = api.get(base + "&max_results=3&page_token=eyJvZmZzZXQiOiAyfQ%3D%3D");
      EXPECT_EQ(rest.obj().at("metrics").as_array().size(), 3u);
      EXPECT_FALSE(rest.obj().contains("next_page_token"));
      expect_json(api.get(base), 200, R"({"next_page_token": "eyJvZmZzZXQiOiAwfQ=="})");  // mlflow#23916
    }
    expect_json(api.get("metrics/get-history?run_id=" + run + "&metric_key=none&max_results=10"), 200, "{}");
    EXPECT_EQ(api.get("metrics/get-history?run_id=nope&metric_key=bm&max_results=10").status, 404);
  }
  FakeMlflowOptions no_loop;
  no_loop.flavor = MlflowFlavor::v3_3;
  no_loop.history_missing_max_results_loops = false;
  FakeMlflowServer server(no_loop);
  Api api(server);
  const std::string run = api.create_run("0");
  api.post("runs/log-metric", R"({"run_id": ")" + run + R"(", "key": "k", "value": 1, "timestamp": 1})");
  EXPECT_EQ(api.get("metrics/get-history?run_id=" + run + "&metric_key=k").obj().at("metrics").as_array().size(), 1u);
}

// ---------------------------------------------------------------------------------------------------------------
// protocol edges

TEST(FakeMlflowServer, ContentTypeDoubleEncodingAndUnknownFields) {
  FakeMlflowServer server;
  Api api(server);
  const std::string run = api.create_run("0");
  const std::string body = R"({"run_id": ")" + run + R"(", "key": "a", "value": "b"})";
  expect_error(api.call("POST", "runs/set-tag", body, {{"Content-Type", ""}}), 400, "INVALID_PARAMETER_VALUE",
               "Bad Request. Content-Type header is missing.");
  expect_error(api.call("POST", "runs/set-tag", body, {{"Content-Type", "text/plain"}}), 400,
               "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type must be one of ['application/json'].");
  expect_json(api.call("POST", "runs/set-tag", body, {{"Content-Type", "application/json; charset=utf-8"}}), 200,
              "{}");
  json::string encoded = json::serialize(json::value(R"({"experiment_id": "0", "run_name": "double"})")).c_str();
  const Reply doubled = api.post("runs/create", std::string(encoded));
  ASSERT_EQ(doubled.status, 200) << doubled.body;
  EXPECT_EQ(doubled.obj().at("run").at("info").at("run_name"), "double");
  expect_json(api.post("runs/set-tag", R"({"run_id": ")" + run + R"(", "key": "k", "value": "v", "bogus": 1})"),
              200, "{}");
  expect_error(api.post("runs/set-tag", R"({"run_id":)"), 400, "INVALID_PARAMETER_VALUE",
               "Missing value for required parameter 'run_id'. See the API docs for more information about request "
               "parameters.");
}

TEST(FakeMlflowServer, HtmlForUnknownRoutesAndWrongMethods) {
  FakeMlflowServer server;
  Api api(server);
  const Reply missing = api.get("nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(missing.body,
            "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL "
            "was not found on the server. If you entered the URL manually please check your spelling and try "
            "again.</p>\n");
  EXPECT_EQ(api.get("/api/2.0/mlflow").status, 404);
  EXPECT_EQ(api.get("/somewhere/else").status, 404);
  const Reply wrong = api.get("runs/create");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(wrong.body.find("<title>405 Method Not Allowed</title>"), std::string::npos);
  EXPECT_EQ(wrong.headers.at("allow"), "OPTIONS, POST");
  EXPECT_EQ(api.post("runs/get", "{}").status, 405);
  EXPECT_EQ(api.post("runs/search", "{}").status, 200);
  EXPECT_EQ(api.get("/ajax-api/2.0/mlflow/experiments/get?experiment_id=0").status, 200);
  const Reply health = api.get("/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "OK");
  EXPECT_EQ(api.get("/version").body, "2.17.2");
}

TEST(FakeMlflowServer, ArtifactsProxy) {
  FakeMlflowServer server;
  Api api(server);
  api.create_experiment("e");
  const std::string run = api.create_run("1");
  const std::string root = "1/" + run + "/artifacts";
  const std::string url = "/api/2.0/mlflow-artifacts/artifacts/" + root;
  expect_json(api.call("PUT", url + "/dir/hello.txt", "hello world", {{"Content-Type", "text/plain"}}), 200, "{}");
  expect_json(api.call("PUT", url + "/model.bin", std::string("\0\1\2", 3), {{"Content-Type", ""}}), 200, "{}");
  EXPECT_EQ(server.artifact(root + "/dir/hello.txt"), "hello world");
  EXPECT_EQ(server.artifact_paths().size(), 2u);
  const Reply download = api.get(url + "/dir/hello.txt");
  EXPECT_EQ(download.status, 200);
  EXPECT_EQ(download.body, "hello world");
  EXPECT_EQ(download.headers.at("content-type"), "text/plain");
  EXPECT_EQ(download.headers.at("content-disposition"), "attachment; filename=hello.txt");
  EXPECT_EQ(download.headers.at("x-content-type-options"), "nosniff");
  EXPECT_EQ(api.get(url + "/model.bin").body, std::string("\0\1\2", 3));
  EXPECT_EQ(api.get(url + "/model.bin").headers.at("content-type"), "application/octet-stream");
  expect_json(api.get("/api/2.0/mlflow-artifacts/artifacts?path=" + root), 200,
              R"({"files": [{"path": "dir", "is_dir": true}, {"path": "model.bin", "is_dir": false, "file_size": 3}]})");
  expect_json(api.get("/api/2.0/mlflow-artifacts/artifacts?path=" + root + "/dir"), 200,
              R"({"files": [{"path": "hello.txt", "is_dir": false, "file_size": 11}]})");
  expect_json(api.get("/api/2.0/mlflow-artifacts/artifacts?path=nothing/here"), 200, "{}");
  expect_json(api.get("artifacts/list?run_id=" + run + "&path=dir"), 200,
              R"({"root_uri": "mlflow-artifacts:/)" + root +
                  R"(", "files": [{"path": "dir/hello.txt", "is_dir": false, "file_size": 11}]})");
  expect_error(api.get("/api/2.0/mlflow-artifacts/artifacts/a/../../etc/passwd"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid path");
  expect_error(api.get("/api/2.0/mlflow-artifacts/artifacts?path=../x"), 400, "INVALID_PARAMETER_VALUE",
               "Invalid path");
  const Reply missing = api.get(url + "/missing.txt");
  EXPECT_EQ(missing.status, 500);
  EXPECT_EQ(missing.obj().at("error_code"), "INTERNAL_ERROR");
  expect_error(api.post("/api/2.0/mlflow-artifacts/mpu/create/" + root + "/big.bin", R"({"path": "big.bin", "num_parts": 2})"),
               501, "NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository");
  expect_json(api.call("DELETE", url + "/dir"), 200, "{}");
  EXPECT_FALSE(server.artifact(root + "/dir/hello.txt").has_value());

  FakeMlflowOptions no_artifacts;
  no_artifacts.serve_artifacts = false;
  FakeMlflowServer plain(no_artifacts);
  Api plain_api(plain);
  EXPECT_EQ(plain_api.call("PUT", "/api/2.0/mlflow-artifacts/artifacts/x.txt", "x").status, 503);
}

TEST(FakeMlflowServer, ConnectionCloseFor2_17AndKeepAliveFor3_3) {
  FakeMlflowServer old_server;
  TestHttpClient a("127.0.0.1", old_server.port());
  const HttpResult r1 = a.get("/api/2.0/mlflow/experiments/get?experiment_id=0");
  EXPECT_EQ(r1.headers.at("connection"), "close");
  a.get("/health");
  EXPECT_EQ(a.connects(), 2u);

  FakeMlflowOptions options;
  options.flavor = MlflowFlavor::v3_3;
  FakeMlflowServer new_server(options);
  TestHttpClient b("127.0.0.1", new_server.port());
  EXPECT_TRUE(b.get("/api/2.0/mlflow/experiments/get?experiment_id=0").keep_alive);
  EXPECT_EQ(b.get("/version").body, "3.3.2.dev0");
  EXPECT_EQ(b.connects(), 1u);

  FakeMlflowOptions forced;
  forced.keep_alive = true;  // 2.17 behind a keep-alive proxy
  FakeMlflowServer proxied(forced);
  TestHttpClient c("127.0.0.1", proxied.port());
  c.get("/health");
  c.get("/health");
  EXPECT_EQ(c.connects(), 1u);
}

TEST(FakeMlflowServer, BasicAndBearerAuth) {
  FakeMlflowOptions basic;
  basic.basic_auth = std::make_pair(std::string("user"), std::string("pa:ss"));
  FakeMlflowServer server(basic);
  Api api(server);
  const Reply denied = api.get("experiments/get?experiment_id=0");
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.headers.at("www-authenticate"), "Basic realm=\"mlflow\"");
  EXPECT_TRUE(denied.json.is_null());  // plain text, not JSON
  EXPECT_EQ(api.get("/health").status, 200);
  // base64("user:pa:ss") = dXNlcjpwYTpzcw==
  EXPECT_EQ(api.call("GET", "experiments/get?experiment_id=0", "", {{"Authorization", "Basic dXNlcjpwYTpzcw=="}}).status,
            200);
  EXPECT_EQ(api.call("GET", "experiments/get?experiment_id=0", "", {{"Authorization", "Basic dXNlcjp3cm9uZw=="}}).status,
            401);

  FakeMlflowOptions bearer;
  bearer.bearer_token = "s3cret";
  FakeMlflowServer token_server(bearer);
  Api token_api(token_server);
  const Reply no_token = token_api.get("experiments/get?experiment_id=0");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(no_token.headers.at("www-authenticate"), "Bearer realm=\"mlflow\"");
  EXPECT_EQ(token_api.call("GET", "experiments/get?experiment_id=0", "", {{"Authorization", "Bearer s3cret"}}).status,
            200);
  EXPECT_EQ(token_api.call("GET", "experiments/get?experiment_id=0", "", {{"Authorization", "Bearer nope"}}).status,
            401);
}

TEST(FakeMlflowServer, TlsAndCompactJson) {
  FakeMlflowOptions options;
  options.tls = true;
  options.pretty_json = false;
  FakeMlflowServer server(options);
  EXPECT_EQ(server.base_url().rfind("https://127.0.0.1:", 0), 0u);
  Api api(server);
  const Reply r = api.get("experiments/get?experiment_id=0");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find('\n'), std::string::npos);
  EXPECT_NE(r.body.find("{\"experiment\": {\"experiment_id\": \"0\", \"name\": \"Default\""), std::string::npos)
      << r.body;
}

TEST(FakeMlflowServer, FaultsComeFromTheLoopbackLayer) {
  FakeMlflowServer server;
  server.loopback().push_fault(FaultSpec{Fault::status_503_retry_after, 0ms, 3});
  server.loopback().push_fault(Fault::reset_mid_response);
  Api api(server);
  const Reply busy = api.post("runs/create", R"({"experiment_id": "0"})");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.headers.at("retry-after"), "3");
  EXPECT_TRUE(server.runs().empty());  // not executed
  EXPECT_THROW(api.post("runs/create", R"({"experiment_id": "0"})"), HttpTransportError);
  EXPECT_EQ(server.runs().size(), 1u);  // executed, answer lost
  EXPECT_EQ(server.request_count("runs/create"), 2u);
  EXPECT_EQ(server.request_count("POST", "/api/2.0/mlflow/runs/create"), 2u);
  EXPECT_EQ(server.request_count("GET", "runs/create"), 0u);
  server.loopback().stop();
  EXPECT_THROW(api.post("runs/create", R"({"experiment_id": "0"})"), HttpTransportError);
  server.loopback().start();
  EXPECT_EQ(api.post("runs/create", R"({"experiment_id": "0"})").status, 200);
  server.reset();
  EXPECT_TRUE(server.runs().empty());
  EXPECT_EQ(server.experiments().size(), 1u);
  EXPECT_TRUE(server.requests().empty());
}

TEST(FakeMlflowServer, RecordsTheExactRequests) {
  FakeMlflowServer server;
  Api api(server);
  api.call("POST", "runs/create", R"({"experiment_id":"0","start_time":5})", {{"User-Agent", "probe/1"}});
  const auto requests = server.requests_to("runs/create");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].headers.at("user-agent"), "probe/1");
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(json::parse(requests[0].body), json::parse(R"({"experiment_id":"0","start_time":5})"));
}

TEST(FakeMlflowServer, ConcurrentClientsAndAccessors) {
  FakeMlflowOptions options;
  options.flavor = MlflowFlavor::v3_3;
  FakeMlflowServer server(options);
  Api setup(server);
  const std::string run = setup.create_run("0");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Api api(server);
      for (int i = 0; i < 50; ++i) {
        const Reply r = api.post("runs/log-metric", R"({"run_id": ")" + run + R"(", "key": "k)" + std::to_string(t) +
                                                        R"(", "value": 1, "timestamp": )" + std::to_string(i) + "}");
        EXPECT_EQ(r.status, 200);
      }
    });
  }
  std::size_t observed = 0;
  for (int i = 0; i < 20; ++i) observed = std::max(observed, server.metric_count(run));
  for (auto& t : threads) t.join();
  EXPECT_LE(observed, 200u);
  EXPECT_EQ(server.metric_count(run), 200u);
  EXPECT_EQ(server.run(run)->data.metrics.size(), 4u);
}

TEST(FakeMlflowServer, HandleWithoutSocket) {
  FakeMlflowServer server;
  RecordedRequest req;
  req.method = "POST";
  req.path = req.target = "/api/2.0/mlflow/experiments/create";
  req.headers["content-type"] = "application/json";
  req.body = R"({"name": "direct"})";
  const Response res = server.handle(req);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "{\n  \"experiment_id\": \"1\"\n}");
  EXPECT_TRUE(server.requests().empty());
}

// ---------------------------------------------------------------------------------------------------------------
// encoding helpers

TEST(FakeMlflowServer, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.0), "0.0");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(0.25), "0.25");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(python_float_repr(123.456), "123.456");
  EXPECT_EQ(python_float_repr(-2.5e-300), "-2.5e-300");
  EXPECT_EQ(python_float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(python_float_repr(std::nan("")), "nan");
  EXPECT_EQ(python_float_repr(-HUGE_VAL), "-inf");
}

TEST(FakeMlflowServer, PythonJsonDumps) {
  EXPECT_EQ(python_json_dumps("{}", true), "{}");
  EXPECT_EQ(python_json_dumps(R"({"a":[1,{"b":2.0}],"c":{}})", true),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2.0\n    }\n  ],\n  \"c\": {}\n}");
  EXPECT_EQ(python_json_dumps(R"({"a":[1,"x"],"é":"\u0001"})", false), "{\"a\": [1, \"x\"], \"\\u00e9\": \"\\u0001\"}");
  EXPECT_EQ(python_json_dumps(R"("😀")", false), "\"\\ud83d\\ude00\"");
  EXPECT_THROW(python_json_dumps("{", false), std::invalid_argument);
}

}  // namespace
}  // namespace mlflow::test
