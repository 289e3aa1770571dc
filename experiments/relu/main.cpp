// The video's third block: ReLU and its derivative on the integer array [[-1, 0, 1]], logged to MLflow.
#include <algorithm>
#include <exception>
#include <iostream>

#include <armadillo>

#include "common/numpy_math.hpp"
#include "common/python_format.hpp"
#include "mlflow/fluent.hpp"

namespace {

// np.maximum(0, x) keeps the integer dtype.
arma::imat relu(const arma::imat& x) {
  arma::imat out = x;
  out.transform([](long long v) { return std::max(0LL, v); });
  return out;
}

// np.where(x > 0, 1, 0): 0 at x == 0, integer dtype.
arma::imat relu_derivative(const arma::imat& x) { return arma::conv_to<arma::imat>::from(x > 0); }

}  // namespace

int main() {
  using namespace mlflow::experiments;
  try {
    mlflow::set_experiment("Funções de Ativação - ReLU");
    mlflow::ActiveRun run = mlflow::start_run();

    const arma::imat x = {{-1, 0, 1}};
    const arma::imat relu_output = relu(x);
    const arma::imat relu_grad = relu_derivative(x);

    mlflow::log_param("input", python_str(x));
    mlflow::log_metric("relu_output", numpy_mean(relu_output));
    mlflow::log_metric("relu_derivative", numpy_mean(relu_grad));

    std::cout << "Saída da ReLU: " << numpy_str(relu_output) << '\n';
    std::cout << "Derivada da ReLU: " << numpy_str(relu_grad) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "relu: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
