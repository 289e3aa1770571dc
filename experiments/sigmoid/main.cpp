// The video's first block: the sigmoid and its derivative on [[-1, 0, 1]], logged to MLflow.
#include <exception>
#include <iostream>

#include <armadillo>

#include "common/numpy_math.hpp"
#include "common/python_format.hpp"
#include "mlflow/fluent.hpp"

namespace {

arma::mat sigmoid(const arma::imat& x) {
  // np.exp(-x) negates the ints, then computes in float64.
  return 1.0 / (1.0 + arma::exp(arma::conv_to<arma::mat>::from(-x)));
}

arma::mat sigmoid_derivative(const arma::imat& x) {
  const arma::mat sig = sigmoid(x);
  return sig % (1.0 - sig);
}

}  // namespace

int main() {
  using namespace mlflow::experiments;
  try {
    mlflow::set_experiment("Funções de Ativação - Sigmóide");
    mlflow::ActiveRun run = mlflow::start_run();

    const arma::imat x = {{-1, 0, 1}};
    const arma::mat sigmoid_output = sigmoid(x);
    const arma::mat sigmoid_grad = sigmoid_derivative(x);

    mlflow::log_param("input", python_str(x));
    mlflow::log_metric("sigmoid_output", numpy_mean(sigmoid_output));
    mlflow::log_metric("sigmoid_derivative", numpy_mean(sigmoid_grad));

    std::cout << "Saída da Sigmóide: " << numpy_str(sigmoid_output) << '\n';
    std::cout << "Derivada da Sigmóide: " << numpy_str(sigmoid_grad) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "sigmoid: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
