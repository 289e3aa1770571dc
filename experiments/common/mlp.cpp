#include "common/mlp.hpp"

#include <charconv>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace mlflow::experiments {
namespace {

double sigmoid(double z) {
  // Both branches avoid exp overflow for large |z|.
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// log(1 + e^z) without overflow or cancellation.
double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z))); }

// x * w + row bias, each entry summed left to right: the fixed order keeps results identical across BLAS builds.
arma::mat affine(const arma::mat& x, const arma::mat& w, const arma::rowvec& bias) {
  arma::mat out(x.n_rows, w.n_cols);
  for (arma::uword i = 0; i < x.n_rows; ++i) {
    for (arma::uword j = 0; j < w.n_cols; ++j) {
      double acc = 0.0;
      for (arma::uword k = 0; k < x.n_cols; ++k) {
        const double product = x(i, k) * w(k, j);
        acc += product;
      }
      out(i, j) = acc + bias(j);
    }
  }
  return out;
}

struct Forward {
  arma::mat z1;  // n x hidden, pre-activation
  arma::mat a1;  // n x hidden
  arma::vec z2;  // n, output pre-activation
};

Forward forward(const Mlp& net, Activation activation, const arma::mat& x) {
  Forward f;
  f.z1 = affine(x, net.w1, net.b1);
  f.a1 = f.z1;
  f.a1.transform([activation](double z) { return activate(activation, z); });
  const arma::rowvec b2{net.b2};
  f.z2 = arma::vec(affine(f.a1, arma::mat(net.w2), b2).col(0));
  return f;
}

double mean_loss(const arma::vec& z2, const arma::vec& y) {
  // Cross-entropy of sigmoid(z) against y is softplus(z) - y z.
  double sum = 0.0;
  for (arma::uword i = 0; i < z2.n_elem; ++i) sum += softplus(z2(i)) - y(i) * z2(i);
  return sum / static_cast<double>(z2.n_elem);
}

std::string shortest(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

}  // namespace

std::string_view to_string(Activation activation) {
  switch (activation) {
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
    case Activation::relu:
      return "relu";
  }
  return "unknown";
}

Activation activation_from_string(std::string_view name) {
  for (Activation a : all_activations()) {
    if (to_string(a) == name) return a;
  }
  throw std::invalid_argument("unknown activation '" + std::string(name) + "': use sigmoid, tanh or relu");
}

const std::vector<Activation>& all_activations() {
  static const std::vector<Activation> all{Activation::sigmoid, Activation::tanh, Activation::relu};
  return all;
}

double activate(Activation activation, double z) {
  switch (activation) {
    case Activation::sigmoid:
      return sigmoid(z);
    case Activation::tanh:
      return std::tanh(z);
    case Activation::relu:
      return z > 0.0 ? z : 0.0;
  }
  return z;
}

double activate_derivative(Activation activation, double z) {
  switch (activation) {
    case Activation::sigmoid: {
      const double s = sigmoid(z);
      return s * (1.0 - s);
    }
    case Activation::tanh: {
      const double t = std::tanh(z);
      return 1.0 - t * t;
    }
    case Activation::relu:
      return z > 0.0 ? 1.0 : 0.0;
  }
  return 1.0;
}

// ---- random numbers ----

std::uint64_t SeededRng::next_u64() {
  state_ += 0x9E3779B97F4A7C15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double SeededRng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double SeededRng::uniform(double low, double high) { return low + (high - low) * uniform(); }

double SeededRng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // 1 - u lies in (0, 1], so the logarithm is finite.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

Dataset make_moons(std::size_t samples, double noise, std::uint64_t seed) {
  SeededRng rng(seed);
  Dataset data;
  data.x.set_size(samples, 2);
  data.y.set_size(samples);
  const std::size_t outer = samples / 2;
  for (std::size_t i = 0; i < samples; ++i) {
    const double t = rng.uniform(0.0, std::numbers::pi);
    const bool first = i < outer;
    const double px = first ? std::cos(t) : 1.0 - std::cos(t);
    const double py = first ? std::sin(t) : 0.5 - std::sin(t);
    data.x(i, 0) = px + noise * rng.normal();
    data.x(i, 1) = py + noise * rng.normal();
    data.y(i) = first ? 0.0 : 1.0;
  }
  return data;
}

// ---- the network ----

Mlp init_mlp(std::size_t inputs, std::size_t hidden, std::uint64_t seed) {
  SeededRng rng(seed);
  Mlp net;
  const double scale1 = 1.0 / std::sqrt(static_cast<double>(inputs));
  const double scale2 = 1.0 / std::sqrt(static_cast<double>(hidden));
  net.w1.set_size(inputs, hidden);
  for (arma::uword i = 0; i < net.w1.n_rows; ++i)
    for (arma::uword j = 0; j < net.w1.n_cols; ++j) net.w1(i, j) = scale1 * rng.normal();
  net.b1.zeros(hidden);
  net.w2.set_size(hidden);
  for (arma::uword j = 0; j < hidden; ++j) net.w2(j) = scale2 * rng.normal();
  net.b2 = 0.0;
  return net;
}

arma::vec predict_proba(const Mlp& net, Activation activation, const arma::mat& x) {
  arma::vec p = forward(net, activation, x).z2;
  p.transform([](double z) { return sigmoid(z); });
  return p;
}

double loss(const Mlp& net, Activation activation, const Dataset& data) {
  return mean_loss(forward(net, activation, data.x).z2, data.y);
}

double accuracy(const Mlp& net, Activation activation, const Dataset& data) {
  const arma::vec p = predict_proba(net, activation, data.x);
  std::size_t correct = 0;
  for (arma::uword i = 0; i < p.n_elem; ++i) {
    const double predicted = p(i) >= 0.5 ? 1.0 : 0.0;
    if (predicted == data.y(i)) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(p.n_elem);
}

MlpGradients backprop(const Mlp& net, Activation activation, const Dataset& data, double* loss_out) {
  const arma::mat& x = data.x;
  const Forward f = forward(net, activation, x);
  const arma::uword n = x.n_rows;
  const arma::uword hidden = net.w1.n_cols;
  const double inv_n = 1.0 / static_cast<double>(n);
  if (loss_out != nullptr) *loss_out = mean_loss(f.z2, data.y);

  // dL/dz2 of the mean cross-entropy through the output sigmoid: (p - y) / n.
  arma::vec delta2(n);
  for (arma::uword i = 0; i < n; ++i) delta2(i) = (sigmoid(f.z2(i)) - data.y(i)) * inv_n;

  MlpGradients g;
  g.w2.zeros(hidden);
  g.b2 = 0.0;
  for (arma::uword i = 0; i < n; ++i) {
    for (arma::uword j = 0; j < hidden; ++j) g.w2(j) += f.a1(i, j) * delta2(i);
    g.b2 += delta2(i);
  }

  // dL/dz1 = (delta2 w2^T) .* f'(z1).
  arma::mat delta1(n, hidden);
  for (arma::uword i = 0; i < n; ++i)
    for (arma::uword j = 0; j < hidden; ++j)
      delta1(i, j) = delta2(i) * net.w2(j) * activate_derivative(activation, f.z1(i, j));

  g.w1.zeros(x.n_cols, hidden);
  g.b1.zeros(hidden);
  for (arma::uword i = 0; i < n; ++i) {
    for (arma::uword j = 0; j < hidden; ++j) {
      for (arma::uword k = 0; k < x.n_cols; ++k) g.w1(k, j) += x(i, k) * delta1(i, j);
      g.b1(j) += delta1(i, j);
    }
  }
  return g;
}

void apply_gradients(Mlp& net, const MlpGradients& gradients, double learning_rate) {
  net.w1 -= learning_rate * gradients.w1;
  net.b1 -= learning_rate * gradients.b1;
  net.w2 -= learning_rate * gradients.w2;
  net.b2 -= learning_rate * gradients.b2;
}

std::string to_csv(const arma::mat& matrix) {
  std::string out;
  for (arma::uword i = 0; i < matrix.n_rows; ++i) {
    for (arma::uword j = 0; j < matrix.n_cols; ++j) {
      if (j > 0) out += ',';
      out += shortest(matrix(i, j));
    }
    out += '\n';
  }
  return out;
}

}  // namespace mlflow::experiments
