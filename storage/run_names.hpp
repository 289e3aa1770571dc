#pragma once
#include <string>

namespace mlflow::detail {
/// A random "adjective-animal-NNN" run name (NNN in 0..1000), at most 20 characters, as MLflow's stores
/// generate when a run has no name. Thread-safe.
std::string generate_run_name();
}  // namespace mlflow::detail
