// The video's second block: tanh and its derivative on [[-1, 0, 1]], logged to MLflow.
#include <exception>
#include <iostream>

#include <armadillo>

#include "common/numpy_math.hpp"
#include "common/python_format.hpp"
#include "mlflow/fluent.hpp"

namespace {

arma::mat tanh_of(const arma::imat& x) { return arma::tanh(arma::conv_to<arma::mat>::from(x)); }

arma::mat tanh_derivative(const arma::imat& x) {
  // np.tanh(x)**2 squares by multiplying (numpy's fast path for the exponent 2).
  return 1.0 - arma::square(tanh_of(x));
}

}  // namespace

int main() {
  using namespace mlflow::experiments;
  try {
    mlflow::set_experiment("Funções de Ativação - Tanh");
    mlflow::ActiveRun run = mlflow::start_run();

    const arma::imat x = {{-1, 0, 1}};
    const arma::mat tanh_output = tanh_of(x);
    const arma::mat tanh_grad = tanh_derivative(x);

    mlflow::log_param("input", python_str(x));
    mlflow::log_metric("tanh_output", numpy_mean(tanh_output));
    mlflow::log_metric("tanh_derivative", numpy_mean(tanh_grad));

    std::cout << "Saída da Tanh: " << numpy_str(tanh_output) << '\n';
    std::cout << "Derivada da Tanh: " << numpy_str(tanh_grad) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "tanh: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
