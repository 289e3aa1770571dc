// deliver_spooled_run against the fake MLflow server, through its pipelined metric path: metrics spooled with and
// without their wire form, params and tags between them, a refused request taken apart, and an outage in the
// middle of an upload. Every test checks the server point by point and what is left in the spool.

#include "tracker/sync/delivery.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <vector>

#include "integration/offline_support.hpp"
#include "storage/spool/spool.hpp"
#include "support/fake_mlflow_server.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/rest/rest_store.hpp"

namespace {

using namespace mlflow;
using namespace mlflow::offline_test;

/// A spool with one run bound for the fake server, and a REST store talking to that server without retries.
struct SpoolAndServer {
  TempDir dir;
  test::FakeMlflowServer server;
  spool::Spool spool{dir.file("spool.db")};
  std::int64_t run_key = 0;
  std::unique_ptr<rest::RestStore> store;

  SpoolAndServer() {
    spool::RunRecord run;
    run.local_run_id = spool::new_local_id();
    run.target_uri = server.base_url();
    run.experiment_id = "0";
    run.run_name = "delivery";
    run.user_id = "tester";
    run.start_time = 1700000000000;
    run_key = spool.add_run(run);
    transport::Options o;
    o.max_retries = 0;
    o.request_timeout = std::chrono::milliseconds(3000);
    o.total_timeout = std::chrono::milliseconds(3000);
    store = std::make_unique<rest::RestStore>(server.base_url(), o);
  }
  /// Points [from, to) of metric `key`, as offline_support numbers them.
  void append_points(const std::string& key, int from, int to) {
    spool.append(static_cast<std::size_t>(to - from), [&](std::size_t i) {
      const int n = from + static_cast<int>(i);
      spool::ItemView v;
      v.run_key = run_key;
      v.kind = spool::ItemKind::metric;
      v.key = key;
      v.value = point_value(n);
      v.timestamp = point_timestamp(n);
      v.step = n;
      return v;
    });
  }
  void append_text(spool::ItemKind kind, const std::string& key, const std::string& value) {
    spool::ItemView v;
    v.run_key = run_key;
    v.kind = kind;
    v.key = key;
    v.text = value;
    spool.append({v});
  }
  std::string server_run_id() { return spool.get_run(run_key)->server_run_id; }
  /// Metrics carried by the log-batch requests the server received (answered or not).
  std::size_t metrics_sent() {
    std::size_t n = 0;
    for (const auto& request : server.requests_to("runs/log-batch")) {
      const auto body = boost::json::parse(request.body);
      if (const auto* metrics = body.as_object().if_contains("metrics")) {
        EXPECT_LE(metrics->as_array().size(), 1000u);
        n += metrics->as_array().size();
      }
    }
    return n;
  }
};

TEST(Delivery, metrics_with_and_without_wire_forms_and_params_between_them_arrive_once_in_order) {
  SpoolAndServer s;
  s.append_points("loss", 0, 1500);  // an older writer: no wire form, encoded at delivery
  s.spool.set_wire_encoder(&rest::append_metric_json);
  s.append_text(spool::ItemKind::param, "lr", "0.1");
  s.append_points("loss", 1500, 3200);
  s.append_text(spool::ItemKind::tag, "phase", "two");
  s.append_points("loss", 3200, 4000);

  const auto result = sync::deliver_spooled_run(s.spool, *s.store, s.run_key);
  ASSERT_EQ(result.status, sync::DeliveryStatus::complete) << result.error;
  EXPECT_EQ(result.items_sent, 4002);
  EXPECT_EQ(result.items_rejected, 0);
  const std::string run_id = s.server_run_id();
  EXPECT_TRUE(has_exactly_points(s.server, run_id, "loss", 4000));
  EXPECT_EQ(s.metrics_sent(), 4000u);
  const auto run = s.server.run(run_id);
  ASSERT_TRUE(run);
  ASSERT_NE(run->data.param("lr"), nullptr);
  EXPECT_EQ(run->data.param("lr")->value, "0.1");
  ASSERT_NE(run->data.tag("phase"), nullptr);
  EXPECT_EQ(s.spool.pending_items(s.run_key), 0);
  EXPECT_TRUE(s.spool.read_items(s.run_key, 0, 10).empty());  // delivered blocks are purged
}

TEST(Delivery, after_a_complete_delivery_the_next_one_sends_new_points_without_asking_for_history) {
  // The builder marks a window ahead in flight; a delivery that got every answer must take that back, or the
  // next pass (a moment later, while a program logs) would fetch the metric history of every key first.
  SpoolAndServer s;
  s.spool.set_wire_encoder(&rest::append_metric_json);
  s.append_points("loss", 0, 1500);
  ASSERT_EQ(sync::deliver_spooled_run(s.spool, *s.store, s.run_key).status, sync::DeliveryStatus::complete);
  const auto run = s.spool.get_run(s.run_key);
  EXPECT_EQ(run->inflight_seq, run->acked_seq);

  s.append_points("loss", 1500, 2000);
  const auto next = sync::deliver_spooled_run(s.spool, *s.store, s.run_key);
  ASSERT_EQ(next.status, sync::DeliveryStatus::complete) << next.error;
  EXPECT_EQ(next.items_sent, 500);
  EXPECT_EQ(s.server.request_count("metrics/get-history"), 0u);
  EXPECT_TRUE(has_exactly_points(s.server, s.server_run_id(), "loss", 2000));
}

TEST(Delivery, a_refused_request_is_taken_apart_and_everything_else_arrives) {
  SpoolAndServer s;
  s.spool.set_wire_encoder(&rest::append_metric_json);
  s.append_points("loss", 0, 1234);
  // Not checked at the call (the spool takes what it is given): the server refuses the name.
  s.append_points("bad key!", 0, 1);
  s.append_points("loss", 1234, 2500);
  std::vector<std::string> warnings;
  sync::DeliveryControl control;
  control.on_warning = [&](std::string_view w) { warnings.emplace_back(w); };

  const auto result = sync::deliver_spooled_run(s.spool, *s.store, s.run_key, control);
  ASSERT_EQ(result.status, sync::DeliveryStatus::complete) << result.error;
  EXPECT_EQ(result.items_rejected, 1);
  EXPECT_EQ(result.items_sent, 2501);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("bad key!"), std::string::npos) << warnings[0];
  EXPECT_TRUE(has_exactly_points(s.server, s.server_run_id(), "loss", 2500));
  EXPECT_EQ(s.spool.pending_items(s.run_key), 0);
}

TEST(Delivery, an_outage_in_the_middle_keeps_what_was_acknowledged_and_sends_nothing_twice) {
  SpoolAndServer s;
  s.spool.set_wire_encoder(&rest::append_metric_json);
  s.append_points("loss", 0, 5000);
  // runs/search and runs/create, then three log-batch requests go through; the fourth meets a 503.
  for (int i = 0; i < 5; ++i) s.server.loopback().push_fault(test::Fault::none);
  s.server.loopback().push_fault(test::Fault::status_503_retry_after);

  const auto first = sync::deliver_spooled_run(s.spool, *s.store, s.run_key);
  EXPECT_EQ(first.status, sync::DeliveryStatus::unavailable);
  EXPECT_EQ(first.items_sent, 3000);
  EXPECT_EQ(s.spool.pending_items(s.run_key), 2000);
  // Only the request without an answer may be on the server: the in-flight mark ends with its last point.
  const auto after = s.spool.get_run(s.run_key);
  EXPECT_EQ(after->inflight_seq, after->acked_seq + 1000);
  const std::string run_id = s.server_run_id();
  EXPECT_TRUE(has_exactly_points(s.server, run_id, "loss", 3000));
  s.server.loopback().clear_faults();

  const auto second = sync::deliver_spooled_run(s.spool, *s.store, s.run_key);
  ASSERT_EQ(second.status, sync::DeliveryStatus::complete) << second.error;
  EXPECT_EQ(second.items_sent, 2000);
  EXPECT_TRUE(has_exactly_points(s.server, run_id, "loss", 5000));
  // Every point went out once, and the 1000 of the request the server turned away with its 503 once more.
  EXPECT_EQ(s.metrics_sent(), 6000u);
  EXPECT_EQ(s.spool.pending_items(s.run_key), 0);
}

TEST(Delivery, a_proxy_error_page_is_not_a_refusal_and_the_items_wait_for_the_next_attempt) {
  SpoolAndServer s;
  s.spool.set_wire_encoder(&rest::append_metric_json);
  s.append_points("loss", 0, 1500);
  // runs/search and runs/create go through; the first log-batch meets a proxy's HTML 413 page.
  for (int i = 0; i < 2; ++i) s.server.loopback().push_fault(test::Fault::none);
  s.server.loopback().push_fault(test::Fault::proxy_413);

  const auto first = sync::deliver_spooled_run(s.spool, *s.store, s.run_key);
  EXPECT_EQ(first.status, sync::DeliveryStatus::unavailable);
  EXPECT_EQ(first.items_sent, 0);
  EXPECT_EQ(first.items_rejected, 0);
  EXPECT_NE(first.error.find("413"), std::string::npos) << first.error;
  EXPECT_EQ(s.spool.pending_items(s.run_key), 1500);
  EXPECT_NE(s.spool.get_run(s.run_key)->last_error.find("413"), std::string::npos);

  const auto second = sync::deliver_spooled_run(s.spool, *s.store, s.run_key);
  ASSERT_EQ(second.status, sync::DeliveryStatus::complete) << second.error;
  EXPECT_TRUE(has_exactly_points(s.server, s.server_run_id(), "loss", 1500));
  EXPECT_EQ(s.spool.pending_items(s.run_key), 0);
}

}  // namespace
