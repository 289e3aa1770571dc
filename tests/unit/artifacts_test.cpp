// Artifacts of runs in a sqlite:/// store: files land under the run's artifact_uri (where MLflow looks), list and
// download round-trip, unsafe paths are refused; plus the pure helpers (path checks, mlflow-artifacts: URIs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "mlflow/client.hpp"
#include "mlflow/error.hpp"
#include "mlflow/fluent.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "tracker/artifacts/artifact_paths.hpp"
#include "tracker/artifacts/artifact_repository.hpp"
#include "support/test_env.hpp"
#include "tracker/artifacts/http_artifact_repository.hpp"

namespace fs = std::filesystem;
using mlflow::ErrorCode;
using mlflow::FileInfo;
using mlflow::MlflowClient;
using mlflow::MlflowError;
using mlflow::test::files_under;
using mlflow::test::read_file;
using mlflow::test::TempDir;
using mlflow::test::write_file;

namespace {

/// A sqlite store in a temp dir whose artifact root is in that dir too (never the current directory).
struct Fixture {
  TempDir dir;
  std::string uri = "sqlite:///" + (dir.path() / "mlflow.db").string();
  MlflowClient client{std::make_shared<mlflow::sqlite::SqliteStore>(uri, (dir.path() / "mlruns").string()), uri};
  std::string run_id;
  fs::path artifact_root;

  Fixture() {
    const std::string experiment = client.create_experiment("artifacts");
    const mlflow::Run run = client.create_run(experiment);
    run_id = run.info.run_id;
    artifact_root = run.info.artifact_uri;
  }
  fs::path local(const std::string& name) const { return dir.path() / "local" / name; }
};

void expect_invalid_path(const std::function<void()>& call, const std::string& path) {
  try {
    call();
    ADD_FAILURE() << "no error for the path '" << path << "'";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE) << e.what();
    EXPECT_NE(std::string(e.what()).find("'" + path + "'"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ArtifactsSqlite, runArtifactUriIsUnderTheStoresArtifactRoot) {
  Fixture f;
  EXPECT_EQ(f.artifact_root, f.dir.path() / "mlruns" / "1" / f.run_id / "artifacts");
}

TEST(ArtifactsSqlite, logArtifactCopiesTheFileUnderTheRunsArtifactUri) {
  Fixture f;
  write_file(f.local("hello.txt"), "hello artifacts\n");
  f.client.log_artifact(f.run_id, f.local("hello.txt").string());
  f.client.log_artifact(f.run_id, f.local("hello.txt").string(), "docs/greetings");
  EXPECT_EQ(read_file(f.artifact_root / "hello.txt"), "hello artifacts\n");
  EXPECT_EQ(read_file(f.artifact_root / "docs" / "greetings" / "hello.txt"), "hello artifacts\n");
  EXPECT_EQ(files_under(f.artifact_root), (std::vector<std::string>{"docs/greetings/hello.txt", "hello.txt"}));
}

TEST(ArtifactsSqlite, logArtifactReplacesAnEarlierFileOfTheSameName) {
  Fixture f;
  write_file(f.local("v.txt"), "one");
  f.client.log_artifact(f.run_id, f.local("v.txt").string());
  write_file(f.local("v.txt"), "two, longer");
  f.client.log_artifact(f.run_id, f.local("v.txt").string());
  EXPECT_EQ(read_file(f.artifact_root / "v.txt"), "two, longer");
  EXPECT_EQ(files_under(f.artifact_root), std::vector<std::string>{"v.txt"});  // no temporary file left
}

TEST(ArtifactsSqlite, logArtifactsKeepsTheDirectoryLayout) {
  Fixture f;
  write_file(f.local("tree/a.txt"), "a");
  write_file(f.local("tree/sub/b.bin"), std::string("\0\1\2", 3));
  write_file(f.local("tree/sub/deeper/c.csv"), "1,2\n");
  f.client.log_artifacts(f.run_id, f.local("tree").string(), "model");
  EXPECT_EQ(files_under(f.artifact_root),
            (std::vector<std::string>{"model/a.txt", "model/sub/b.bin", "model/sub/deeper/c.csv"}));
  EXPECT_EQ(read_file(f.artifact_root / "model/sub/b.bin"), std::string("\0\1\2", 3));
  // log_artifact of a directory puts it under its own name, as MLflow does.
  f.client.log_artifact(f.run_id, f.local("tree/sub").string());
  EXPECT_TRUE(fs::is_regular_file(f.artifact_root / "sub" / "deeper" / "c.csv"));
}

TEST(ArtifactsSqlite, logTextStoresTheText) {
  Fixture f;
  const std::string text = "línea 1\nline 2 with a tab\t\n";
  f.client.log_text(f.run_id, text, "notes/summary.txt");
  EXPECT_EQ(read_file(f.artifact_root / "notes" / "summary.txt"), text);
  EXPECT_THROW(f.client.log_text(f.run_id, text, ""), MlflowError);
}

TEST(ArtifactsSqlite, listArtifactsGivesRunRelativePathsSorted) {
  Fixture f;
  write_file(f.local("tree/z.txt"), "zz");
  write_file(f.local("tree/a/one.txt"), "1");
  write_file(f.local("tree/a/two.txt"), "22");
  f.client.log_artifacts(f.run_id, f.local("tree").string());
  f.client.log_text(f.run_id, "abc", "b.txt");

  const std::vector<FileInfo> root = f.client.list_artifacts(f.run_id);
  ASSERT_EQ(root.size(), 3u);
  EXPECT_EQ(root[0], (FileInfo{"a", true, std::nullopt}));
  EXPECT_EQ(root[1], (FileInfo{"b.txt", false, 3}));
  EXPECT_EQ(root[2], (FileInfo{"z.txt", false, 2}));

  const std::vector<FileInfo> sub = f.client.list_artifacts(f.run_id, "a");
  ASSERT_EQ(sub.size(), 2u);
  EXPECT_EQ(sub[0], (FileInfo{"a/one.txt", false, 1}));
  EXPECT_EQ(sub[1], (FileInfo{"a/two.txt", false, 2}));
  EXPECT_EQ(f.client.list_artifacts(f.run_id, "a/").size(), 2u);  // a trailing slash is the same directory
  EXPECT_TRUE(f.client.list_artifacts(f.run_id, "missing").empty());
  EXPECT_TRUE(f.client.list_artifacts(f.run_id, "b.txt").empty());  // a file has no children
}

TEST(ArtifactsSqlite, listArtifactsOfARunWithoutArtifactsIsEmpty) {
  Fixture f;
  EXPECT_TRUE(f.client.list_artifacts(f.run_id).empty());
}

TEST(ArtifactsSqlite, downloadRoundTripsFilesAndDirectories) {
  Fixture f;
  std::string big(300000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) % 251);
  write_file(f.local("tree/data/big.bin"), big);
  write_file(f.local("tree/data/nested/n.txt"), "nested");
  write_file(f.local("tree/top.txt"), "top");
  f.client.log_artifacts(f.run_id, f.local("tree").string());

  const fs::path dst = f.dir.path() / "download";
  const std::string one = f.client.download_artifacts(f.run_id, "data/big.bin", dst.string());
  EXPECT_EQ(fs::path(one), dst / "data" / "big.bin");
  EXPECT_EQ(read_file(one), big);

  const std::string dir = f.client.download_artifacts(f.run_id, "data", (f.dir.path() / "d2").string());
  EXPECT_EQ(fs::path(dir), f.dir.path() / "d2" / "data");
  EXPECT_EQ(files_under(dir), (std::vector<std::string>{"big.bin", "nested/n.txt"}));

  const std::string all = f.client.download_artifacts(f.run_id, "", (f.dir.path() / "d3").string());
  EXPECT_EQ(files_under(all), files_under(f.artifact_root));
  EXPECT_EQ(read_file(fs::path(all) / "top.txt"), "top");

  // No destination: a new temporary directory, which the caller owns.
  const std::string temp = f.client.download_artifacts(f.run_id, "top.txt");
  EXPECT_EQ(read_file(temp), "top");
  std::error_code ignored;
  fs::remove_all(fs::path(temp).parent_path(), ignored);
}

TEST(ArtifactsSqlite, downloadOfAMissingArtifactFailsAndLeavesNothing) {
  Fixture f;
  const fs::path dst = f.dir.path() / "dst";
  try {
    f.client.download_artifacts(f.run_id, "nope.txt", dst.string());
    ADD_FAILURE() << "no error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::RESOURCE_DOES_NOT_EXIST) << e.what();
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos);
  }
  EXPECT_TRUE(files_under(dst).empty());
}

TEST(ArtifactsSqlite, unsafePathsAreRefusedNamingThePath) {
  Fixture f;
  write_file(f.local("x.txt"), "x");
  for (const std::string bad : {"../escape", "a/../../b", "/etc", "a\\b", "dir#frag", "a%23b", "..", "C:/x"}) {
    expect_invalid_path([&] { f.client.log_artifact(f.run_id, f.local("x.txt").string(), bad); }, bad);
    expect_invalid_path([&] { f.client.log_artifacts(f.run_id, f.local("").string(), bad); }, bad);
    expect_invalid_path([&] { f.client.log_text(f.run_id, "t", bad + "/t.txt"); }, bad + "/t.txt");
    expect_invalid_path([&] { f.client.list_artifacts(f.run_id, bad); }, bad);
    expect_invalid_path([&] { f.client.download_artifacts(f.run_id, bad, (f.dir.path() / "d").string()); }, bad);
  }
  // A local file whose name cannot be an artifact name is refused too, before anything is copied.
  write_file(f.local("odd#name.txt"), "x");
  expect_invalid_path([&] { f.client.log_artifact(f.run_id, f.local("odd#name.txt").string()); }, "odd#name.txt");
  EXPECT_TRUE(files_under(f.artifact_root).empty());
  EXPECT_FALSE(fs::exists(f.artifact_root.parent_path() / "escape"));
  EXPECT_FALSE(fs::exists(f.dir.path() / "d"));
}

TEST(ArtifactsSqlite, missingLocalFileIsAClearError) {
  Fixture f;
  try {
    f.client.log_artifact(f.run_id, f.local("absent.txt").string());
    ADD_FAILURE() << "no error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(std::string(e.what()).find("absent.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.client.log_artifacts(f.run_id, f.local("absent-dir").string()), MlflowError);
}

TEST(ArtifactsSqlite, fileUriArtifactLocationIsWrittenToo) {
  Fixture f;
  const fs::path location = f.dir.path() / "elsewhere with space";
  const std::string experiment = f.client.create_experiment("file-uri", "file://" + (location.string()));
  const mlflow::Run run = f.client.create_run(experiment);
  EXPECT_EQ(run.info.artifact_uri.rfind("file://", 0), 0u) << run.info.artifact_uri;
  f.client.log_text(run.info.run_id, "via file uri", "f.txt");
  EXPECT_EQ(read_file(location / run.info.run_id / "artifacts" / "f.txt"), "via file uri");
  EXPECT_EQ(f.client.list_artifacts(run.info.run_id).size(), 1u);
}

TEST(ArtifactsSqlite, unknownRunIsRefused) {
  Fixture f;
  EXPECT_THROW(f.client.list_artifacts(f.run_id.substr(0, 31) + (f.run_id.back() == '0' ? "1" : "0")), MlflowError);
}

TEST(ArtifactsSqlite, schemesThatNeedAStorageClientAreRefused) {
  Fixture f;
  const std::string experiment = f.client.create_experiment("s3", "s3://bucket/prefix");
  const mlflow::Run run = f.client.create_run(experiment);
  try {
    f.client.log_text(run.info.run_id, "x", "x.txt");
    ADD_FAILURE() << "no error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::NOT_IMPLEMENTED);
    EXPECT_NE(std::string(e.what()).find("s3://bucket/prefix"), std::string::npos) << e.what();
  }
  // mlflow-artifacts: needs a tracking server; a sqlite tracking URI cannot serve it.
  const std::string proxied = f.client.create_experiment("proxied", "mlflow-artifacts:/proxied");
  const mlflow::Run proxied_run = f.client.create_run(proxied);
  try {
    f.client.log_text(proxied_run.info.run_id, "x", "x.txt");
    ADD_FAILURE() << "no error";
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(std::string(e.what()).find("MLFLOW_TRACKING_URI"), std::string::npos) << e.what();
  }
}

TEST(ArtifactsSqlite, fluentLogsIntoTheActiveRun) {
  Fixture f;
  // The experiment is made with its artifact root in the temp dir; set_experiment then picks it up by name.
  f.client.create_experiment("fluent-artifacts", (f.dir.path() / "fluent-root").string());
  mlflow::set_tracking_uri(f.uri);
  std::string run_id;
  {
    mlflow::set_experiment("fluent-artifacts");
    mlflow::ActiveRun run = mlflow::start_run();
    run_id = run.run_id();
    write_file(f.local("w.csv"), "1,2\n");
    write_file(f.local("dir/p.txt"), "p");
    mlflow::log_artifact(f.local("w.csv").string(), "weights");
    mlflow::log_artifacts(f.local("dir").string(), "more");
    mlflow::log_text("hi", "hi.txt");
  }
  mlflow::set_tracking_uri("");
  const fs::path root = f.dir.path() / "fluent-root" / run_id / "artifacts";
  EXPECT_EQ(files_under(root), (std::vector<std::string>{"hi.txt", "more/p.txt", "weights/w.csv"}));
}

// ---- pure helpers ----

TEST(ArtifactPaths, normalisesHarmlessForms) {
  using mlflow::artifacts::normalize_artifact_path;
  EXPECT_EQ(normalize_artifact_path("", "p"), "");
  EXPECT_EQ(normalize_artifact_path(".", "p"), "");
  EXPECT_EQ(normalize_artifact_path("a//b/./c/", "p"), "a/b/c");
  EXPECT_EQ(normalize_artifact_path("./plots/loss.png", "p"), "plots/loss.png");
  EXPECT_EQ(normalize_artifact_path("a..b/c.", "p"), "a..b/c.");  // dots inside names are names
  EXPECT_EQ(normalize_artifact_path("ünï cödé/x y.txt", "p"), "ünï cödé/x y.txt");
}

TEST(ArtifactPaths, encodesEachPartForAUrl) {
  EXPECT_EQ(mlflow::artifacts::encode_url_path("a b/c%d/é.txt"), "a%20b/c%25d/%C3%A9.txt");
  EXPECT_EQ(mlflow::artifacts::percent_decode("/a%20b/%C3%A9%zz"), "/a b/é%zz");
}

TEST(ArtifactPaths, resolvesMlflowArtifactsUrisAsMlflowDoes) {
  using mlflow::artifacts::resolve_mlflow_artifacts_uri;
  EXPECT_EQ(resolve_mlflow_artifacts_uri("mlflow-artifacts:/1/abc/artifacts", "http://h:5000"),
            "http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts");
  EXPECT_EQ(resolve_mlflow_artifacts_uri("mlflow-artifacts:/1/abc/artifacts", "https://h/prefix/"),
            "https://h/prefix/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts");
  EXPECT_EQ(resolve_mlflow_artifacts_uri("mlflow-artifacts://other:8080/1/abc/artifacts", "http://h:5000/p"),
            "http://other:8080/p/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts");
  EXPECT_EQ(resolve_mlflow_artifacts_uri("mlflow-artifacts:///1/x", "http://u:pw@h:5000"),
            "http://u:pw@h:5000/api/2.0/mlflow-artifacts/artifacts/1/x");
  EXPECT_THROW(resolve_mlflow_artifacts_uri("mlflow-artifacts:/1/x", "sqlite:///mlflow.db"), MlflowError);
}

TEST(ArtifactPaths, localPathsFromUris) {
  using mlflow::artifacts::local_path_from_uri;
  EXPECT_EQ(local_path_from_uri("/abs/mlruns/0/r/artifacts"), fs::path("/abs/mlruns/0/r/artifacts"));
  EXPECT_EQ(local_path_from_uri("file:///abs/with%20space"), fs::path("/abs/with space"));
  EXPECT_EQ(local_path_from_uri("file://localhost/x"), fs::path("/x"));
  EXPECT_THROW(local_path_from_uri("file://otherhost/x"), MlflowError);
}
