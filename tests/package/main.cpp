// Logs one metric into the SQLite file named on the command line and reads it back.
#include <iostream>
#include <string>

#include <mlflow/mlflow.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: app /absolute/path/to/file.db\n";
    return 2;
  }
  try {
    mlflow::MlflowClient client("sqlite:///" + std::string(argv[1]));
    const std::string experiment_id = client.create_experiment("package-consumer");
    const mlflow::Run run = client.create_run(experiment_id, std::nullopt, {}, "consumer-run");
    client.log_metric(run.info.run_id, "answer", 42.5, std::nullopt, 7);
    client.set_terminated(run.info.run_id);
    const auto history = client.get_metric_history(run.info.run_id, "answer");
    if (history.size() != 1 || history[0].value != 42.5 || history[0].step != 7) {
      std::cerr << "read back " << history.size() << " points, expected the one logged\n";
      return 1;
    }
    std::cout << run.info.run_id << '\n';
    return 0;
  } catch (const mlflow::MlflowError& error) {
    std::cerr << error.what() << '\n';
    return 1;
  }
}
