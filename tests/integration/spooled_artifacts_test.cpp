// Artifacts of a run that started while its tracking server was away: kept next to the spool through the
// client's normal calls, listed from there, uploaded into the server run once it exists; later ones go straight
// to the server.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "integration/offline_support.hpp"
#include "mlflow/client.hpp"
#include "mlflow/fluent.hpp"
#include "support/fake_mlflow_server.hpp"
#include "support/test_env.hpp"
#include "tracker/artifacts/run_artifacts.hpp"
#include "tracker/logging/logging_store.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/sync/spooled_store.hpp"

namespace {

using namespace std::chrono_literals;
using namespace mlflow;
using namespace mlflow::offline_test;
using mlflow::test::read_file;
using mlflow::test::write_file;

}  // namespace

TEST(SpooledArtifacts, aRunStartedOfflineKeepsItsArtifactsUntilItsServerRunExists) {
  TempDir dir;
  test::FakeMlflowServer server;
  sync::SpooledStoreOptions o;
  o.spool_path = dir.file("spool.db");
  o.server_wait = 500ms;
  o.upload_wait = 3000ms;
  o.retry_min = 20ms;
  o.retry_max = 200ms;
  o.upload_request_timeout = 3000ms;
  o.transport.request_timeout = 3000ms;
  o.transport.total_timeout = 3000ms;
  o.transport.max_retries = 0;
  o.message_handler = [](std::string_view) {};
  auto spooled = std::make_shared<sync::SpooledStore>(server.base_url(), o);
  logging::LoggerOptions lo;
  lo.flush_interval = 20ms;
  std::weak_ptr<sync::SpooledStore> weak = spooled;
  auto store = std::make_shared<logging::LoggingStore>(spooled, spooled, lo, [weak](std::chrono::milliseconds t) {
    auto s = weak.lock();
    return s ? s->wait_uploaded(t) : true;
  });
  MlflowClient client(store, server.base_url());

  server.loopback().stop();
  const mlflow::Run run = client.create_run("0", std::nullopt, {{"mlflow.runName", "offline"}}, "offline");
  write_file(dir.path() / "local" / "plot.png", "\x89PNG fake");
  client.log_artifact(run.info.run_id, (dir.path() / "local" / "plot.png").string(), "plots");
  client.log_text(run.info.run_id, "written offline", "notes.txt");

  // Kept next to the spool, under the run's local id; visible through the client.
  const auto record = spooled->spool().find_run(run.info.run_id);
  ASSERT_TRUE(record);
  const fs::path kept = artifacts::spooled_artifact_dir(o.spool_path, record->local_run_id);
  EXPECT_EQ(read_file(kept / "plots" / "plot.png"), "\x89PNG fake");
  EXPECT_EQ(read_file(kept / "notes.txt"), "written offline");
  const auto listed = client.list_artifacts(run.info.run_id);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].path, "notes.txt");
  EXPECT_EQ(listed[1].path, "plots");

  // The server comes back and the run is delivered; then its spooled artifacts are uploaded into it (by the
  // delivery itself once it calls upload_spooled_artifacts, or here).
  restart(server);
  ASSERT_TRUE(store->flush(10s));
  const auto delivered = spooled->spool().find_run(run.info.run_id);
  ASSERT_TRUE(delivered);
  ASSERT_FALSE(delivered->server_run_id.empty());
  rest::RestStore rest(server.base_url(), o.transport);
  artifacts::upload_spooled_artifacts(o.spool_path, rest, *delivered);
  const std::string root = "0/" + delivered->server_run_id + "/artifacts/";
  EXPECT_EQ(server.artifact(root + "plots/plot.png"), std::optional<std::string>("\x89PNG fake"));
  EXPECT_EQ(server.artifact(root + "notes.txt"), std::optional<std::string>("written offline"));
  EXPECT_FALSE(artifacts::has_spooled_artifacts(o.spool_path, record->local_run_id));

  // Now that the server run exists, artifacts go to it directly, under the id the program was given.
  client.log_text(run.info.run_id, "online now", "later.txt");
  EXPECT_EQ(server.artifact(root + "later.txt"), std::optional<std::string>("online now"));
  EXPECT_FALSE(artifacts::has_spooled_artifacts(o.spool_path, record->local_run_id));
  client.set_terminated(run.info.run_id);
}

TEST(SpooledArtifacts, fluentArtifactsOfAServerRunGoStraightToTheServer) {
  TempDir dir;
  test::FakeMlflowServer server;
  test::ScopedEnv spool_dir("MLFLOW_CPP_SPOOL_DIR", dir.path().c_str());
  mlflow::set_tracking_uri(server.base_url());
  std::string run_id;
  std::string experiment_id;
  {
    experiment_id = mlflow::set_experiment("fluent-artifacts").experiment_id;
    mlflow::ActiveRun run = mlflow::start_run();
    run_id = run.run_id();
    write_file(dir.path() / "local" / "w.csv", "1,2\n");
    mlflow::log_artifact((dir.path() / "local" / "w.csv").string(), "weights");
    mlflow::log_text("hello", "hello.txt");
  }
  mlflow::set_tracking_uri("");
  const std::string root = experiment_id + "/" + run_id + "/artifacts/";
  EXPECT_EQ(server.artifact(root + "weights/w.csv"), std::optional<std::string>("1,2\n"));
  EXPECT_EQ(server.artifact(root + "hello.txt"), std::optional<std::string>("hello"));
  EXPECT_FALSE(fs::exists(dir.path() / "spool.db.artifacts" / run_id));
}
