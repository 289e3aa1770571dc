// The backpropagation of experiments/common/mlp against central finite differences of the loss, for each
// activation, and the seeded generators the compare_activations program relies on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "common/mlp.hpp"

using namespace mlflow::experiments;

namespace {

// |a - n| / max(|a| + |n|, tiny): the usual relative error of a gradient check.
double relative_error(double analytic, double numeric) {
  const double scale = std::max(std::fabs(analytic) + std::fabs(numeric), 1e-12);
  return std::fabs(analytic - numeric) / scale;
}

// Central difference of the loss along one parameter, reached through `slot`.
double numeric_gradient(Mlp net, Activation activation, const Dataset& data, const std::function<double&(Mlp&)>& slot) {
  constexpr double h = 1e-5;
  const double original = slot(net);
  slot(net) = original + h;
  const double plus = loss(net, activation, data);
  slot(net) = original - h;
  const double minus = loss(net, activation, data);
  slot(net) = original;
  return (plus - minus) / (2.0 * h);
}

std::string scientific(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3e", value);
  return buffer;
}

struct Check {
  double worst = 0.0;
  std::string where;
  int compared = 0;
};

Check check_gradients(Activation activation) {
  // Small enough to check every parameter; large enough that every unit is used.
  const Dataset data = make_moons(24, 0.2, 7);
  Mlp net = init_mlp(2, 5, 11);
  // Non-zero biases, so that the bias gradients are not trivially at a symmetric point.
  for (arma::uword j = 0; j < net.b1.n_elem; ++j) net.b1(j) = 0.1 * static_cast<double>(j) - 0.2;
  net.b2 = 0.05;
  const MlpGradients g = backprop(net, activation, data);

  Check check;
  auto compare = [&](double analytic, const std::function<double&(Mlp&)>& slot, const std::string& name) {
    const double numeric = numeric_gradient(net, activation, data, slot);
    const double err = relative_error(analytic, numeric);
    ++check.compared;
    if (err > check.worst) {
      check.worst = err;
      check.where = name + " (analytic " + std::to_string(analytic) + ", numeric " + std::to_string(numeric) + ")";
    }
  };
  for (arma::uword i = 0; i < net.w1.n_rows; ++i)
    for (arma::uword j = 0; j < net.w1.n_cols; ++j)
      compare(
          g.w1(i, j), [i, j](Mlp& m) -> double& { return m.w1(i, j); },
          "w1(" + std::to_string(i) + "," + std::to_string(j) + ")");
  for (arma::uword j = 0; j < net.b1.n_elem; ++j)
    compare(
        g.b1(j), [j](Mlp& m) -> double& { return m.b1(j); }, "b1(" + std::to_string(j) + ")");
  for (arma::uword j = 0; j < net.w2.n_elem; ++j)
    compare(
        g.w2(j), [j](Mlp& m) -> double& { return m.w2(j); }, "w2(" + std::to_string(j) + ")");
  compare(
      g.b2, [](Mlp& m) -> double& { return m.b2; }, "b2");
  return check;
}

}  // namespace

TEST(GradientCheck, sigmoidBackpropMatchesFiniteDifferences) {
  const Check c = check_gradients(Activation::sigmoid);
  EXPECT_EQ(c.compared, 2 * 5 + 5 + 5 + 1);
  EXPECT_LT(c.worst, 1e-6) << "worst at " << c.where;
  RecordProperty("worst_relative_error", scientific(c.worst));
}

TEST(GradientCheck, tanhBackpropMatchesFiniteDifferences) {
  const Check c = check_gradients(Activation::tanh);
  EXPECT_LT(c.worst, 1e-6) << "worst at " << c.where;
  RecordProperty("worst_relative_error", scientific(c.worst));
}

TEST(GradientCheck, reluBackpropMatchesFiniteDifferences) {
  const Check c = check_gradients(Activation::relu);
  EXPECT_LT(c.worst, 1e-6) << "worst at " << c.where;
  RecordProperty("worst_relative_error", scientific(c.worst));
}

TEST(GradientCheck, lossReportedByBackpropIsTheLoss) {
  const Dataset data = make_moons(30, 0.1, 3);
  const Mlp net = init_mlp(2, 4, 5);
  for (Activation a : all_activations()) {
    double reported = -1.0;
    backprop(net, a, data, &reported);
    EXPECT_EQ(reported, loss(net, a, data)) << to_string(a);
  }
}

TEST(GradientCheck, activationDerivativesMatchFiniteDifferences) {
  for (Activation a : all_activations()) {
    for (double z : {-3.0, -0.7, 0.4, 2.5}) {
      const double h = 1e-6;
      const double numeric = (activate(a, z + h) - activate(a, z - h)) / (2 * h);
      EXPECT_LT(relative_error(activate_derivative(a, z), numeric), 1e-7) << to_string(a) << " at " << z;
    }
  }
  EXPECT_EQ(activate_derivative(Activation::relu, 0.0), 0.0);
  EXPECT_EQ(activate(Activation::relu, -2.0), 0.0);
}

TEST(GradientCheck, trainingLowersTheLossForEveryActivation) {
  const Dataset data = make_moons(100, 0.2, 42);
  for (Activation a : all_activations()) {
    Mlp net = init_mlp(2, 8, 42);
    const double before = loss(net, a, data);
    const TrainingHistory h = train(net, a, data, 1.0, 50, [](int, double, double) {});
    ASSERT_EQ(h.loss.size(), 50u);
    EXPECT_LT(h.loss.back(), before) << to_string(a);
    EXPECT_EQ(h.loss.back(), loss(net, a, data));
  }
}

TEST(SeededData, sameSeedSameNumbersOtherSeedOtherNumbers) {
  const Dataset a = make_moons(200, 0.2, 42);
  const Dataset b = make_moons(200, 0.2, 42);
  const Dataset c = make_moons(200, 0.2, 43);
  ASSERT_EQ(a.x.n_rows, 200u);
  EXPECT_TRUE(arma::approx_equal(a.x, b.x, "absdiff", 0.0));
  EXPECT_FALSE(arma::approx_equal(a.x, c.x, "absdiff", 1e-9));
  EXPECT_EQ(arma::accu(a.y), 100.0);
  // Fixed values of the generator: a change of the generator would change every logged number.
  mlflow::experiments::SeededRng rng(42);
  EXPECT_EQ(rng.next_u64(), 13679457532755275413ULL);
}

TEST(SeededData, csvRoundTripsEveryBit) {
  arma::mat m = {{0.1, -1e-300, 3.0}, {1.0 / 3.0, 2.5e10, -0.0}};
  EXPECT_EQ(to_csv(m), "0.1,-1e-300,3\n0.3333333333333333,2.5e+10,-0\n");
}
