#pragma once
// A small fully connected network for binary classification (inputs -> one hidden layer -> one sigmoid output),
// trained by full-batch gradient descent with backpropagation written out with Armadillo, plus the seeded
// random numbers and the synthetic data set the compare_activations program trains it on.
// Every number is computed in a fixed order without fused multiply-adds and the random numbers come from our
// own generator, so the same seed gives bit-identical results on any standard library.

#include <armadillo>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlflow::experiments {

/// The activation of the hidden layer.
enum class Activation { sigmoid, tanh, relu };

/// "sigmoid", "tanh", "relu".
std::string_view to_string(Activation activation);
/// The inverse of to_string; throws std::invalid_argument naming the accepted names otherwise.
Activation activation_from_string(std::string_view name);
/// The three activations in the order the program compares them.
const std::vector<Activation>& all_activations();

/// f(z) and f'(z) of one activation (relu'(0) is taken as 0).
double activate(Activation activation, double z);
double activate_derivative(Activation activation, double z);

/// A seeded pseudo-random generator (SplitMix64) with its own uniform and normal draws, so that the numbers
/// do not depend on the standard library's distributions. A value type; not thread-safe.
class SeededRng {
 public:
  explicit SeededRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64();
  /// Uniform in [0, 1), 53 random bits.
  double uniform();
  /// Uniform in [low, high).
  double uniform(double low, double high);
  /// Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal();

 private:
  std::uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

/// A labelled data set: x is n x features (one sample per row), y is n labels in {0, 1}.
struct Dataset {
  arma::mat x;
  arma::vec y;
};

/// Two interleaving half circles ("moons") with Gaussian noise of standard deviation `noise`; the first half
/// of the rows is class 0, the second class 1. Deterministic for a seed.
Dataset make_moons(std::size_t samples, double noise, std::uint64_t seed);

/// The parameters of the network: hidden = f(x * w1 + b1), p = sigmoid(hidden * w2 + b2).
/// A value type; thread-safe as a value.
struct Mlp {
  arma::mat w1;     ///< inputs x hidden
  arma::rowvec b1;  ///< 1 x hidden
  arma::vec w2;     ///< hidden x 1
  double b2 = 0.0;
};

/// Gradients of the mean loss with respect to each parameter, shaped as in Mlp.
struct MlpGradients {
  arma::mat w1;
  arma::rowvec b1;
  arma::vec w2;
  double b2 = 0.0;
};

/// Weights drawn from N(0, 1/fan_in), biases zero. The same seed gives the same network whatever the activation,
/// so that a comparison of activations starts from the same point.
Mlp init_mlp(std::size_t inputs, std::size_t hidden, std::uint64_t seed);

/// The probability of class 1 for each row of x.
arma::vec predict_proba(const Mlp& net, Activation activation, const arma::mat& x);
/// Mean binary cross-entropy, computed from the output's pre-activation in a numerically stable form.
double loss(const Mlp& net, Activation activation, const Dataset& data);
/// Fraction of rows whose predicted class (p >= 0.5) equals the label.
double accuracy(const Mlp& net, Activation activation, const Dataset& data);

/// The analytic gradient of loss() by backpropagation; the loss itself is stored in *loss_out when given.
MlpGradients backprop(const Mlp& net, Activation activation, const Dataset& data, double* loss_out = nullptr);

/// One gradient-descent step: every parameter moves by -learning_rate * gradient.
void apply_gradients(Mlp& net, const MlpGradients& gradients, double learning_rate);

/// Loss and accuracy after each epoch (index 0 = after the first epoch).
struct TrainingHistory {
  std::vector<double> loss;
  std::vector<double> accuracy;
};

/// Trains `net` in place for `epochs` full-batch steps; `on_epoch(epoch, loss, accuracy)` is called after each
/// step with epoch counted from 1 (the loss and accuracy of the updated network).
template <typename OnEpoch>
TrainingHistory train(Mlp& net, Activation activation, const Dataset& data, double learning_rate, int epochs,
                      OnEpoch&& on_epoch) {
  TrainingHistory history;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    apply_gradients(net, backprop(net, activation, data), learning_rate);
    const double l = loss(net, activation, data);
    const double a = accuracy(net, activation, data);
    history.loss.push_back(l);
    history.accuracy.push_back(a);
    on_epoch(epoch, l, a);
  }
  return history;
}

/// A matrix as CSV text, one row per line, values in shortest round-trip form (loads back bit for bit with
/// numpy.loadtxt(..., delimiter=",", ndmin=2)).
std::string to_csv(const arma::mat& matrix);

}  // namespace mlflow::experiments
