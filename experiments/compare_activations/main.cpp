// Compares the activations of the video (sigmoid, tanh, ReLU) in a real training: the same small network
// (2 inputs -> hidden layer -> 1 sigmoid output) trained by backpropagation on the same seeded "two moons" data,
// once per activation, each as a child run of one parent run. Every epoch's loss and accuracy is logged as
// metric history; the plots (gnuplot) and the trained weights are logged as artifacts.
#include <sys/types.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/gnuplot.hpp"
#include "common/mlp.hpp"
#include "common/python_format.hpp"
#include "mlflow/fluent.hpp"

namespace fs = std::filesystem;
using namespace mlflow::experiments;

namespace {

constexpr const char* kExperimentName = "Comparação de Ativações";

struct Config {
  double learning_rate = 1.0;
  int epochs = 500;
  int hidden_units = 8;
  std::uint64_t seed = 42;
  int samples = 200;
  double noise = 0.2;
};

struct Result {
  Activation activation;
  std::string run_id;
  TrainingHistory history;
};

void usage(std::ostream& out) {
  out << "usage: compare_activations [--epochs N] [--learning-rate X] [--hidden-units N] [--seed N]\n"
         "                           [--samples N] [--noise X]\n"
         "Trains a 2-N-1 network on seeded two-moons data once per activation (sigmoid, tanh, relu) and logs\n"
         "each training as a child run of one parent run in the experiment \""
      << kExperimentName << "\" of MLFLOW_TRACKING_URI.\n";
}

template <typename T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    throw std::invalid_argument("bad value '" + std::string(text) + "' for " + std::string(flag));
  }
  return value;
}

Config parse_args(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(std::cout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + std::string(flag));
    const std::string_view value = argv[++i];
    if (flag == "--epochs") {
      config.epochs = parse_number<int>(flag, value);
    } else if (flag == "--learning-rate") {
      config.learning_rate = parse_number<double>(flag, value);
    } else if (flag == "--hidden-units") {
      config.hidden_units = parse_number<int>(flag, value);
    } else if (flag == "--seed") {
      config.seed = parse_number<std::uint64_t>(flag, value);
    } else if (flag == "--samples") {
      config.samples = parse_number<int>(flag, value);
    } else if (flag == "--noise") {
      config.noise = parse_number<double>(flag, value);
    } else {
      throw std::invalid_argument("unknown option " + std::string(flag));
    }
  }
  if (config.epochs < 1 || config.hidden_units < 1 || config.samples < 2 || !(config.learning_rate > 0.0) ||
      !(config.noise >= 0.0)) {
    throw std::invalid_argument("epochs, hidden units and learning rate must be positive, samples >= 2, noise >= 0");
  }
  return config;
}

/// A private directory for the plot data and the files to log, removed at the end.
class WorkDir {
 public:
  WorkDir() {
    std::string pattern = (fs::temp_directory_path() / "compare-activations-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = pattern;
  }
  ~WorkDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

const char* color_of(Activation a) {
  switch (a) {
    case Activation::sigmoid:
      return "#1f77b4";
    case Activation::tanh:
      return "#2ca02c";
    case Activation::relu:
      return "#d62728";
  }
  return "black";
}

const char* title_of(Activation a) {
  switch (a) {
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
    case Activation::relu:
      return "ReLU";
  }
  return "?";
}

/// activations.png: each activation with its derivative on [-5, 5], one panel per activation.
fs::path plot_activations(const fs::path& dir) {
  std::string data = "# z";
  for (Activation a : all_activations()) data += " " + std::string(to_string(a)) + " d_" + std::string(to_string(a));
  data += '\n';
  for (int i = -500; i <= 500; i += 2) {
    const double z = i / 100.0;
    data += python_str(z);
    for (Activation a : all_activations()) {
      data += ' ' + python_str(activate(a, z)) + ' ' + python_str(activate_derivative(a, z));
    }
    data += '\n';
  }
  write_file(dir / "activations.dat", data);

  std::string script =
      "set terminal pngcairo size 1200,420 enhanced font 'DejaVu Sans,10'\n"
      "set output 'activations.png'\n"
      "set multiplot layout 1,3 title 'Activation functions and their derivatives' font ',12'\n"
      "set grid\nset key top left\nset xrange [-5:5]\nset xlabel 'z'\n";
  int column = 2;
  for (Activation a : all_activations()) {
    const std::string name = title_of(a);
    script += "set title " + gnuplot_quote(name) + "\n";
    script += a == Activation::tanh ? "set yrange [-1.1:1.1]\n"
                                    : (a == Activation::relu ? "set yrange [-0.2:5]\n" : "set yrange [-0.1:1.1]\n");
    script += "plot 'activations.dat' using 1:" + std::to_string(column) + " with lines lw 2 lc rgb '" + color_of(a) +
              "' title " + gnuplot_quote(name + "(z)") +
              ", \\\n     'activations.dat' using 1:" + std::to_string(column + 1) + " with lines lw 2 dt 2 lc rgb '" +
              color_of(a) + "' title " + gnuplot_quote(name + "'(z)") + "\n";
    column += 2;
  }
  script += "unset multiplot\n";
  run_gnuplot(script, dir, "activations");
  return dir / "activations.png";
}

/// loss_curves.png: training loss and accuracy per epoch of the three runs.
fs::path plot_loss_curves(const fs::path& dir, const std::vector<Result>& results, const Config& config) {
  std::string data = "# epoch";
  for (const auto& r : results) data += " loss_" + std::string(to_string(r.activation));
  for (const auto& r : results) data += " accuracy_" + std::string(to_string(r.activation));
  data += '\n';
  for (int e = 0; e < config.epochs; ++e) {
    data += std::to_string(e + 1);
    for (const auto& r : results) data += ' ' + python_str(r.history.loss[static_cast<std::size_t>(e)]);
    for (const auto& r : results) data += ' ' + python_str(r.history.accuracy[static_cast<std::size_t>(e)]);
    data += '\n';
  }
  write_file(dir / "loss_curves.dat", data);

  const std::string subtitle = "2-" + std::to_string(config.hidden_units) + "-1 network, two moons (" +
                               std::to_string(config.samples) + " points), learning rate " +
                               python_str(config.learning_rate) + ", seed " + std::to_string(config.seed);
  std::string script =
      "set terminal pngcairo size 900,720 enhanced font 'DejaVu Sans,10'\n"
      "set output 'loss_curves.png'\n"
      "set multiplot layout 2,1 title " +
      gnuplot_quote("Training with each activation\n{/*0.8 " + subtitle + "}") +
      " font ',12'\n"
      "set grid\nset key top right\nset xrange [1:" +
      std::to_string(config.epochs) +
      "]\n"
      "set title 'Loss (binary cross-entropy)'\nset ylabel 'loss'\nset yrange [0:*]\n"
      "plot ";
  const std::size_t n = results.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) script += ", \\\n     ";
    script += "'loss_curves.dat' using 1:" + std::to_string(2 + i) + " with lines lw 2 lc rgb '" +
              color_of(results[i].activation) + "' title " + gnuplot_quote(title_of(results[i].activation));
  }
  script +=
      "\nset title 'Accuracy'\nset ylabel 'accuracy'\nset xlabel 'epoch'\nset yrange [0.7:1.0]\n"
      "set key bottom right\nplot ";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) script += ", \\\n     ";
    script += "'loss_curves.dat' using 1:" + std::to_string(2 + n + i) + " with lines lw 2 lc rgb '" +
              color_of(results[i].activation) + "' title " + gnuplot_quote(title_of(results[i].activation));
  }
  script += "\nunset multiplot\n";
  run_gnuplot(script, dir, "loss_curves");
  return dir / "loss_curves.png";
}

/// The trained parameters as CSV files (numpy.loadtxt(path, delimiter=",", ndmin=2) reads them back exactly).
fs::path write_weights(const fs::path& dir, const Mlp& net) {
  write_file(dir / "w1.csv", to_csv(net.w1));
  write_file(dir / "b1.csv", to_csv(net.b1));
  write_file(dir / "w2.csv", to_csv(net.w2));
  write_file(dir / "b2.csv", to_csv(arma::mat{net.b2}));
  return dir;
}

/// First epoch whose accuracy reaches `level`, if any.
std::optional<int> first_epoch_reaching(const TrainingHistory& history, double level) {
  for (std::size_t i = 0; i < history.accuracy.size(); ++i) {
    if (history.accuracy[i] >= level) return static_cast<int>(i + 1);
  }
  return std::nullopt;
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

// Pads to a width in characters (UTF-8 continuation bytes take no column).
std::string pad(const std::string& text, std::size_t width) {
  std::size_t columns = 0;
  for (unsigned char c : text) columns += (c & 0xC0) != 0x80 ? 1 : 0;
  return columns >= width ? text : text + std::string(width - columns, ' ');
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  try {
    config = parse_args(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "compare_activations: " << e.what() << '\n';
    usage(std::cerr);
    return 2;
  }
  try {
    WorkDir work;
    const Dataset data = make_moons(static_cast<std::size_t>(config.samples), config.noise, config.seed);
    const std::map<std::string, mlflow::ParamValue> shared_params{{"learning_rate", config.learning_rate},
                                                                  {"epochs", config.epochs},
                                                                  {"hidden_units", config.hidden_units},
                                                                  {"seed", static_cast<std::int64_t>(config.seed)},
                                                                  {"samples", config.samples},
                                                                  {"noise", config.noise},
                                                                  {"dataset", "two_moons"}};

    mlflow::set_experiment(kExperimentName);
    mlflow::StartRunOptions parent_options;
    parent_options.run_name = "compare_activations";
    parent_options.description =
        "sigmoid vs tanh vs ReLU in the hidden layer of the same network, same data, same "
        "initial weights";
    mlflow::ActiveRun parent = mlflow::start_run(parent_options);
    mlflow::log_params(shared_params);

    // Plots are a bonus on top of the training: without gnuplot the runs are still logged, with a warning.
    std::optional<fs::path> activations_png;
    try {
      activations_png = plot_activations(work.path());
    } catch (const std::exception& e) {
      std::cerr << "compare_activations: warning: no activation plot: " << e.what() << '\n';
    }
    if (activations_png) mlflow::log_artifact(activations_png->string(), "plots");

    std::vector<Result> results;
    for (Activation activation : all_activations()) {
      const std::string name(to_string(activation));
      mlflow::StartRunOptions child_options;
      child_options.run_name = name;
      child_options.nested = true;
      mlflow::ActiveRun child = mlflow::start_run(child_options);
      std::map<std::string, mlflow::ParamValue> params = shared_params;
      params.emplace("activation", name);
      mlflow::log_params(params);

      Mlp net = init_mlp(2, static_cast<std::size_t>(config.hidden_units), config.seed);
      TrainingHistory history = train(net, activation, data, config.learning_rate, config.epochs,
                                      [](int epoch, double loss, double accuracy) {
                                        mlflow::log_metrics({{"loss", loss}, {"accuracy", accuracy}}, epoch);
                                      });
      mlflow::log_metrics({{"final_loss", history.loss.back()}, {"final_accuracy", history.accuracy.back()}},
                          config.epochs);
      if (const auto reached = first_epoch_reaching(history, 0.95)) {
        mlflow::log_metric("epochs_to_95pct_accuracy", *reached);
      }
      mlflow::log_artifacts(write_weights(work.path() / "weights" / name, net).string(), "weights");
      if (activations_png) mlflow::log_artifact(activations_png->string(), "plots");
      results.push_back(Result{activation, child.run_id(), std::move(history)});
      child.end();
    }

    std::string summary = "activation,final_loss,final_accuracy,epochs_to_95pct_accuracy,run_id\n";
    const Result* best = &results.front();
    for (const auto& r : results) {
      const auto reached = first_epoch_reaching(r.history, 0.95);
      summary += std::string(to_string(r.activation)) + ',' + python_str(r.history.loss.back()) + ',' +
                 python_str(r.history.accuracy.back()) + ',' + (reached ? std::to_string(*reached) : "") + ',' +
                 r.run_id + '\n';
      if (r.history.loss.back() < best->history.loss.back()) best = &r;
    }
    mlflow::log_text(summary, "summary.csv");
    mlflow::set_tag("best_activation", std::string(to_string(best->activation)));

    // The comparison needs all three trainings: it goes to the parent and, so that each run shows it, to the
    // (finished) children too.
    try {
      const fs::path curves = plot_loss_curves(work.path(), results, config);
      mlflow::log_artifact(curves.string(), "plots");
      for (const auto& r : results) mlflow::fluent_client().log_artifact(r.run_id, curves.string(), "plots");
    } catch (const std::exception& e) {
      std::cerr << "compare_activations: warning: no loss-curve plot: " << e.what() << '\n';
    }

    std::cout << "Comparação de ativações (" << config.epochs << " épocas, taxa de aprendizado "
              << python_str(config.learning_rate) << ", " << config.hidden_units << " neurônios ocultos, semente "
              << config.seed << ")\n";
    std::cout << pad("ativação", 11) << pad("perda final", 13) << pad("acurácia", 10) << pad("época 95%", 11)
              << "run\n";
    for (const auto& r : results) {
      const auto reached = first_epoch_reaching(r.history, 0.95);
      std::cout << pad(std::string(to_string(r.activation)), 10) << ' ' << pad(fixed(r.history.loss.back(), 4), 12)
                << ' ' << pad(fixed(r.history.accuracy.back(), 3), 9) << ' '
                << pad(reached ? std::to_string(*reached) : "-", 10) << ' ' << r.run_id << '\n';
    }
    std::cout << "parent run " << parent.run_id() << "; melhor: " << to_string(best->activation) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "compare_activations: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
