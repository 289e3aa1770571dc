// The context tags of a new run: git HEAD resolution from repository files, the user, argv[0],
// MLFLOW_RUN_CONTEXT, and their merge.

#include "tracker/system_tags.hpp"

#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>

#include "mlflow/error.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using mlflow::detail::git_head_commit;
using mlflow::test::ScopedEnv;
using mlflow::test::TempDir;
using mlflow::test::write_file;

namespace {

const std::string kShaA = "0123456789abcdef0123456789abcdef01234567";
const std::string kShaB = "89abcdef0123456789abcdef0123456789abcdef";

/// A fake repository: root/.git with HEAD, and a nested source directory.
fs::path make_repo(const fs::path& root, const std::string& head) {
  write_file(root / ".git" / "HEAD", head);
  fs::create_directories(root / "src" / "deep");
  return root / "src" / "deep";
}

TEST(SystemTags, git_commit_from_loose_ref) {
  TempDir dir;
  const fs::path deep = make_repo(dir.path(), "ref: refs/heads/main\n");
  write_file(dir.path() / ".git" / "refs" / "heads" / "main", kShaA + "\n");
  EXPECT_EQ(git_head_commit(deep), kShaA);
  EXPECT_EQ(git_head_commit(dir.path()), kShaA);
  // A file path works too: the search starts at its directory.
  write_file(deep / "program", "x");
  EXPECT_EQ(git_head_commit(deep / "program"), kShaA);
}

TEST(SystemTags, git_commit_from_packed_refs) {
  TempDir dir;
  const fs::path deep = make_repo(dir.path(), "ref: refs/heads/feature/x\n");
  write_file(dir.path() / ".git" / "packed-refs",
             "# pack-refs with: peeled fully-peeled sorted \n" + kShaB + " refs/heads/other\n" + kShaA +
                 " refs/heads/feature/x\n^" + kShaB + "\n");
  EXPECT_EQ(git_head_commit(deep), kShaA);
}

TEST(SystemTags, loose_ref_wins_over_packed_ref) {
  TempDir dir;
  const fs::path deep = make_repo(dir.path(), "ref: refs/heads/main\n");
  write_file(dir.path() / ".git" / "packed-refs", kShaB + " refs/heads/main\n");
  write_file(dir.path() / ".git" / "refs" / "heads" / "main", kShaA + "\n");
  EXPECT_EQ(git_head_commit(deep), kShaA);
}

TEST(SystemTags, git_commit_from_detached_head_is_lower_case) {
  TempDir dir;
  std::string upper = kShaB;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const fs::path deep = make_repo(dir.path(), upper + "\n");
  EXPECT_EQ(git_head_commit(deep), kShaB);
}

TEST(SystemTags, git_commit_follows_symbolic_ref_chain) {
  TempDir dir;
  const fs::path deep = make_repo(dir.path(), "ref: refs/heads/alias\n");
  write_file(dir.path() / ".git" / "refs" / "heads" / "alias", "ref: refs/heads/main\n");
  write_file(dir.path() / ".git" / "refs" / "heads" / "main", kShaA);
  EXPECT_EQ(git_head_commit(deep), kShaA);
}

TEST(SystemTags, git_commit_in_linked_worktree) {
  TempDir dir;
  // Main repository with packed refs; a linked worktree whose .git is a file pointing at its gitdir.
  write_file(dir.path() / "main" / ".git" / "HEAD", "ref: refs/heads/main\n");
  write_file(dir.path() / "main" / ".git" / "packed-refs", kShaA + " refs/heads/main\n" + kShaB + " refs/heads/wt\n");
  write_file(dir.path() / "main" / ".git" / "worktrees" / "wt" / "HEAD", "ref: refs/heads/wt\n");
  write_file(dir.path() / "main" / ".git" / "worktrees" / "wt" / "commondir", "../..\n");
  write_file(dir.path() / "wt" / ".git", "gitdir: " + (dir.path() / "main" / ".git" / "worktrees" / "wt").string() + "\n");
  fs::create_directories(dir.path() / "wt" / "src");
  EXPECT_EQ(git_head_commit(dir.path() / "wt" / "src"), kShaB);
  EXPECT_EQ(git_head_commit(dir.path() / "main"), kShaA);
}

TEST(SystemTags, relative_gitdir_file) {
  TempDir dir;
  write_file(dir.path() / "store" / "HEAD", kShaA + "\n");
  write_file(dir.path() / "work" / ".git", "gitdir: ../store\n");
  EXPECT_EQ(git_head_commit(dir.path() / "work"), kShaA);
}

TEST(SystemTags, no_commit_outside_a_repository_or_before_the_first_commit) {
  TempDir dir;
  fs::create_directories(dir.path() / "plain");
  // The temp dir is not inside a work tree on any sane machine; if it were, this test would say so.
  ASSERT_FALSE(git_head_commit(fs::temp_directory_path()).has_value())
      << "the system temp dir is inside a git work tree; this test needs one that is not";
  EXPECT_FALSE(git_head_commit(dir.path() / "plain").has_value());

  const fs::path deep = make_repo(dir.path() / "unborn", "ref: refs/heads/main\n");
  EXPECT_FALSE(git_head_commit(deep).has_value());  // a fresh `git init`: the branch has no commit yet

  const fs::path garbage = make_repo(dir.path() / "garbage", "not a ref\n");
  EXPECT_FALSE(git_head_commit(garbage).has_value());

  write_file(dir.path() / "nohead" / ".git" / "config", "");  // a .git without HEAD is not a repository
  EXPECT_FALSE(git_head_commit(dir.path() / "nohead").has_value());
}

TEST(SystemTags, nearest_repository_wins) {
  TempDir dir;
  make_repo(dir.path(), kShaA + "\n");
  const fs::path inner = make_repo(dir.path() / "vendor" / "lib", kShaB + "\n");
  EXPECT_EQ(git_head_commit(inner), kShaB);
  EXPECT_EQ(git_head_commit(dir.path() / "src"), kShaA);
}

std::optional<std::string> git_rev_parse_head(const fs::path& dir) {
  const std::string cmd = "git -C '" + dir.string() + "' rev-parse HEAD 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  char buf[128] = {};
  const bool got = std::fgets(buf, sizeof buf, pipe) != nullptr;
  const int rc = ::pclose(pipe);
  if (!got || rc != 0) return std::nullopt;
  std::string sha = buf;
  while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
  return sha;
}

TEST(SystemTags, agrees_with_git_on_the_test_binary_directory) {
  const fs::path exe_dir = mlflow::detail::executable_path().parent_path();
  ASSERT_FALSE(exe_dir.empty());
  const auto expected = git_rev_parse_head(exe_dir);
  if (!expected) GTEST_SKIP() << "git is not installed or the test binary is not in a git work tree with a commit";
  EXPECT_EQ(git_head_commit(exe_dir), *expected);
}

int run_shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

TEST(SystemTags, agrees_with_git_in_a_real_repository_loose_then_packed) {
  if (run_shell("git --version") != 0) GTEST_SKIP() << "git is not installed";
  TempDir dir;
  const std::string repo = dir.path().string();
  const std::string git = "git -C '" + repo + "' -c user.name=t -c user.email=t@example.com ";
  ASSERT_EQ(run_shell("git init -q -b trunk '" + repo + "'"), 0);
  write_file(dir.path() / "sub" / "file.txt", "content");
  ASSERT_EQ(run_shell(git + "add -A"), 0);
  ASSERT_EQ(run_shell(git + "commit -q -m first"), 0);
  const auto first = git_rev_parse_head(dir.path());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(git_head_commit(dir.path() / "sub"), *first);

  ASSERT_EQ(run_shell(git + "pack-refs --all --prune"), 0);
  ASSERT_FALSE(fs::exists(dir.path() / ".git" / "refs" / "heads" / "trunk"));
  EXPECT_EQ(git_head_commit(dir.path() / "sub"), *first);

  ASSERT_EQ(run_shell(git + "commit -q --allow-empty -m second"), 0);
  const auto second = git_rev_parse_head(dir.path());
  ASSERT_TRUE(second.has_value());
  ASSERT_NE(*first, *second);
  EXPECT_EQ(git_head_commit(dir.path() / "sub"), *second);

  ASSERT_EQ(run_shell(git + "checkout -q --detach HEAD~1"), 0);
  EXPECT_EQ(git_head_commit(dir.path() / "sub"), *first);
}

TEST(SystemTags, argv0_is_the_program_name_as_given) {
  // glibc keeps argv[0] in program_invocation_name; /proc/self/cmdline must agree.
  EXPECT_EQ(mlflow::detail::program_argv0(), std::string(program_invocation_name));
}

TEST(SystemTags, user_prefers_tracking_username_then_credentials_then_login) {
  TempDir home;
  ScopedEnv home_env("HOME", home.path().c_str());
  ScopedEnv logname("LOGNAME", "login-name");
  {
    ScopedEnv username("MLFLOW_TRACKING_USERNAME", "alice");
    EXPECT_EQ(mlflow::detail::current_user(), "alice");
  }
  ScopedEnv username("MLFLOW_TRACKING_USERNAME", nullptr);
  EXPECT_EQ(mlflow::detail::current_user(), "login-name");

  write_file(home.path() / ".mlflow" / "credentials",
             "[other]\nmlflow_tracking_username = nobody\n\n[mlflow]\n; comment\nMLFLOW_TRACKING_USERNAME = bob\n"
             "mlflow_tracking_password = secret\n");
  EXPECT_EQ(mlflow::detail::current_user(), "bob");
  {
    ScopedEnv empty_username("MLFLOW_TRACKING_USERNAME", "");  // empty counts as unset, as in Python
    EXPECT_EQ(mlflow::detail::current_user(), "bob");
  }
}

TEST(SystemTags, user_falls_back_to_the_password_database) {
  TempDir home;
  ScopedEnv home_env("HOME", home.path().c_str());
  ScopedEnv a("MLFLOW_TRACKING_USERNAME", nullptr);
  ScopedEnv b("LOGNAME", nullptr);
  ScopedEnv c("USER", nullptr);
  ScopedEnv d("LNAME", nullptr);
  ScopedEnv e("USERNAME", "from-username");
  EXPECT_EQ(mlflow::detail::current_user(), "from-username");
  ScopedEnv f("USERNAME", nullptr);
  const std::string user = mlflow::detail::current_user();
  EXPECT_FALSE(user.empty());
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr) {
    EXPECT_EQ(user, pw->pw_name);
  } else {
    EXPECT_EQ(user, "unknown");
  }
}

TEST(SystemTags, run_context_json) {
  const auto tags = mlflow::detail::parse_run_context(
      R"({"team": "vision", "n": 3, "ratio": 0.5, "flag": true, "none": null, "unicode": "Sigmóide"})");
  EXPECT_EQ(tags.at("team"), "vision");
  EXPECT_EQ(tags.at("n"), "3");
  EXPECT_EQ(tags.at("ratio"), "0.5");
  EXPECT_EQ(tags.at("flag"), "True");
  EXPECT_EQ(tags.at("none"), "None");
  EXPECT_EQ(tags.at("unicode"), "Sigmóide");
  EXPECT_TRUE(mlflow::detail::parse_run_context("{}").empty());

  for (const char* bad : {"[1, 2]", "\"text\"", "{not json", "42"}) {
    try {
      mlflow::detail::parse_run_context(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const mlflow::MlflowError& e) {
      EXPECT_EQ(e.error_code(), mlflow::ErrorCode::INVALID_PARAMETER_VALUE);
      EXPECT_NE(e.message().find("MLFLOW_RUN_CONTEXT"), std::string::npos);
    }
  }
}

TEST(SystemTags, resolve_system_tags_merges_run_context_last) {
  ScopedEnv username("MLFLOW_TRACKING_USERNAME", "carol");
  {
    ScopedEnv context("MLFLOW_RUN_CONTEXT", nullptr);
    const auto tags = mlflow::detail::resolve_system_tags();
    EXPECT_EQ(tags.at("mlflow.user"), "carol");
    EXPECT_EQ(tags.at("mlflow.source.name"), std::string(program_invocation_name));
    EXPECT_EQ(tags.at("mlflow.source.type"), "LOCAL");
    const auto commit = git_head_commit(mlflow::detail::executable_path().parent_path());
    if (commit) {
      EXPECT_EQ(tags.at("mlflow.source.git.commit"), *commit);
      EXPECT_TRUE(std::regex_match(*commit, std::regex("^[0-9a-f]{40}([0-9a-f]{24})?$")));
    } else {
      EXPECT_EQ(tags.count("mlflow.source.git.commit"), 0u);
    }
    EXPECT_EQ(tags.count("mlflow.runName"), 0u);
  }
  {
    ScopedEnv context("MLFLOW_RUN_CONTEXT", R"({"mlflow.user": "ci-bot", "pipeline": "nightly"})");
    const auto tags = mlflow::detail::resolve_system_tags();
    EXPECT_EQ(tags.at("mlflow.user"), "ci-bot");
    EXPECT_EQ(tags.at("pipeline"), "nightly");
  }
  {
    ScopedEnv context("MLFLOW_RUN_CONTEXT", "[]");
    EXPECT_THROW(mlflow::detail::resolve_system_tags(), mlflow::MlflowError);
  }
}

}  // namespace
