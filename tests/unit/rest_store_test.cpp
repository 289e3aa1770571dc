// RestStore against a loopback server: the exact requests for every endpoint, decoding of real MLflow answers
// (from shared/mlflow-reference/transcripts), number encoding, log-batch splitting, pagination and error mapping.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "support/loopback_server.hpp"
#include "tracker/rest/batch_split.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/spooled_store.hpp"
#include "tracker/transport/http_client.hpp"

namespace {

namespace json = boost::json;
using mlflow::ErrorCode;
using mlflow::Metric;
using mlflow::MlflowError;
using mlflow::Param;
using mlflow::RunStatus;
using mlflow::RunTag;
using mlflow::ViewType;
using mlflow::rest::RestStore;
using mlflow::test::Fault;
using mlflow::test::LoopbackServer;
using mlflow::test::RecordedRequest;
using mlflow::test::Response;
using namespace std::chrono_literals;

constexpr const char* API = "/api/2.0/mlflow/";

// Answers captured from MLflow 3.3 (rest-walkthrough-3.3.txt), trimmed to what is decoded.
constexpr const char* EXPERIMENT_JSON = R"({
  "experiment": {
    "experiment_id": "1",
    "name": "rest-verify-5068-1796397282000",
    "artifact_location": "mlflow-artifacts:/1",
    "lifecycle_stage": "active",
    "last_update_time": 1796397282953,
    "creation_time": 1796397282953,
    "tags": [
      {
        "key": "team",
        "value": "cpp"
      }
    ]
  }
})";

constexpr const char* CREATE_RUN_JSON = R"({
  "run": {
    "info": {
      "run_uuid": "27079a6c680b438abfda9e7a0180576e",
      "experiment_id": "1",
      "run_name": "cpp-run",
      "user_id": "",
      "status": "RUNNING",
      "start_time": 1796397282000,
      "artifact_uri": "mlflow-artifacts:/1/27079a6c680b438abfda9e7a0180576e/artifacts",
      "lifecycle_stage": "active",
      "run_id": "27079a6c680b438abfda9e7a0180576e"
    },
    "data": {
      "tags": [
        {
          "key": "mlflow.user",
          "value": "tester"
        },
        {
          "key": "mlflow.runName",
          "value": "cpp-run"
        }
      ]
    },
    "inputs": {}
  }
})";

constexpr const char* GET_RUN_JSON = R"({
  "run": {
    "info": {
      "run_uuid": "27079a6c680b438abfda9e7a0180576e",
      "experiment_id": "1",
      "run_name": "cpp-run",
      "user_id": "",
      "status": "FINISHED",
      "start_time": 1796397282000,
      "end_time": 1796397287000,
      "artifact_uri": "mlflow-artifacts:/1/27079a6c680b438abfda9e7a0180576e/artifacts",
      "lifecycle_stage": "active",
      "run_id": "27079a6c680b438abfda9e7a0180576e"
    },
    "data": {
      "metrics": [
        {
          "key": "loss",
          "value": 0.25,
          "timestamp": 1796397282001,
          "step": 1
        },
        {
          "key": "acc",
          "value": 0.95,
          "timestamp": 1796397282002,
          "step": 1
        }
      ],
      "params": [
        {
          "key": "lr",
          "value": "0.01"
        },
        {
          "key": "batch",
          "value": "32"
        }
      ],
      "tags": [
        {
          "key": "mlflow.user",
          "value": "tester"
        },
        {
          "key": "mlflow.runName",
          "value": "cpp-run"
        },
        {
          "key": "stage",
          "value": "dev"
        },
        {
          "key": "framework",
          "value": "cpp"
        }
      ]
    },
    "inputs": {},
    "outputs": {}
  }
})";

constexpr const char* UPDATE_RUN_JSON = R"({
  "run_info": {
    "run_uuid": "27079a6c680b438abfda9e7a0180576e",
    "experiment_id": "1",
    "run_name": "cpp-run",
    "user_id": "",
    "status": "FINISHED",
    "start_time": 1796397282000,
    "end_time": 1796397287000,
    "artifact_uri": "mlflow-artifacts:/1/27079a6c680b438abfda9e7a0180576e/artifacts",
    "lifecycle_stage": "active",
    "run_id": "27079a6c680b438abfda9e7a0180576e"
  }
})";

Response json_response(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

mlflow::transport::Options fast_options() {
  mlflow::transport::Options o;
  o.request_timeout = 2s;
  o.total_timeout = 8s;
  o.max_retries = 2;
  o.backoff_factor = 0.01;
  o.backoff_jitter = 0.0;
  return o;
}

/// A loopback server answering canned responses per "METHOD path" (default 200 {}), recording every request.
class RestStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<LoopbackServer>([this](const RecordedRequest& r) { return answer_for(r); });
    store_ = std::make_unique<RestStore>(server_->base_url(), fast_options());
  }

  void answer(const std::string& method, const std::string& endpoint, int status, std::string body,
              std::string content_type = "application/json") {
    std::lock_guard lock(mutex_);
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = std::move(content_type);
    canned_[method + " " + API + endpoint] = r;
  }

  /// A handler for endpoints whose answer depends on the request (pagination).
  void answer_with(const std::string& method, const std::string& endpoint,
                   std::function<Response(const RecordedRequest&)> f) {
    std::lock_guard lock(mutex_);
    dynamic_[method + " " + API + endpoint] = std::move(f);
  }

  std::vector<RecordedRequest> requests() const { return server_->requests(); }

  RecordedRequest only_request() const {
    auto reqs = server_->requests();
    EXPECT_EQ(reqs.size(), 1u);
    return reqs.empty() ? RecordedRequest{} : reqs.back();
  }

  static json::value body_of(const RecordedRequest& r) { return json::parse(r.body); }

  /// Method, path, JSON headers and the parsed body of a POST.
  static void expect_post(const RecordedRequest& r, const std::string& endpoint, const std::string& expected_json) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, std::string(API) + endpoint);
    EXPECT_EQ(r.target, std::string(API) + endpoint) << "no query string on POST";
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.at("user-agent"), mlflow::transport::Options::default_user_agent());
    EXPECT_EQ(json::parse(r.body), json::parse(expected_json)) << r.body;
  }

  static void expect_get(const RecordedRequest& r, const std::string& endpoint,
                         const std::multimap<std::string, std::string>& query) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, std::string(API) + endpoint);
    EXPECT_EQ(r.query_all, query);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.headers.count("content-type"), 0u);
  }

  std::unique_ptr<LoopbackServer> server_;
  std::unique_ptr<RestStore> store_;

 private:
  Response answer_for(const RecordedRequest& r) {
    std::lock_guard lock(mutex_);
    const std::string key = r.method + " " + r.path;
    if (auto it = dynamic_.find(key); it != dynamic_.end()) return it->second(r);
    if (auto it = canned_.find(key); it != canned_.end()) return it->second;
    return Response{};
  }

  std::mutex mutex_;
  std::map<std::string, Response> canned_;
  std::map<std::string, std::function<Response(const RecordedRequest&)>> dynamic_;
};

// ---- experiments ----

TEST_F(RestStoreTest, CreateExperimentSendsNameLocationAndTags) {
  answer("POST", "experiments/create", 200, "{\n  \"experiment_id\": \"7\"\n}");
  const std::string id = store_->create_experiment("exp", std::string("s3://bucket/x"), {{"team", "cpp"}});
  EXPECT_EQ(id, "7");
  expect_post(only_request(), "experiments/create",
              R"({"name":"exp","artifact_location":"s3://bucket/x","tags":[{"key":"team","value":"cpp"}]})");
}

TEST_F(RestStoreTest, CreateExperimentOmitsUnsetFields) {
  answer("POST", "experiments/create", 200, R"({"experiment_id": "1"})");
  store_->create_experiment("exp");
  expect_post(only_request(), "experiments/create", R"({"name":"exp"})");
}

TEST_F(RestStoreTest, CreateExperimentDuplicateNamePropagatesServerError) {
  answer("POST", "experiments/create", 400,
         R"({"error_code": "RESOURCE_ALREADY_EXISTS", "message": "Experiment(name=exp) already exists."})");
  try {
    store_->create_experiment("exp");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::RESOURCE_ALREADY_EXISTS);
    EXPECT_EQ(e.error_code_name(), "RESOURCE_ALREADY_EXISTS");
    EXPECT_EQ(e.message(), "Experiment(name=exp) already exists.");
    EXPECT_EQ(e.http_status(), 400);
  }
  EXPECT_EQ(requests().size(), 1u) << "400 is not retried";
}

TEST_F(RestStoreTest, GetExperimentDecodesServerAnswer) {
  answer("GET", "experiments/get", 200, EXPERIMENT_JSON);
  auto e = store_->get_experiment("1");
  expect_get(only_request(), "experiments/get", {{"experiment_id", "1"}});
  EXPECT_EQ(e.experiment_id, "1");
  EXPECT_EQ(e.name, "rest-verify-5068-1796397282000");
  EXPECT_EQ(e.artifact_location, "mlflow-artifacts:/1");
  EXPECT_EQ(e.lifecycle_stage, "active");
  EXPECT_EQ(e.creation_time, 1796397282953);
  EXPECT_EQ(e.last_update_time, 1796397282953);
  ASSERT_EQ(e.tags.size(), 1u);
  EXPECT_EQ(e.tags[0], (mlflow::ExperimentTag{"team", "cpp"}));
}

TEST_F(RestStoreTest, GetExperimentUnknownIdIsResourceDoesNotExist) {
  answer("GET", "experiments/get", 404,
         R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No Experiment with id=999999 exists"})");
  try {
    store_->get_experiment("999999");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::RESOURCE_DOES_NOT_EXIST);
    EXPECT_EQ(e.http_status(), 404);
    EXPECT_EQ(e.message(), "No Experiment with id=999999 exists");
  }
}

TEST_F(RestStoreTest, GetExperimentByNamePercentEncodesTheName) {
  answer("GET", "experiments/get-by-name", 200, EXPERIMENT_JSON);
  const std::string name = "my exp/\xCE\xB1&x=1+2%";
  auto e = store_->get_experiment_by_name(name);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->experiment_id, "1");
  auto r = only_request();
  expect_get(r, "experiments/get-by-name", {{"experiment_name", name}});
  EXPECT_EQ(r.target, std::string(API) + "experiments/get-by-name?experiment_name=my%20exp%2F%CE%B1%26x%3D1%2B2%25");
}

TEST_F(RestStoreTest, GetExperimentByNameMissingIsNullopt) {
  answer("GET", "experiments/get-by-name", 404,
         R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Could not find experiment with name 'nope'"})");
  EXPECT_FALSE(store_->get_experiment_by_name("nope").has_value());
}

TEST_F(RestStoreTest, GetExperimentByNameHtml404IsAnErrorNotNullopt) {
  server_->push_fault(Fault::html_404);
  try {
    store_->get_experiment_by_name("x");
    FAIL() << "an HTML 404 means a wrong URL, not a missing experiment";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::ENDPOINT_NOT_FOUND);
    EXPECT_EQ(e.http_status(), 404);
  }
}

TEST_F(RestStoreTest, SearchExperimentsAlwaysSendsMaxResults) {
  answer("POST", "experiments/search", 200, "{}");
  auto page = store_->search_experiments();
  expect_post(only_request(), "experiments/search", R"({"max_results":1000,"view_type":"ACTIVE_ONLY"})");
  EXPECT_TRUE(page.items.empty());
  EXPECT_TRUE(page.next_page_token.empty());
}

TEST_F(RestStoreTest, SearchExperimentsSendsEveryArgumentAndDecodesPage) {
  answer("POST", "experiments/search", 200, R"({
  "experiments": [
    {"experiment_id": "1", "name": "a", "artifact_location": "mlflow-artifacts:/1", "lifecycle_stage": "deleted",
     "last_update_time": 1796397282953, "creation_time": 1796397282950},
    {"experiment_id": "0", "name": "Default", "artifact_location": "mlflow-artifacts:/0", "lifecycle_stage": "active",
     "last_update_time": 1796397279606, "creation_time": 1796397279606}
  ],
  "next_page_token": "eyJvZmZzZXQiOiAyfQ=="
})");
  auto page = store_->search_experiments(ViewType::ALL, 2, "name LIKE 'a%'", {"name ASC", "creation_time DESC"},
                                         "eyJvZmZzZXQiOiAwfQ==");
  expect_post(only_request(), "experiments/search",
              R"({"max_results":2,"view_type":"ALL","filter":"name LIKE 'a%'",
                  "order_by":["name ASC","creation_time DESC"],"page_token":"eyJvZmZzZXQiOiAwfQ=="})");
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].lifecycle_stage, "deleted");
  EXPECT_EQ(page.items[1].name, "Default");
  EXPECT_EQ(page.next_page_token, "eyJvZmZzZXQiOiAyfQ==");
}

TEST_F(RestStoreTest, RenameDeleteRestoreAndTagExperiment) {
  store_->rename_experiment("3", "new name");
  store_->delete_experiment("3");
  store_->restore_experiment("3");
  store_->set_experiment_tag("3", {"k", "v"});
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 4u);
  expect_post(reqs[0], "experiments/update", R"({"experiment_id":"3","new_name":"new name"})");
  expect_post(reqs[1], "experiments/delete", R"({"experiment_id":"3"})");
  expect_post(reqs[2], "experiments/restore", R"({"experiment_id":"3"})");
  expect_post(reqs[3], "experiments/set-experiment-tag", R"({"experiment_id":"3","key":"k","value":"v"})");
}

// ---- runs ----

TEST_F(RestStoreTest, CreateRunSendsStartTimeNameTagsAndUsesTheServersRunId) {
  answer("POST", "runs/create", 200, CREATE_RUN_JSON);
  auto run = store_->create_run("1", "tester", 1796397282000, {{"mlflow.user", "tester"}}, "cpp-run");
  expect_post(only_request(), "runs/create",
              R"({"experiment_id":"1","user_id":"tester","start_time":1796397282000,"run_name":"cpp-run",
                  "tags":[{"key":"mlflow.user","value":"tester"}]})");
  EXPECT_EQ(run.info.run_id, "27079a6c680b438abfda9e7a0180576e");
  EXPECT_EQ(run.info.experiment_id, "1");
  EXPECT_EQ(run.info.run_name, "cpp-run");
  EXPECT_EQ(run.info.status, RunStatus::RUNNING);
  EXPECT_EQ(run.info.start_time, 1796397282000);
  EXPECT_FALSE(run.info.end_time.has_value());
  EXPECT_EQ(run.info.artifact_uri, "mlflow-artifacts:/1/27079a6c680b438abfda9e7a0180576e/artifacts");
  EXPECT_EQ(run.info.lifecycle_stage, "active");
  ASSERT_EQ(run.data.tags.size(), 2u);
  EXPECT_EQ(run.data.tags[1], (RunTag{"mlflow.runName", "cpp-run"}));
  EXPECT_TRUE(run.data.metrics.empty());
  EXPECT_TRUE(run.data.params.empty());
}

TEST_F(RestStoreTest, CreateRunWithoutNameLetsTheServerPickOne) {
  answer("POST", "runs/create", 200, CREATE_RUN_JSON);
  store_->create_run("1", "", 5, {}, "");
  expect_post(only_request(), "runs/create", R"({"experiment_id":"1","start_time":5})");
}

TEST_F(RestStoreTest, CreateRunInUnknownExperimentPropagatesServerCode) {
  answer("POST", "runs/create", 404,
         R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No Experiment with id=999 exists"})");
  try {
    store_->create_run("999", "", 1, {}, "");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::RESOURCE_DOES_NOT_EXIST);
    EXPECT_EQ(e.http_status(), 404);
    EXPECT_NE(std::string(e.what()).find("No Experiment with id=999 exists"), std::string::npos);
  }
}

TEST_F(RestStoreTest, GetRunDecodesInfoAndData) {
  answer("GET", "runs/get", 200, GET_RUN_JSON);
  auto run = store_->get_run("27079a6c680b438abfda9e7a0180576e");
  expect_get(only_request(), "runs/get", {{"run_id", "27079a6c680b438abfda9e7a0180576e"}});
  EXPECT_EQ(run.info.status, RunStatus::FINISHED);
  EXPECT_EQ(run.info.end_time, 1796397287000);
  ASSERT_EQ(run.data.metrics.size(), 2u);
  EXPECT_EQ(run.data.metrics[0], (Metric{"loss", 0.25, 1796397282001, 1}));
  EXPECT_EQ(run.data.metrics[1], (Metric{"acc", 0.95, 1796397282002, 1}));
  ASSERT_EQ(run.data.params.size(), 2u);
  EXPECT_EQ(run.data.params[0], (Param{"lr", "0.01"}));
  ASSERT_EQ(run.data.tags.size(), 4u);
  EXPECT_EQ(run.data.tags[3], (RunTag{"framework", "cpp"}));
}

TEST_F(RestStoreTest, UpdateRunInfoSendsOnlyWhatIsSet) {
  answer("POST", "runs/update", 200, UPDATE_RUN_JSON);
  auto info = store_->update_run_info("27079a6c680b438abfda9e7a0180576e", RunStatus::FINISHED, 1796397287000, std::nullopt);
  EXPECT_EQ(info.status, RunStatus::FINISHED);
  EXPECT_EQ(info.end_time, 1796397287000);
  EXPECT_EQ(info.run_id, "27079a6c680b438abfda9e7a0180576e");
  store_->update_run_info("r1", std::nullopt, std::nullopt, std::string("renamed"));
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 2u);
  expect_post(reqs[0], "runs/update",
              R"({"run_id":"27079a6c680b438abfda9e7a0180576e","status":"FINISHED","end_time":1796397287000})");
  expect_post(reqs[1], "runs/update", R"({"run_id":"r1","run_name":"renamed"})");
}

TEST_F(RestStoreTest, DeleteRestoreRunAndDeleteTag) {
  store_->delete_run("r1");
  store_->restore_run("r1");
  store_->delete_tag("r1", "stage");
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 3u);
  expect_post(reqs[0], "runs/delete", R"({"run_id":"r1"})");
  expect_post(reqs[1], "runs/restore", R"({"run_id":"r1"})");
  expect_post(reqs[2], "runs/delete-tag", R"({"run_id":"r1","key":"stage"})");
}

TEST_F(RestStoreTest, SearchRunsSendsEveryArgumentAndDecodesRuns) {
  answer("POST", "runs/search", 200,
         std::string("{\"runs\": [") + json::serialize(json::parse(GET_RUN_JSON).at("run")) +
             "], \"next_page_token\": \"tok2\"}");
  auto page = store_->search_runs({"1", "2"}, "metrics.acc > 0.5 and params.lr = '0.01'", ViewType::DELETED_ONLY, 10,
                                  {"attributes.start_time DESC"}, "tok1");
  expect_post(only_request(), "runs/search",
              R"({"experiment_ids":["1","2"],"filter":"metrics.acc > 0.5 and params.lr = '0.01'",
                  "run_view_type":"DELETED_ONLY","max_results":10,"order_by":["attributes.start_time DESC"],
                  "page_token":"tok1"})");
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].info.run_id, "27079a6c680b438abfda9e7a0180576e");
  EXPECT_EQ(page.items[0].data.metrics.size(), 2u);
  EXPECT_EQ(page.next_page_token, "tok2");
}

TEST_F(RestStoreTest, SearchRunsWithNoHitsDecodesEmptyObject) {
  answer("POST", "runs/search", 200, "{}");
  auto page = store_->search_runs({"1"});
  expect_post(only_request(), "runs/search",
              R"({"experiment_ids":["1"],"run_view_type":"ACTIVE_ONLY","max_results":1000})");
  EXPECT_TRUE(page.items.empty());
  EXPECT_TRUE(page.next_page_token.empty());
}

// ---- logging ----

TEST_F(RestStoreTest, LogBatchSendsMetricsParamsTags) {
  const std::string id = "27079a6c680b438abfda9e7a0180576e";
  store_->log_batch(id, {{"acc", 0.9, 1796397282000, 0}, {"acc", 0.95, 1796397282002, 1}}, {{"batch", "32"}},
                    {{"framework", "cpp"}});
  expect_post(only_request(), "runs/log-batch",
              R"({"run_id":"27079a6c680b438abfda9e7a0180576e","metrics":[{"key":"acc","value":0.9,"timestamp":1796397282000,"step":0},{"key":"acc","value":0.95,"timestamp":1796397282002,"step":1}],"params":[{"key":"batch","value":"32"}],"tags":[{"key":"framework","value":"cpp"}]})");
}

TEST_F(RestStoreTest, LogBatchOmitsEmptyListsAndSendsNothingWhenAllEmpty) {
  store_->log_batch("r1", {}, {}, {});
  EXPECT_TRUE(requests().empty());
  store_->set_tag("r1", {"k", "v"});  // TrackingStore::set_tag goes through log_batch
  expect_post(only_request(), "runs/log-batch", R"({"run_id":"r1","tags":[{"key":"k","value":"v"}]})");
}

TEST_F(RestStoreTest, NonFiniteMetricValuesTravelAsStrings) {
  const double inf = std::numeric_limits<double>::infinity();
  store_->log_batch("r1",
                    {{"m", std::numeric_limits<double>::quiet_NaN(), 1, 0}, {"m", inf, 1, 1}, {"m", -inf, 1, 2},
                     {"m", 1.5, 1, 3}, {"m", 0.1, 1, 4}, {"m", 1.7976931348623157e308, 1, 5}},
                    {}, {});
  auto r = only_request();
  const auto body = body_of(r);
  const auto& metrics = body.at("metrics").as_array();
  ASSERT_EQ(metrics.size(), 6u);
  EXPECT_EQ(metrics[0].at("value"), json::value("NaN"));
  EXPECT_EQ(metrics[1].at("value"), json::value("Infinity"));
  EXPECT_EQ(metrics[2].at("value"), json::value("-Infinity"));
  EXPECT_TRUE(metrics[3].at("value").is_double());
  EXPECT_EQ(metrics[3].at("value").as_double(), 1.5);
  EXPECT_NE(r.body.find("\"value\":0.1,"), std::string::npos) << "shortest round-trip form: " << r.body;
  EXPECT_NE(r.body.find("\"value\":1.7976931348623157e+308"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("NaN,"), std::string::npos) << "never a bare NaN token: " << r.body;
}

TEST_F(RestStoreTest, NonFiniteAndExtremeValuesAreDecoded) {
  answer("GET", "metrics/get-history", 200, R"({ "metrics": [
    { "key": "m", "value": "NaN", "timestamp": 1, "step": 0 },
    { "key": "m", "value": "Infinity", "timestamp": 2, "step": 1 },
    { "key": "m", "value": "-Infinity", "timestamp": 3, "step": 2 },
    { "key": "m", "value": 1.7976931348623157e308, "timestamp": 4, "step": 3 },
    { "key": "m", "value": -1.7976931348623157e308, "timestamp": 5, "step": 4 },
    { "key": "m", "value": 0.9999999999999999, "timestamp": 6, "step": 5 },
    { "key": "m", "value": 3, "timestamp": 7 }
  ]})");
  auto h = store_->get_metric_history("r1", "m");
  ASSERT_EQ(h.size(), 7u);
  EXPECT_TRUE(std::isnan(h[0].value));
  EXPECT_EQ(h[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(h[2].value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(h[3].value, 1.7976931348623157e308) << "kept as the server sent it";
  EXPECT_EQ(h[4].value, -1.7976931348623157e308);
  EXPECT_EQ(h[5].value, 0.9999999999999999) << "doubles are parsed exactly";
  EXPECT_EQ(h[6].value, 3.0);
  EXPECT_EQ(h[6].step, 0) << "an omitted step is 0";
}

TEST_F(RestStoreTest, Int64TravelsExactlyBothWays) {
  constexpr std::int64_t big = 9007199254740993;  // 2^53 + 1: not representable as a double
  store_->log_batch("r1", {{"m", 1.0, big, -big}}, {}, {});
  auto r = only_request();
  EXPECT_NE(r.body.find("\"timestamp\":9007199254740993"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"step\":-9007199254740993"), std::string::npos) << r.body;

  answer("GET", "metrics/get-history", 200,
         R"({"metrics": [{"key": "m", "value": 1.0, "timestamp": 9007199254740993, "step": 9223372036854775807}]})");
  auto h = store_->get_metric_history("r1", "m");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].timestamp, big);
  EXPECT_EQ(h[0].step, std::numeric_limits<std::int64_t>::max());
}

TEST_F(RestStoreTest, LogBatchOf2500MetricsAnd250ParamsWithDuplicatesIsSplitLegallyInOrder) {
  std::vector<Metric> metrics;
  for (int i = 0; i < 2500; ++i) metrics.push_back({"m" + std::to_string(i % 7), i * 0.5, 1000 + i, i});
  std::vector<Param> params;
  for (int i = 0; i < 250; ++i) {
    // Every 40th param repeats the key of the one before it (same value, or a different one).
    const int key = (i % 40 == 39) ? i - 1 : i;
    params.push_back({"p" + std::to_string(key), "v" + std::to_string(i % 80 == 79 ? i : key)});
  }
  std::vector<RunTag> tags;
  for (int i = 0; i < 150; ++i) tags.push_back({"t" + std::to_string(i % 120), "x" + std::to_string(i)});
  store_->log_batch("r1", metrics, params, tags);

  std::vector<Metric> got_metrics;
  std::vector<Param> got_params;
  std::vector<RunTag> got_tags;
  for (const auto& r : requests()) {
    EXPECT_EQ(r.path, std::string(API) + "runs/log-batch");
    const auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("run_id"), json::value("r1"));
    std::size_t n_metrics = 0, n_params = 0, n_tags = 0;
    std::set<std::string> param_keys;
    if (body.contains("metrics")) {
      for (const auto& m : body.at("metrics").as_array()) {
        got_metrics.push_back(mlflow::rest::decode_metric(m.as_object()));
        ++n_metrics;
      }
    }
    if (body.contains("params")) {
      for (const auto& p : body.at("params").as_array()) {
        Param param{json::value_to<std::string>(p.at("key")), json::value_to<std::string>(p.at("value"))};
        EXPECT_TRUE(param_keys.insert(param.key).second) << "duplicate param key in one request: " << param.key;
        got_params.push_back(param);
        ++n_params;
      }
    }
    if (body.contains("tags")) {
      for (const auto& t : body.at("tags").as_array()) {
        got_tags.push_back({json::value_to<std::string>(t.at("key")), json::value_to<std::string>(t.at("value"))});
        ++n_tags;
      }
    }
    EXPECT_LE(n_metrics, 1000u);
    EXPECT_LE(n_params, 100u);
    EXPECT_LE(n_tags, 100u);
    EXPECT_LE(n_metrics + n_params + n_tags, 1000u);
    EXPECT_GT(n_metrics + n_params + n_tags, 0u);
  }
  EXPECT_EQ(got_metrics, metrics);
  EXPECT_EQ(got_params, params);
  EXPECT_EQ(got_tags, tags);
}

TEST(RestBatchSplit, FollowsMlflowChunking) {
  std::vector<Metric> metrics(2500);
  std::vector<Param> params;
  for (int i = 0; i < 250; ++i) params.push_back({"p" + std::to_string(i), "v"});
  auto chunks = mlflow::rest::split_log_batch(metrics, params, {});
  // Params in slices of 100, each filled up to 1000 items with metrics, then the remaining metrics.
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].params_end - chunks[0].params_begin, 100u);
  EXPECT_EQ(chunks[0].metrics_end - chunks[0].metrics_begin, 900u);
  EXPECT_EQ(chunks[1].params_end - chunks[1].params_begin, 100u);
  EXPECT_EQ(chunks[1].metrics_end - chunks[1].metrics_begin, 900u);
  EXPECT_EQ(chunks[2].params_end - chunks[2].params_begin, 50u);
  EXPECT_EQ(chunks[2].metrics_begin, 1800u);
  EXPECT_EQ(chunks[2].metrics_end, 2500u);

  auto only_metrics = mlflow::rest::split_log_batch(std::vector<Metric>(2001), {}, {});
  ASSERT_EQ(only_metrics.size(), 3u);
  EXPECT_EQ(only_metrics[2].metrics_end - only_metrics[2].metrics_begin, 1u);

  EXPECT_TRUE(mlflow::rest::split_log_batch({}, {}, {}).empty());
}

TEST(RestBatchSplit, DuplicateParamKeysGoToLaterRequestsInOrder) {
  std::vector<Param> params = {{"a", "1"}, {"b", "1"}, {"a", "1"}, {"a", "2"}, {"c", "1"}};
  auto chunks = mlflow::rest::split_log_batch({}, params, {});
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].params_begin, 0u);
  EXPECT_EQ(chunks[0].params_end, 2u);
  EXPECT_EQ(chunks[1].params_begin, 2u);
  EXPECT_EQ(chunks[1].params_end, 3u);
  EXPECT_EQ(chunks[2].params_begin, 3u);
  EXPECT_EQ(chunks[2].params_end, 5u);
}

TEST_F(RestStoreTest, LogBatchStopsAtTheFirstRefusedRequest) {
  answer("POST", "runs/log-batch", 400,
         R"({"error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values is not allowed."})");
  std::vector<Metric> metrics(1500, Metric{"m", 1.0, 1, 0});
  try {
    store_->log_batch("r1", metrics, {}, {});
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
  }
  EXPECT_EQ(requests().size(), 1u);
}

TEST_F(RestStoreTest, MetricHistoryFollowsPageTokens) {
  answer_with("GET", "metrics/get-history", [](const RecordedRequest& r) {
    Response res;
    const auto it = r.query.find("page_token");
    const std::string token = it == r.query.end() ? "" : it->second;
    if (token.empty()) {
      res.body = R"({"metrics": [{"key": "loss", "value": 0.5, "timestamp": 1796397282000, "step": 0},
                                 {"key": "loss", "value": 0.25, "timestamp": 1796397282001, "step": 1}],
                     "next_page_token": "eyJvZmZzZXQiOiAyfQ=="})";
    } else if (token == "eyJvZmZzZXQiOiAyfQ==") {
      res.body = R"({"metrics": [{"key": "loss", "value": 0.125, "timestamp": 1796397282002, "step": 2}],
                     "next_page_token": "eyJvZmZzZXQiOiAzfQ=="})";
    } else {
      res.body = R"({"metrics": [{"key": "loss", "value": 0.0625, "timestamp": 1796397282003, "step": 3}]})";
    }
    return res;
  });
  auto h = store_->get_metric_history("r 1", "loss/train");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], (Metric{"loss", 0.5, 1796397282000, 0}));
  EXPECT_EQ(h[3], (Metric{"loss", 0.0625, 1796397282003, 3}));
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 3u);
  expect_get(reqs[0], "metrics/get-history", {{"run_id", "r 1"}, {"metric_key", "loss/train"}, {"max_results", "25000"}});
  expect_get(reqs[1], "metrics/get-history",
             {{"run_id", "r 1"}, {"metric_key", "loss/train"}, {"max_results", "25000"},
              {"page_token", "eyJvZmZzZXQiOiAyfQ=="}});
  expect_get(reqs[2], "metrics/get-history",
             {{"run_id", "r 1"}, {"metric_key", "loss/train"}, {"max_results", "25000"},
              {"page_token", "eyJvZmZzZXQiOiAzfQ=="}});
  EXPECT_EQ(reqs[0].target,
            std::string(API) + "metrics/get-history?run_id=r%201&metric_key=loss%2Ftrain&max_results=25000");
}

TEST_F(RestStoreTest, MetricHistoryStopsOnAnEmptyPage) {
  // MLflow 3.x's answer when it ignores max_results: no metrics and a token for the same offset.
  answer("GET", "metrics/get-history", 200, R"({"next_page_token": "eyJvZmZzZXQiOiAwfQ=="})");
  EXPECT_TRUE(store_->get_metric_history("r1", "loss").empty());
  EXPECT_EQ(requests().size(), 1u);
}

TEST_F(RestStoreTest, SingleEntityEndpoints) {
  store_->log_metric_single("r1", {"loss", 0.5, 1796397282000, 3});
  store_->log_param_single("r1", {"lr", "0.01"});
  store_->set_tag_single("r1", {"stage", "dev"});
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 3u);
  expect_post(reqs[0], "runs/log-metric",
              R"({"run_id":"r1","key":"loss","value":0.5,"timestamp":1796397282000,"step":3})");
  expect_post(reqs[1], "runs/log-parameter", R"({"run_id":"r1","key":"lr","value":"0.01"})");
  expect_post(reqs[2], "runs/set-tag", R"({"run_id":"r1","key":"stage","value":"dev"})");
}

// ---- errors ----

TEST_F(RestStoreTest, Html404SaysTheUrlIsNotAnMlflowServer) {
  server_->push_fault(Fault::html_404);
  try {
    store_->get_run("abc");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::ENDPOINT_NOT_FOUND);
    EXPECT_EQ(e.http_status(), 404);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("does not look like an MLflow tracking server"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GET /api/2.0/mlflow/runs/get"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MLFLOW_TRACKING_URI"), std::string::npos) << msg;
  }
}

TEST_F(RestStoreTest, Html405IsMappedLike404) {
  answer("POST", "runs/delete", 405, "<!doctype html><title>405 Method Not Allowed</title>", "text/html");
  try {
    store_->delete_run("r1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::ENDPOINT_NOT_FOUND);
    EXPECT_EQ(e.http_status(), 405);
    EXPECT_NE(std::string(e.what()).find("POST /api/2.0/mlflow/runs/delete"), std::string::npos) << e.what();
  }
}

TEST_F(RestStoreTest, UnknownServerErrorCodeIsKeptAsSpelled) {
  answer("POST", "runs/delete", 400, R"({"error_code": "SOME_FUTURE_CODE", "message": "new"})");
  try {
    store_->delete_run("r1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::UNKNOWN);
    EXPECT_EQ(e.error_code_name(), "SOME_FUTURE_CODE");
    EXPECT_EQ(e.message(), "new");
  }
}

TEST_F(RestStoreTest, PlainText401AsksForCredentialsWithoutShowingThem) {
  mlflow::transport::Options o = fast_options();
  o.username = "alice";
  o.password = "pa55-SECRET";
  RestStore store(server_->base_url(), o);
  answer("GET", "runs/get", 401, "You are not authenticated. Please see the documentation...", "text/plain");
  try {
    store.get_run("r1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::UNAUTHENTICATED);
    EXPECT_EQ(e.http_status(), 401);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("MLFLOW_TRACKING_USERNAME"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("pa55-SECRET"), std::string::npos) << msg;
  }
}

TEST_F(RestStoreTest, ServerErrorAfterRetriesKeepsServerCodeAndSaysItGaveUp) {
  answer("GET", "runs/get", 503, R"({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "database is locked"})");
  try {
    store_->get_run("r1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::TEMPORARILY_UNAVAILABLE);
    EXPECT_EQ(e.http_status(), 503);
    EXPECT_NE(e.message().find("database is locked"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("gave up after 3 attempts"), std::string::npos) << e.message();
  }
  EXPECT_EQ(requests().size(), 3u);
}

TEST_F(RestStoreTest, WrongFieldTypeIsAClearError) {
  answer("GET", "runs/get", 200, R"({"run": {"info": {"run_id": "r1", "start_time": "soon"}}})");
  try {
    store_->get_run("r1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("start_time"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/api/2.0/mlflow/runs/get"), std::string::npos) << msg;
  }
}

TEST_F(RestStoreTest, NonJsonSuccessBodyIsAClearError) {
  answer("GET", "experiments/get", 200, "<html><body>Welcome to nginx!</body></html>", "text/html");
  try {
    store_->get_experiment("1");
    FAIL() << "expected an error";
  } catch (const MlflowError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("does not look like an MLflow tracking server"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Welcome to nginx"), std::string::npos) << msg;
  }
}

// ---- URIs and the registry ----

TEST(RestStoreUri, PathPrefixIsKept) {
  LoopbackServer server([](const RecordedRequest&) { return json_response(200, EXPERIMENT_JSON); });
  RestStore store(server.base_url() + "/tracking/prefix/", fast_options());
  store.get_experiment("1");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].path, "/tracking/prefix/api/2.0/mlflow/experiments/get");
}

TEST(RestStoreUri, OpenTrackingStoreReturnsARestStoreForHttp) {
  LoopbackServer server([](const RecordedRequest&) { return json_response(200, EXPERIMENT_JSON); });
  // Logging goes through the asynchronous logger and the spool; reads reach the server through a RestStore.
  auto store = mlflow::open_tracking_store(server.base_url());
  auto* logging = mlflow::logging::as_logging_store(store.get());
  ASSERT_NE(logging, nullptr);
  ASSERT_NE(dynamic_cast<mlflow::sync::SpooledStore*>(&logging->inner()), nullptr);
  EXPECT_EQ(store->get_experiment("1").name, "rest-verify-5068-1796397282000");
  EXPECT_EQ(server.requests().back().path, "/api/2.0/mlflow/experiments/get");
  EXPECT_TRUE(RestStore::handles("HTTPS://example.com"));
  EXPECT_FALSE(RestStore::handles("sqlite:///x.db"));
}

TEST(RestStoreUri, ConcurrentCallsShareOneConnection) {
  LoopbackServer server([](const RecordedRequest&) { return json_response(200, EXPERIMENT_JSON); });
  RestStore store(server.base_url(), fast_options());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (store.get_experiment("1").experiment_id == "1") ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(server.connections_accepted(), 1u);
}

// ---- codec ----

TEST(RestJsonCodec, WriterEscapesAndKeepsIntegers) {
  json::object o;
  o["s"] = "quote\" backslash\\ newline\n \xCE\xB1";
  o["i"] = std::int64_t{-9007199254740993};
  o["u"] = std::uint64_t{18446744073709551615ull};
  o["d"] = 1e-7;
  const std::string text = mlflow::rest::write_json(o);
  EXPECT_EQ(json::parse(text), json::value(o));
  EXPECT_NE(text.find("-9007199254740993"), std::string::npos);
  EXPECT_NE(text.find("18446744073709551615"), std::string::npos);
  auto back = mlflow::rest::parse_json(text);
  EXPECT_EQ(back.at("i").as_int64(), -9007199254740993);
  EXPECT_EQ(back.at("d").as_double(), 1e-7);
}

TEST(RestJsonCodec, ParserRejectsTruncatedAndTrailingInput) {
  EXPECT_THROW(mlflow::rest::parse_json("{\"a\": 1"), mlflow::rest::DecodeError);
  EXPECT_THROW(mlflow::rest::parse_json("{} x"), mlflow::rest::DecodeError);
  EXPECT_THROW(mlflow::rest::parse_json(""), mlflow::rest::DecodeError);
  EXPECT_NO_THROW(mlflow::rest::parse_json("{}\n"));
}

}  // namespace
