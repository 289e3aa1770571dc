// A training program for the offline tests, using only the public API: starts a run, logs points of "loss"
// (value and timestamp derived from the step, so the test knows what to expect), flushes now and then and says
// so on stdout, and ends the run. The tests kill it, stop its server, or run two at once.
//
//   offline_logger_child --uri URI [--experiment NAME] [--name RUN_NAME] [--points N] [--from K]
//                        [--flush-every M] [--sleep-us U] [--end FINISHED|FAILED|KILLED] [--hold]
//
// stdout: "RUN <run id>" once the run exists, "FLUSHED <n>" after points 0..n-1 were flushed, "DONE" at the end.
// --hold: after DONE, wait (without ending the run) until killed.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "mlflow/mlflow.hpp"

namespace {

double point_value(int i) { return i * 0.25 - 3.0; }
std::int64_t point_timestamp(int i) { return 1700000000000 + i; }

void say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string uri, experiment, name = "child-run", end = "FINISHED";
  int points = 1000, from = 0, flush_every = 0, sleep_us = 0;
  bool hold = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--uri") uri = next();
    else if (arg == "--experiment") experiment = next();
    else if (arg == "--name") name = next();
    else if (arg == "--points") points = std::stoi(next());
    else if (arg == "--from") from = std::stoi(next());
    else if (arg == "--flush-every") flush_every = std::stoi(next());
    else if (arg == "--sleep-us") sleep_us = std::stoi(next());
    else if (arg == "--end") end = next();
    else if (arg == "--hold") hold = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  try {
    if (!uri.empty()) mlflow::set_tracking_uri(uri);
    if (!experiment.empty()) mlflow::set_experiment(experiment);
    mlflow::StartRunOptions options;
    options.run_name = name;
    auto run = mlflow::start_run(options);
    say("RUN " + run.run_id());
    mlflow::log_param("points", points);
    for (int i = from; i < from + points; ++i) {
      mlflow::log_metric("loss", point_value(i), i, point_timestamp(i));
      if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
      if (flush_every > 0 && (i + 1 - from) % flush_every == 0) {
        mlflow::flush(std::chrono::seconds(10));
        say("FLUSHED " + std::to_string(i + 1));
      }
    }
    if (hold) {
      mlflow::flush(std::chrono::seconds(10));
      say("DONE");
      for (;;) pause();
    }
    run.end(mlflow::run_status_from_string(end));
    say("DONE");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "offline_logger_child: %s\n", e.what());
    return 1;
  }
  return 0;
}
