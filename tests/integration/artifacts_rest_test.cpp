// Artifacts of runs on a tracking server (the FakeMlflowServer on a real socket): the exact mlflow-artifacts proxy
// requests, streaming of a 50 MB file in both directions with bounded memory, list/download round trips, retries
// that resend the whole file, http(s):// artifact URIs, a server without --serve-artifacts; and a spooled run's
// artifacts, kept next to the spool while the server is away and uploaded once its server run exists.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "storage/spool/spool.hpp"
#include "support/fake_mlflow_server.hpp"
#include "support/test_env.hpp"
#include "tracker/artifacts/run_artifacts.hpp"
#include "tracker/rest/rest_store.hpp"
#include "tracker/transport/options.hpp"

// ---- allocation probe: the largest single allocation made by the thread that enabled it ----
namespace {
thread_local bool g_probe_on = false;
thread_local std::size_t g_probe_largest = 0;

void* probed_alloc(std::size_t n) {
  if (g_probe_on && n > g_probe_largest) g_probe_largest = n;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return probed_alloc(n); }
void* operator new[](std::size_t n) { return probed_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace fs = std::filesystem;
using mlflow::ErrorCode;
using mlflow::FileInfo;
using mlflow::MlflowClient;
using mlflow::MlflowError;
using mlflow::test::FakeMlflowOptions;
using mlflow::test::FakeMlflowServer;
using mlflow::test::MlflowFlavor;
using mlflow::test::files_under;
using mlflow::test::read_file;
using mlflow::test::ScopedEnv;
using mlflow::test::TempDir;
using mlflow::test::write_file;

namespace {

/// Counts the largest allocation of this thread while alive.
class AllocationProbe {
 public:
  AllocationProbe() {
    g_probe_largest = 0;
    g_probe_on = true;
  }
  ~AllocationProbe() { g_probe_on = false; }
  std::size_t largest() const { return g_probe_largest; }
};

/// A deterministic pattern that no shifted copy matches, so a resent or truncated upload shows.
char pattern_byte(std::uint64_t i) { return static_cast<char>((i * 2654435761u >> 7) ^ (i >> 13)); }

/// Writes `size` pattern bytes in 1 MiB pieces (the test never holds the file in memory either).
void write_pattern_file(const fs::path& path, std::uint64_t size) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  std::string chunk;
  for (std::uint64_t done = 0; done < size;) {
    const std::uint64_t n = std::min<std::uint64_t>(1u << 20, size - done);
    chunk.resize(n);
    for (std::uint64_t k = 0; k < n; ++k) chunk[k] = pattern_byte(done + k);
    out.write(chunk.data(), static_cast<std::streamsize>(n));
    done += n;
  }
}

bool matches_pattern(const std::string& bytes, std::uint64_t size) {
  if (bytes.size() != size) return false;
  for (std::uint64_t i = 0; i < size; ++i) {
    if (bytes[i] != pattern_byte(i)) return false;
  }
  return true;
}

bool file_matches_pattern(const fs::path& path, std::uint64_t size) {
  std::error_code ec;
  if (fs::file_size(path, ec) != size || ec) return false;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chunk(1 << 20);
  for (std::uint64_t done = 0; done < size;) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<std::uint64_t>(in.gcount());
    if (n == 0) return false;
    for (std::uint64_t k = 0; k < n; ++k) {
      if (chunk[k] != pattern_byte(done + k)) return false;
    }
    done += n;
  }
  return true;
}

mlflow::transport::Options fast_options() {
  mlflow::transport::Options o;
  o.max_retries = 2;
  o.backoff_factor = 0.0;
  o.backoff_jitter = 0.0;
  o.request_timeout = std::chrono::seconds(20);
  o.total_timeout = std::chrono::seconds(60);
  return o;
}

/// A client on a RestStore for the fake server, with one experiment and one run.
struct ServerFixture {
  explicit ServerFixture(FakeMlflowOptions options = {}) : server(std::move(options)) {
    uri = server.base_url();
    client = std::make_unique<MlflowClient>(std::make_shared<mlflow::rest::RestStore>(uri, fast_options()), uri);
    experiment_id = client->create_experiment("artifacts");
    const mlflow::Run run = client->create_run(experiment_id);
    run_id = run.info.run_id;
    artifact_uri = run.info.artifact_uri;
    server.loopback().clear_requests();
  }
  std::string root() const { return experiment_id + "/" + run_id + "/artifacts"; }
  std::vector<mlflow::test::RecordedRequest> artifact_requests(const std::string& method) const {
    std::vector<mlflow::test::RecordedRequest> out;
    for (const auto& r : server.requests()) {
      if (r.method == method && r.path.rfind("/api/2.0/mlflow-artifacts/", 0) == 0) out.push_back(r);
    }
    return out;
  }

  FakeMlflowServer server;
  std::string uri;
  std::unique_ptr<MlflowClient> client;
  std::string experiment_id;
  std::string run_id;
  std::string artifact_uri;
  TempDir dir;
};

}  // namespace

TEST(ArtifactsRest, uploadsGoToTheProxyPathOfTheRunsArtifactUri) {
  ServerFixture f;
  EXPECT_EQ(f.artifact_uri, "mlflow-artifacts:/" + f.root());
  write_file(f.dir.path() / "hello.txt", "hello\n");
  f.client->log_artifact(f.run_id, (f.dir.path() / "hello.txt").string(), "docs");
  f.client->log_text(f.run_id, "{\"a\": 1}", "meta/info.json");

  const auto puts = f.artifact_requests("PUT");
  ASSERT_EQ(puts.size(), 2u);
  EXPECT_EQ(puts[0].target, "/api/2.0/mlflow-artifacts/artifacts/" + f.root() + "/docs/hello.txt");
  EXPECT_EQ(puts[0].body, "hello\n");
  EXPECT_EQ(puts[0].headers.at("content-type"), "text/plain");
  EXPECT_EQ(puts[1].target, "/api/2.0/mlflow-artifacts/artifacts/" + f.root() + "/meta/info.json");
  EXPECT_EQ(f.server.artifact(f.root() + "/docs/hello.txt"), std::optional<std::string>("hello\n"));
  EXPECT_EQ(f.server.artifact(f.root() + "/meta/info.json"), std::optional<std::string>("{\"a\": 1}"));
}

TEST(ArtifactsRest, namesAreEncodedInTheUrlAndArriveDecoded) {
  ServerFixture f;
  f.client->log_text(f.run_id, "x", "a dir/é 100%.txt");
  const auto puts = f.artifact_requests("PUT");
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts[0].target, "/api/2.0/mlflow-artifacts/artifacts/" + f.root() + "/a%20dir/%C3%A9%20100%25.txt");
  EXPECT_TRUE(f.server.artifact(f.root() + "/a dir/é 100%.txt").has_value());
  const auto listed = f.client->list_artifacts(f.run_id, "a dir");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].path, "a dir/é 100%.txt");
}

TEST(ArtifactsRest, listAndDownloadRoundTrip) {
  for (MlflowFlavor flavor : {MlflowFlavor::v2_17, MlflowFlavor::v3_3}) {
    FakeMlflowOptions options;
    options.flavor = flavor;  // 2.17 closes every connection, 3.3 keeps it alive
    ServerFixture f(options);
    write_file(f.dir.path() / "tree/top.txt", "top");
    write_file(f.dir.path() / "tree/data/a.bin", std::string("\0\1\2\3", 4));
    write_file(f.dir.path() / "tree/data/deep/b.csv", "1,2\n3,4\n");
    f.client->log_artifacts(f.run_id, (f.dir.path() / "tree").string(), "model");

    const auto root = f.client->list_artifacts(f.run_id);
    ASSERT_EQ(root.size(), 1u);
    EXPECT_EQ(root[0], (FileInfo{"model", true, std::nullopt}));
    const auto model = f.client->list_artifacts(f.run_id, "model");
    ASSERT_EQ(model.size(), 2u);
    EXPECT_EQ(model[0], (FileInfo{"model/data", true, std::nullopt}));
    EXPECT_EQ(model[1], (FileInfo{"model/top.txt", false, 3}));
    const auto gets = f.artifact_requests("GET");
    ASSERT_EQ(gets.size(), 2u);
    EXPECT_EQ(gets[1].target, "/api/2.0/mlflow-artifacts/artifacts?path=" + f.experiment_id + "%2F" + f.run_id +
                                  "%2Fartifacts%2Fmodel");

    const fs::path dst = f.dir.path() / "dst";
    const std::string local = f.client->download_artifacts(f.run_id, "model", dst.string());
    EXPECT_EQ(fs::path(local), dst / "model");
    EXPECT_EQ(files_under(local), (std::vector<std::string>{"data/a.bin", "data/deep/b.csv", "top.txt"}));
    EXPECT_EQ(read_file(dst / "model/data/a.bin"), std::string("\0\1\2\3", 4));
    EXPECT_EQ(read_file(dst / "model/data/deep/b.csv"), "1,2\n3,4\n");
    const std::string one = f.client->download_artifacts(f.run_id, "model/top.txt", (f.dir.path() / "one").string());
    EXPECT_EQ(read_file(one), "top");
    EXPECT_TRUE(f.client->list_artifacts(f.run_id, "missing").empty());
  }
}

TEST(ArtifactsRest, fiftyMegabytesStreamBothWaysWithBoundedMemory) {
  ServerFixture f;
  constexpr std::uint64_t size = 50ull << 20;
  const fs::path big = f.dir.path() / "big.bin";
  write_pattern_file(big, size);
  {
    AllocationProbe probe;
    f.client->log_artifact(f.run_id, big.string(), "blobs");
    // Reading the file whole would take one allocation of its size (or growing ones up to it).
    EXPECT_LT(probe.largest(), 4u << 20) << "largest allocation while uploading: " << probe.largest();
    RecordProperty("largest_allocation_upload", std::to_string(probe.largest()));
  }
  const auto stored = f.server.artifact(f.root() + "/blobs/big.bin");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(matches_pattern(*stored, size)) << "stored " << stored->size() << " bytes";

  const fs::path dst = f.dir.path() / "dst";
  {
    AllocationProbe probe;
    f.client->download_artifacts(f.run_id, "blobs/big.bin", dst.string());
    EXPECT_LT(probe.largest(), 4u << 20) << "largest allocation while downloading: " << probe.largest();
    RecordProperty("largest_allocation_download", std::to_string(probe.largest()));
  }
  EXPECT_TRUE(file_matches_pattern(dst / "blobs/big.bin", size));
}

TEST(ArtifactsRest, aRetriedUploadSendsTheWholeFileAgain) {
  ServerFixture f;
  constexpr std::uint64_t size = 3ull << 20;
  const fs::path file = f.dir.path() / "retry.bin";
  write_pattern_file(file, size);
  // get-run answers; the first PUT is read and then the connection is reset without an answer; the client
  // retries at once.
  f.server.loopback().push_fault(mlflow::test::Fault::none);
  f.server.loopback().push_fault(mlflow::test::Fault::reset_before_response);
  f.client->log_artifact(f.run_id, file.string());
  const auto puts = f.artifact_requests("PUT");
  EXPECT_EQ(puts.size(), 2u);
  const auto stored = f.server.artifact(f.root() + "/retry.bin");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(matches_pattern(*stored, size)) << "stored " << stored->size() << " bytes";
}

TEST(ArtifactsRest, aFailedDownloadLeavesNoFileBehind) {
  ServerFixture f;
  f.client->log_text(f.run_id, "0123456789abcdef", "f.txt");
  ScopedEnv retries("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2");
  ScopedEnv backoff("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0");
  ScopedEnv jitter("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0");
  // get-run and the listing answer; then every attempt at the file is cut half-way: after the retries the call
  // fails and nothing is left in dst.
  f.server.loopback().push_fault(mlflow::test::Fault::none);
  f.server.loopback().push_fault(mlflow::test::Fault::none);
  for (int i = 0; i < 3; ++i) f.server.loopback().push_fault(mlflow::test::Fault::reset_mid_response);
  const fs::path dst = f.dir.path() / "dst";
  EXPECT_THROW(f.client->download_artifacts(f.run_id, "f.txt", dst.string()), MlflowError);
  EXPECT_TRUE(files_under(dst).empty());
  // A missing artifact is the server's error, with its message.
  try {
    f.client->download_artifacts(f.run_id, "absent.txt", dst.string());
    ADD_FAILURE() << "no error";
  } catch (const MlflowError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.txt"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(files_under(dst).empty());
}

TEST(ArtifactsRest, unsafePathsNeverReachTheServer) {
  ServerFixture f;
  for (const std::string bad : {"../x.txt", "/abs.txt", "a\\b.txt", "a#b.txt"}) {
    try {
      f.client->log_text(f.run_id, "x", bad);
      ADD_FAILURE() << bad;
    } catch (const MlflowError& e) {
      EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(f.artifact_requests("PUT").empty());
  EXPECT_TRUE(f.server.artifact_paths().empty());
}

TEST(ArtifactsRest, serverWithoutServeArtifactsIsAClearError) {
  ScopedEnv retries("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0");
  FakeMlflowOptions options;
  options.serve_artifacts = false;
  ServerFixture f(options);
  try {
    f.client->log_text(f.run_id, "x", "x.txt");
    ADD_FAILURE() << "no error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::TEMPORARILY_UNAVAILABLE) << e.what();
    EXPECT_EQ(e.http_status(), 503);
    EXPECT_NE(std::string(e.what()).find("--serve-artifacts"), std::string::npos) << e.what();
  }
}

TEST(ArtifactsRest, httpArtifactUrisAreUsedDirectly) {
  ServerFixture f;
  const std::string location = f.uri + "/api/2.0/mlflow-artifacts/artifacts/direct";
  const std::string experiment = f.client->create_experiment("direct", location);
  const mlflow::Run run = f.client->create_run(experiment);
  EXPECT_EQ(run.info.artifact_uri, location + "/" + run.info.run_id + "/artifacts");
  f.server.loopback().clear_requests();
  f.client->log_text(run.info.run_id, "direct", "d/x.txt");
  const auto puts = f.artifact_requests("PUT");
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts[0].target, "/api/2.0/mlflow-artifacts/artifacts/direct/" + run.info.run_id + "/artifacts/d/x.txt");
  const auto listed = f.client->list_artifacts(run.info.run_id, "d");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], (FileInfo{"d/x.txt", false, 6}));
}

TEST(SpooledArtifacts, keptNextToTheSpoolThenUploadedIntoTheServerRun) {
  ServerFixture f;
  TempDir spool_dir;
  const std::string spool_path = (spool_dir.path() / "spool.db").string();
  mlflow::spool::Spool spool(spool_path);
  mlflow::spool::RunRecord record;
  record.local_run_id = mlflow::spool::new_local_id();
  record.target_uri = f.uri;
  record.experiment_id = f.experiment_id;
  record.start_time = mlflow::now_ms();
  spool.add_run(record);

  const fs::path dir = mlflow::artifacts::spooled_artifact_dir(spool_path, record.local_run_id);
  EXPECT_EQ(dir, fs::path(spool_path + ".artifacts") / record.local_run_id);
  EXPECT_FALSE(mlflow::artifacts::has_spooled_artifacts(spool_path, record.local_run_id));
  // What repository_for_run gives a spool-only run: the local directory.
  auto local = mlflow::artifacts::make_local_repository(dir);
  write_file(f.dir.path() / "w.csv", "1,2\n");
  local->log_artifact(f.dir.path() / "w.csv", "weights");
  write_file(f.dir.path() / "tree/p.png", "\x89PNG");
  local->log_artifacts(f.dir.path() / "tree", "plots");
  EXPECT_TRUE(mlflow::artifacts::has_spooled_artifacts(spool_path, record.local_run_id));

  // No server run yet: nothing can be uploaded, and nothing is lost.
  mlflow::rest::RestStore server(f.uri, fast_options());
  EXPECT_THROW(mlflow::artifacts::upload_spooled_artifacts(spool_path, server, record), MlflowError);
  EXPECT_TRUE(mlflow::artifacts::has_spooled_artifacts(spool_path, record.local_run_id));

  // The server run exists (as sync makes it): the files go there and leave the spool.
  record.server_run_id = f.run_id;
  const auto done = mlflow::artifacts::upload_spooled_artifacts(spool_path, server, record);
  EXPECT_EQ(done.files, 2);
  EXPECT_EQ(done.bytes, 8);
  EXPECT_EQ(f.server.artifact(f.root() + "/weights/w.csv"), std::optional<std::string>("1,2\n"));
  EXPECT_EQ(f.server.artifact(f.root() + "/plots/p.png"), std::optional<std::string>("\x89PNG"));
  EXPECT_FALSE(mlflow::artifacts::has_spooled_artifacts(spool_path, record.local_run_id));
  EXPECT_FALSE(fs::exists(dir));
  // Again: nothing left, nothing asked of the server.
  f.server.loopback().clear_requests();
  EXPECT_EQ(mlflow::artifacts::upload_spooled_artifacts(spool_path, server, record).files, 0);
  EXPECT_TRUE(f.server.requests().empty());
}

TEST(SpooledArtifacts, anInterruptedUploadKeepsWhatWasNotSent) {
  ScopedEnv retries("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0");
  ServerFixture f;
  TempDir spool_dir;
  const std::string spool_path = (spool_dir.path() / "spool.db").string();
  mlflow::spool::RunRecord record;
  record.local_run_id = mlflow::spool::new_local_id();
  record.target_uri = f.uri;
  record.server_run_id = f.run_id;
  auto local = mlflow::artifacts::make_local_repository(
      mlflow::artifacts::spooled_artifact_dir(spool_path, record.local_run_id));
  write_file(f.dir.path() / "a.txt", "a");
  write_file(f.dir.path() / "b.txt", "b");
  local->log_artifact(f.dir.path() / "a.txt", "");
  local->log_artifact(f.dir.path() / "b.txt", "");

  mlflow::rest::RestStore server(f.uri, fast_options());
  // get-run answers, the first PUT succeeds, the second gets a 500: a.txt is uploaded and gone, b.txt stays.
  f.server.loopback().push_fault(mlflow::test::Fault::none);
  f.server.loopback().push_fault(mlflow::test::Fault::none);
  f.server.loopback().push_fault(mlflow::test::Fault::status_500);
  EXPECT_THROW(mlflow::artifacts::upload_spooled_artifacts(spool_path, server, record), MlflowError);
  EXPECT_TRUE(f.server.artifact(f.root() + "/a.txt").has_value());
  EXPECT_FALSE(f.server.artifact(f.root() + "/b.txt").has_value());
  EXPECT_TRUE(mlflow::artifacts::has_spooled_artifacts(spool_path, record.local_run_id));
  const auto rest = mlflow::artifacts::upload_spooled_artifacts(spool_path, server, record);
  EXPECT_EQ(rest.files, 1);
  EXPECT_TRUE(f.server.artifact(f.root() + "/b.txt").has_value());
  EXPECT_FALSE(mlflow::artifacts::has_spooled_artifacts(spool_path, record.local_run_id));
}
