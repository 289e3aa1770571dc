#pragma once
// Shared by the offline tests: a temp directory, the expected data of a run, and a point-by-point comparison
// with what the fake server holds.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mlflow/entities.hpp"
#include "storage/spool/spool.hpp"
#include "support/fake_mlflow_server.hpp"
#include "support/test_env.hpp"

namespace mlflow::offline_test {

namespace fs = std::filesystem;

using TempDir = test::TempDir;

/// The deterministic value of point i of a test metric (so that a child process and the test agree).
inline double point_value(int i) { return i * 0.25 - 3.0; }
inline std::int64_t point_timestamp(int i) { return 1700000000000 + i; }

/// The server run that was made from a local run id (through the mlflow-cpp.local_run_id tag), if any.
inline std::vector<Run> server_runs_for_local_id(const test::FakeMlflowServer& server, const std::string& local_id) {
  std::vector<Run> out;
  for (const auto& run : server.runs()) {
    const RunTag* tag = run.data.tag("mlflow-cpp.local_run_id");
    if (tag != nullptr && tag->value == local_id) out.push_back(run);
  }
  return out;
}

/// Checks that the server holds exactly points 0..count-1 of metric `key` in order: nothing missing, nothing twice.
inline ::testing::AssertionResult has_exactly_points(const test::FakeMlflowServer& server, const std::string& run_id,
                                                     const std::string& key, int count, int first = 0) {
  const auto history = server.metric_history(run_id, key);
  if (history.size() != static_cast<std::size_t>(count)) {
    // Name the first missing and first duplicated step to make a failure readable.
    std::map<std::int64_t, int> seen;
    for (const auto& m : history) ++seen[m.step];
    std::string detail;
    for (int i = first; i < first + count; ++i) {
      if (seen[i] == 0) {
        detail += " first missing step " + std::to_string(i) + ";";
        break;
      }
    }
    for (const auto& [step, n] : seen) {
      if (n > 1) {
        detail += " step " + std::to_string(step) + " stored " + std::to_string(n) + " times;";
        break;
      }
    }
    return ::testing::AssertionFailure() << "metric " << key << " of run " << run_id << " has " << history.size()
                                         << " points, expected " << count << "." << detail;
  }
  for (int i = 0; i < count; ++i) {
    const auto& m = history[static_cast<std::size_t>(i)];
    const int n = first + i;
    if (m.step != n || m.timestamp != point_timestamp(n) || m.value != point_value(n)) {
      return ::testing::AssertionFailure() << "point " << i << " of " << key << " is (step " << m.step << ", ts "
                                           << m.timestamp << ", value " << m.value << "), expected step " << n;
    }
  }
  return ::testing::AssertionSuccess();
}

/// Brings a stopped server back on its port. A client retrying meanwhile can, rarely, get the very port as its
/// own ephemeral port (a TCP self-connect) and hold it for a moment: retry the bind for a while.
inline void restart(test::FakeMlflowServer& server) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    try {
      server.loopback().start();
      return;
    } catch (const std::exception&) {
      if (std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

/// Polls `done` every 10 ms until it is true or `timeout` passed.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

/// A child process with its stdout and stderr on pipes. Killed (SIGKILL) and reaped when destroyed.
class Child {
 public:
  Child(const std::string& program, const std::vector<std::string>& args,
        const std::map<std::string, std::string>& env_changes) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto name = entry.substr(0, entry.find('='));
      if (env_changes.count(name) == 0) env.push_back(entry);
    }
    for (const auto& [k, v] : env_changes) env.push_back(k + "=" + v);
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      close(out[0]);
      close(err[0]);
      close(out[1]);
      close(err[1]);
      // Nothing else of the test process may leak into the child: above all not the fake server's listening
      // socket, which would keep the port taken after the test stops the server.
      const long max_fd = sysconf(_SC_OPEN_MAX);
      for (int fd = 3; fd < (max_fd > 0 ? max_fd : 4096); ++fd) close(fd);
      std::vector<char*> argv, envp;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      execve(program.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
    fcntl(err_, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
    close(err_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  /// The next stdout line, or nothing when the timeout passed or the child closed stdout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto nl = out_buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = out_buffer_.substr(0, nl);
        out_buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) return std::nullopt;
      out_buffer_.append(buf, static_cast<std::size_t>(n));
      drain_stderr();
    }
  }
  /// Reads stdout lines until one starts with `prefix`; returns it.
  std::optional<std::string> wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto line = read_line(left);
      if (!line) return std::nullopt;
      lines_.push_back(*line);
      if (line->rfind(prefix, 0) == 0) return line;
    }
  }
  void kill9() {
    kill(pid_, SIGKILL);
    wait();
  }
  /// Waits for the child to end (at most `timeout`, then kills it); its exit code, or -signal.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    if (reaped_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      drain_stdout();
      drain_stderr();
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    drain_stdout();
    drain_stderr();
    reaped_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return status_;
  }
  std::string stdout_text() {
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all + out_buffer_;
  }
  std::string stderr_text() {
    drain_stderr();
    return err_text_;
  }

 private:
  void drain_stderr() {
    char buf[4096];
    for (;;) {
      const ssize_t n = read(err_, buf, sizeof(buf));
      if (n <= 0) break;
      err_text_.append(buf, static_cast<std::size_t>(n));
    }
  }
  void drain_stdout() {
    pollfd p{out_, POLLIN, 0};
    while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
      char buf[4096];
      const ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) break;
      out_buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string out_buffer_;
  std::vector<std::string> lines_;
  std::string err_text_;
};

}  // namespace mlflow::offline_test
