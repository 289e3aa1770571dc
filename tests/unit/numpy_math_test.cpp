// numpy's order of operations for sums, means and dot products (experiments/common/numpy_math):
// the doubles the experiment programs log must be bit-identical to numpy's.
#include "common/numpy_math.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "common/python_format.hpp"

using mlflow::experiments::numpy_dot;
using mlflow::experiments::numpy_mean;
using mlflow::experiments::numpy_sum;
using mlflow::experiments::python_str;

TEST(NumpyMath, seedMetricsAreBitExact) {
  const arma::mat x = arma::conv_to<arma::mat>::from(arma::imat{{-1, 0, 1}});
  const arma::mat sig = 1.0 / (1.0 + arma::exp(-x));
  EXPECT_EQ(numpy_mean(sig), 0.5);
  EXPECT_EQ(numpy_mean(sig % (1.0 - sig)), 0.21440795549432123);
  const arma::mat t = arma::tanh(x);
  EXPECT_EQ(numpy_mean(t), 0.0);
  EXPECT_EQ(numpy_mean(1.0 - arma::square(t)), 0.6133162277426841);
  EXPECT_EQ(numpy_mean(arma::imat{{0, 0, 1}}), 0.3333333333333333);
}

TEST(NumpyMath, backpropGradientKeepsNumpysRounding) {
  const arma::mat x = {{0.1, 0.2}, {0.4, 0.5}};
  const arma::mat y_true = arma::colvec{0.3, 0.9};
  const arma::mat weights = arma::colvec{0.1, 0.2};
  const arma::mat z = numpy_dot(x, weights);
  EXPECT_EQ(z(0, 0), 0.05000000000000001);
  EXPECT_EQ(z(1, 0), 0.14);
  EXPECT_EQ(numpy_mean(arma::square(y_true - z)), 0.32005);
  const arma::mat gradient = numpy_dot(x.t(), z - y_true);
  EXPECT_EQ(python_str(gradient), "[[-0.32900000000000007], [-0.43]]");
  EXPECT_EQ(python_str(weights - 0.01 * gradient), "[[0.10329], [0.2043]]");
}

TEST(NumpyMath, sumIsPairwiseInRowMajorOrder) {
  // 1e16 + 1 + 1 ... : a left-to-right sum loses every 1, a pairwise one keeps them in blocks.
  arma::mat values(1, 16, arma::fill::ones);
  values(0, 0) = 1e16;
  // numpy: ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) with r_j = a_j + a_{j+8}.
  EXPECT_EQ(numpy_sum(values), 1e16 + 14.0);
  arma::mat column = values.t();
  EXPECT_EQ(numpy_sum(column), numpy_sum(values));
  // Row-major order matters: [[1e16, 1], [-1e16, 1]] sums as ((1e16 + 1) - 1e16) + 1 = 1.
  EXPECT_EQ(numpy_sum(arma::mat{{1e16, 1.0}, {-1e16, 1.0}}), 1.0);
}

TEST(NumpyMath, dotRejectsMisalignedShapes) {
  EXPECT_THROW(numpy_dot(arma::mat(2, 3), arma::mat(2, 1)), std::invalid_argument);
}
