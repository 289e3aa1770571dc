// SpooledStore in one process against the fake MLflow server: online runs, outages before, during and at the
// end of a run, a lost runs/create answer, experiments named offline. Every test checks point by point.

#include "tracker/sync/spooled_store.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "integration/offline_support.hpp"
#include "mlflow/client.hpp"
#include "support/fake_mlflow_server.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/sync/delivery.hpp"

namespace {

using namespace std::chrono_literals;
using namespace mlflow;
using namespace mlflow::offline_test;

/// A client on a SpooledStore behind a LoggingStore, as open_tracking_store builds it, with short timeouts.
struct Harness {
  TempDir dir;
  test::FakeMlflowServer server;
  std::mutex mutex;
  std::vector<std::string> messages;
  std::shared_ptr<sync::SpooledStore> spooled;
  std::shared_ptr<logging::LoggingStore> store;
  std::unique_ptr<MlflowClient> client;

  Harness() { open(); }
  ~Harness() { close(); }

  void open() {
    sync::SpooledStoreOptions o;
    o.spool_path = dir.file("spool.db");
    o.server_wait = 1000ms;
    o.upload_wait = 3000ms;
    o.retry_min = 20ms;
    o.retry_max = 200ms;
    o.upload_request_timeout = 3000ms;
    o.transport.request_timeout = 3000ms;
    o.transport.total_timeout = 3000ms;
    o.transport.max_retries = 0;
    o.message_handler = [this](std::string_view line) {
      std::lock_guard lock(mutex);
      messages.emplace_back(line);
    };
    spooled = std::make_shared<sync::SpooledStore>(server.base_url(), o);
    logging::LoggerOptions lo;
    lo.flush_interval = 20ms;
    lo.error_handler = o.message_handler;
    std::weak_ptr<sync::SpooledStore> weak = spooled;
    store = std::make_shared<logging::LoggingStore>(spooled, spooled, lo, [weak](std::chrono::milliseconds t) {
      auto s = weak.lock();
      return s ? s->wait_uploaded(t) : true;
    }, /*verify_runs=*/false);
    client = std::make_unique<MlflowClient>(store, server.base_url());
  }
  void close() {
    client.reset();
    spooled.reset();
    store.reset();
  }
  bool said(std::string_view needle) {
    std::lock_guard lock(mutex);
    for (const auto& m : messages) {
      if (m.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string all_messages() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& m : messages) out += m + "\n";
    return out;
  }
  void log_points(const std::string& run_id, int from, int to) {
    for (int i = from; i < to; ++i) client->log_metric(run_id, "loss", point_value(i), point_timestamp(i), i);
  }
  /// The server run for a run id the client was given (a server id, or a local id through its tag).
  std::string server_run_id(const std::string& id) {
    if (server.run(id)) return id;
    const auto runs = server_runs_for_local_id(server, id);
    return runs.size() == 1 ? runs[0].info.run_id : std::string();
  }
};

TEST(SpooledStore, online_run_reaches_the_server_point_by_point) {
  Harness h;
  const auto experiment_id = h.client->create_experiment("online");
  const auto run = h.client->create_run(experiment_id, 1700000000000, {{"team", "cpp"}}, "online-run");
  ASSERT_TRUE(h.server.run(run.info.run_id)) << "with the server up, the run is made at once";
  h.client->log_param(run.info.run_id, "lr", "0.01");
  h.client->set_tag(run.info.run_id, "phase", "train");
  h.log_points(run.info.run_id, 0, 3000);
  h.client->set_terminated(run.info.run_id, RunStatus::FINISHED, 1700000009999);

  const auto on_server = h.server.run(run.info.run_id);
  ASSERT_TRUE(on_server);
  EXPECT_EQ(on_server->info.status, RunStatus::FINISHED);
  EXPECT_EQ(on_server->info.end_time, 1700000009999);
  EXPECT_EQ(on_server->info.run_name, "online-run");
  ASSERT_NE(on_server->data.param("lr"), nullptr);
  EXPECT_EQ(on_server->data.param("lr")->value, "0.01");
  ASSERT_NE(on_server->data.tag("phase"), nullptr);
  ASSERT_NE(on_server->data.tag("team"), nullptr);
  EXPECT_TRUE(has_exactly_points(h.server, run.info.run_id, "loss", 3000));
  EXPECT_EQ(h.server.runs().size(), 1u);
  EXPECT_EQ(h.spooled->spool().pending_items_total(), 0);
  EXPECT_FALSE(h.said("sync")) << h.all_messages();
  // Requests were server-legal batches, not one per point.
  EXPECT_LE(h.server.request_count("runs/log-batch"), 10u);
}

TEST(SpooledStore, server_down_before_the_run_starts_it_offline_and_uploads_it_when_back) {
  Harness h;
  h.server.loopback().stop();
  const auto started = std::chrono::steady_clock::now();
  const auto run = h.client->create_run("0", 1700000000000, {{"mlflow.runName", "offline-run"}}, "offline-run");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the wait for the server is bounded";
  EXPECT_EQ(run.info.run_id.size(), 32u);
  EXPECT_TRUE(h.said("starts offline")) << h.all_messages();
  h.client->log_param(run.info.run_id, "lr", "0.1");
  h.log_points(run.info.run_id, 0, 2500);
  EXPECT_TRUE(h.store->flush(200ms) == false) << "nothing can be delivered while the server is away";

  restart(h.server);
  ASSERT_TRUE(h.store->flush(10s)) << h.all_messages();
  const std::string server_id = h.server_run_id(run.info.run_id);
  ASSERT_FALSE(server_id.empty()) << "one server run carries the local id tag";
  const auto on_server = h.server.run(server_id);
  EXPECT_EQ(on_server->info.run_name, "offline-run");
  EXPECT_EQ(on_server->info.start_time, 1700000000000);
  EXPECT_EQ(on_server->info.experiment_id, "0");
  ASSERT_NE(on_server->data.param("lr"), nullptr);
  EXPECT_TRUE(has_exactly_points(h.server, server_id, "loss", 2500));

  h.client->set_terminated(run.info.run_id, RunStatus::FINISHED, 1700000005000);
  EXPECT_EQ(h.server.run(server_id)->info.status, RunStatus::FINISHED);
  EXPECT_EQ(h.server.run(server_id)->info.end_time, 1700000005000);
  EXPECT_EQ(h.server.runs().size(), 1u);
}

TEST(SpooledStore, server_down_in_the_middle_and_back_resumes_into_the_same_run) {
  Harness h;
  const auto run = h.client->create_run("0", 1700000000000, {}, "middle");
  h.log_points(run.info.run_id, 0, 1500);
  ASSERT_TRUE(h.store->flush(10s));
  h.server.loopback().stop();
  h.log_points(run.info.run_id, 1500, 4000);
  h.store->flush(300ms);
  restart(h.server);
  h.log_points(run.info.run_id, 4000, 5000);
  h.client->set_terminated(run.info.run_id, RunStatus::FINISHED, 1700000009000);
  EXPECT_EQ(h.server.runs().size(), 1u);
  EXPECT_TRUE(has_exactly_points(h.server, run.info.run_id, "loss", 5000));
  EXPECT_EQ(h.server.run(run.info.run_id)->info.status, RunStatus::FINISHED);
}

TEST(SpooledStore, server_down_at_the_end_keeps_everything_and_says_how_to_deliver_it) {
  Harness h;
  const auto run = h.client->create_run("0", 1700000000000, {}, "end");
  h.log_points(run.info.run_id, 0, 1000);
  ASSERT_TRUE(h.store->flush(10s));
  h.server.loopback().stop();
  h.log_points(run.info.run_id, 1000, 1700);
  const auto started = std::chrono::steady_clock::now();
  h.client->set_terminated(run.info.run_id, RunStatus::FINISHED, 1700000009000);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(h.said("ended with 700 logged items")) << h.all_messages();
  EXPECT_TRUE(h.said("`mlflow-cpp sync`")) << h.all_messages();
  const auto pending = h.spooled->backlog();
  EXPECT_EQ(pending.items, 700);
  EXPECT_EQ(pending.runs, 1);

  // The same process sees the server come back before it ends: the uploader delivers the rest.
  restart(h.server);
  ASSERT_TRUE(h.spooled->wait_uploaded(10s));
  EXPECT_TRUE(has_exactly_points(h.server, run.info.run_id, "loss", 1700));
  EXPECT_EQ(h.server.run(run.info.run_id)->info.status, RunStatus::FINISHED);
}

TEST(SpooledStore, the_end_of_the_program_prints_one_line_for_what_is_left) {
  Harness h;
  const auto run = h.client->create_run("0", 1700000000000, {}, "left");
  h.server.loopback().stop();
  h.log_points(run.info.run_id, 0, 300);
  h.close();
  int lines = 0;
  for (const auto& m : h.messages) {
    if (m.find("have not reached") != std::string::npos) ++lines;
  }
  EXPECT_EQ(lines, 1) << h.all_messages();
  EXPECT_TRUE(h.said("300 logged items of 1 run(s)")) << h.all_messages();
  spool::Spool spool(h.dir.file("spool.db"));
  EXPECT_EQ(spool.pending_items_total(), 300);
}

TEST(SpooledStore, a_lost_create_answer_does_not_make_a_second_run) {
  Harness h;
  // The server makes the run but the answer never arrives.
  h.server.loopback().push_fault(test::Fault::reset_mid_response);
  const auto run = h.client->create_run("0", 1700000000000, {}, "lost-answer");
  ASSERT_EQ(h.server.runs().size(), 1u) << "the server did create it";
  EXPECT_EQ(run.info.run_id.size(), 32u);
  EXPECT_FALSE(h.server.run(run.info.run_id)) << "the client went on with its local id";
  h.log_points(run.info.run_id, 0, 1200);
  h.client->set_terminated(run.info.run_id, RunStatus::FINISHED, 1700000001000);
  ASSERT_TRUE(h.spooled->wait_uploaded(10s)) << h.all_messages();
  ASSERT_EQ(h.server.runs().size(), 1u) << "found again through its local-id tag";
  const auto server_id = h.server.runs()[0].info.run_id;
  EXPECT_TRUE(has_exactly_points(h.server, server_id, "loss", 1200));
  EXPECT_EQ(h.server.run(server_id)->info.status, RunStatus::FINISHED);
}

TEST(SpooledStore, a_lost_log_batch_answer_is_not_sent_again) {
  Harness h;
  const auto run = h.client->create_run("0", 1700000000000, {}, "lost-batch");
  ASSERT_TRUE(h.server.run(run.info.run_id));
  // The next request is the upload of these points: the server stores them, the answer never arrives.
  h.server.loopback().push_fault(test::Fault::reset_mid_response);
  h.log_points(run.info.run_id, 0, 500);
  ASSERT_TRUE(eventually([&] { return h.store->flush(1s); }, 10s)) << h.all_messages();
  EXPECT_TRUE(has_exactly_points(h.server, run.info.run_id, "loss", 500));
  // Not resent: the uploader asked the server what it has instead (the server's own duplicate dropping is not
  // what keeps the points single). Every point went out in one request only; there may be more than one
  // request when the logger committed the points in more than one batch (a slow machine, a sanitizer).
  std::size_t sent = 0;
  for (const auto& request : h.server.requests_to("runs/log-batch")) {
    const auto body = boost::json::parse(request.body);
    if (const auto* metrics = body.as_object().if_contains("metrics")) sent += metrics->as_array().size();
  }
  EXPECT_EQ(sent, 500u);
  EXPECT_GE(h.server.request_count("metrics/get-history"), 1u);
}

TEST(SpooledStore, params_tags_renames_and_tag_deletions_arrive_in_order) {
  Harness h;
  h.server.loopback().stop();
  const auto run = h.client->create_run("0", 1700000000000, {}, "first-name");
  for (int i = 0; i < 150; ++i) h.client->log_param(run.info.run_id, "p" + std::to_string(i), std::to_string(i));
  h.client->set_tag(run.info.run_id, "t", "1");
  h.client->set_tag(run.info.run_id, "t", "2");
  h.client->set_tag(run.info.run_id, "gone", "x");
  h.client->delete_tag(run.info.run_id, "gone");
  h.client->update_run(run.info.run_id, std::nullopt, std::string("second-name"));
  h.log_points(run.info.run_id, 0, 10);
  restart(h.server);
  h.client->set_terminated(run.info.run_id, RunStatus::FAILED, 1700000002000);
  ASSERT_TRUE(h.spooled->wait_uploaded(10s)) << h.all_messages();
  const auto server_id = h.server_run_id(run.info.run_id);
  ASSERT_FALSE(server_id.empty());
  const auto r = h.server.run(server_id);
  EXPECT_EQ(r->data.params.size(), 150u);
  ASSERT_NE(r->data.tag("t"), nullptr);
  EXPECT_EQ(r->data.tag("t")->value, "2");
  EXPECT_EQ(r->data.tag("gone"), nullptr);
  EXPECT_EQ(r->info.run_name, "second-name");
  EXPECT_EQ(r->info.status, RunStatus::FAILED);
  EXPECT_TRUE(has_exactly_points(h.server, server_id, "loss", 10));
}

TEST(SpooledStore, an_experiment_named_offline_is_created_by_name_at_upload) {
  Harness h;
  h.server.loopback().stop();
  const auto experiment = h.client->get_experiment_by_name("made-offline");
  ASSERT_TRUE(experiment);
  EXPECT_EQ(experiment->name, "made-offline");
  const auto run = h.client->create_run(experiment->experiment_id, 1700000000000, {}, "in-new-exp");
  h.log_points(run.info.run_id, 0, 20);
  restart(h.server);
  ASSERT_TRUE(h.store->flush(10s)) << h.all_messages();
  const auto on_server = h.server.experiment_by_name("made-offline");
  ASSERT_TRUE(on_server);
  const auto server_id = h.server_run_id(run.info.run_id);
  ASSERT_FALSE(server_id.empty());
  EXPECT_EQ(h.server.run(server_id)->info.experiment_id, on_server->experiment_id);
  EXPECT_TRUE(has_exactly_points(h.server, server_id, "loss", 20));
}

TEST(SpooledStore, artifacts_logged_offline_are_uploaded_by_the_delivery_before_the_run_ends) {
  Harness h;
  h.server.loopback().stop();
  const auto run = h.client->create_run("0", 1700000000000, {}, "with-files");
  h.client->log_text(run.info.run_id, "kept while away", "notes/a.txt");
  h.log_points(run.info.run_id, 0, 10);
  restart(h.server);
  h.client->set_terminated(run.info.run_id, RunStatus::FINISHED, 1700000001000);
  ASSERT_TRUE(h.spooled->wait_uploaded(10s)) << h.all_messages();
  const auto server_id = h.server_run_id(run.info.run_id);
  ASSERT_FALSE(server_id.empty());
  EXPECT_EQ(h.server.artifact("0/" + server_id + "/artifacts/notes/a.txt"), std::optional<std::string>("kept while away"));
  EXPECT_EQ(h.server.run(server_id)->info.status, RunStatus::FINISHED);
  EXPECT_EQ(h.spooled->backlog().runs, 0);
}

TEST(SpooledStore, reads_of_a_run_not_yet_on_the_server_come_from_the_spool) {
  Harness h;
  h.server.loopback().stop();
  const auto run = h.client->create_run("0", 1700000000000, {}, "local-read");
  h.client->log_param(run.info.run_id, "p", "v");
  h.log_points(run.info.run_id, 0, 5);
  const auto got = h.client->get_run(run.info.run_id);
  EXPECT_EQ(got.info.run_id, run.info.run_id);
  EXPECT_EQ(got.info.run_name, "local-read");
  ASSERT_NE(got.data.param("p"), nullptr);
  ASSERT_NE(got.data.metric("loss"), nullptr);
  EXPECT_EQ(got.data.metric("loss")->step, 4);
  EXPECT_EQ(h.client->get_metric_history(run.info.run_id, "loss").size(), 5u);
}

}  // namespace
