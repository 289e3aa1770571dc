// The video's backpropagation block: one forward pass through a ReLU unit, the MSE loss, the gradient
// of the weights and one gradient step, logged to MLflow.
#include <cmath>
#include <exception>
#include <iostream>

#include <armadillo>

#include "common/numpy_math.hpp"
#include "common/python_format.hpp"
#include "mlflow/fluent.hpp"

namespace {

using mlflow::experiments::numpy_dot;
using mlflow::experiments::numpy_mean;

// np.maximum(0, z) on floats: NaN propagates, -0.0 becomes 0.0.
arma::mat relu(const arma::mat& z) {
  arma::mat out = z;
  out.transform([](double v) { return (std::isnan(v) || v > 0.0) ? v : 0.0; });
  return out;
}

// np.where(z > 0, 1, 0): an integer array.
arma::imat relu_derivative(const arma::mat& z) { return arma::conv_to<arma::imat>::from(z > 0.0); }

double mse_loss(const arma::mat& y_true, const arma::mat& y_pred) { return numpy_mean(arma::square(y_true - y_pred)); }

}  // namespace

int main() {
  using namespace mlflow::experiments;
  try {
    mlflow::set_experiment("Backpropagation");
    mlflow::ActiveRun run = mlflow::start_run();

    const arma::mat x = {{0.1, 0.2}, {0.4, 0.5}};
    const arma::mat y_true = arma::colvec{0.3, 0.9};  // shape (2, 1)
    arma::mat weights = arma::colvec{0.1, 0.2};       // shape (2, 1)

    // Forward pass
    const arma::mat z = numpy_dot(x, weights);
    const arma::mat y_pred = relu(z);

    const double error = mse_loss(y_true, y_pred);
    std::cout << "Erro inicial: " << python_str(error) << '\n';

    // Backward pass: the int derivative times a float array is computed in float64.
    const arma::mat delta = arma::conv_to<arma::mat>::from(relu_derivative(z)) % (y_pred - y_true);
    const arma::mat gradient = numpy_dot(x.t(), delta);

    mlflow::log_metric("initial_error", error);
    mlflow::log_param("initial_weights", python_str(weights));
    mlflow::log_param("gradient", python_str(gradient));

    const double learning_rate = 0.01;
    weights -= learning_rate * gradient;

    std::cout << "Pesos atualizados: " << numpy_str(weights) << '\n';
    mlflow::log_param("updated_weights", python_str(weights));
  } catch (const std::exception& e) {
    std::cerr << "backprop: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
