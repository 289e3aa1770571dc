// Python str()/repr() and numpy print() text of the experiment programs (experiments/common).
// Expected strings were produced by CPython 3.11 and numpy 1.24 with default print options.
#include "common/python_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>

#include "common/numpy_math.hpp"

using mlflow::experiments::numpy_mean;
using mlflow::experiments::numpy_str;
using mlflow::experiments::python_str;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The arrays of the video script, computed as the programs compute them.
const arma::imat kInput = {{-1, 0, 1}};
arma::mat as_float(const arma::imat& x) { return arma::conv_to<arma::mat>::from(x); }
// A (n, 1) array; Armadillo's nested braces are ambiguous for one-element rows.
arma::mat column(std::initializer_list<double> values) { return arma::mat(arma::colvec(values)); }
arma::mat sigmoid() { return 1.0 / (1.0 + arma::exp(as_float(-kInput))); }

}  // namespace

TEST(PythonFormat, floatReprIsShortestRoundTrip) {
  EXPECT_EQ(python_str(0.5), "0.5");
  EXPECT_EQ(python_str(1.0), "1.0");
  EXPECT_EQ(python_str(0.0), "0.0");
  EXPECT_EQ(python_str(-0.0), "-0.0");
  EXPECT_EQ(python_str(0.32005), "0.32005");
  EXPECT_EQ(python_str(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(python_str(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(python_str(0.0001), "0.0001");
  EXPECT_EQ(python_str(0.00001), "1e-05");
  EXPECT_EQ(python_str(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_str(1e15), "1000000000000000.0");
  EXPECT_EQ(python_str(1e16), "1e+16");
  EXPECT_EQ(python_str(123456789.125), "123456789.125");
  EXPECT_EQ(python_str(5e-324), "5e-324");
  EXPECT_EQ(python_str(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(python_str(kNan), "nan");
  EXPECT_EQ(python_str(kInf), "inf");
  EXPECT_EQ(python_str(-kInf), "-inf");
}

TEST(PythonFormat, integerListHasNoDecimalPoint) {
  EXPECT_EQ(python_str(kInput), "[[-1, 0, 1]]");
  EXPECT_EQ(python_str(arma::imat{{-123LL, 4567890123LL}, {5LL, 6LL}}), "[[-123, 4567890123], [5, 6]]");
  arma::umat unsigned_ints(1, 2, arma::fill::zeros);
  unsigned_ints(0, 1) = 1;
  EXPECT_EQ(python_str(unsigned_ints), "[[0, 1]]");
  EXPECT_EQ(numpy_str(unsigned_ints), "[[0 1]]");
}

TEST(PythonFormat, floatListUsesRepr) {
  EXPECT_EQ(python_str(column({0.1, 0.2})), "[[0.1], [0.2]]");
  EXPECT_EQ(python_str(arma::mat{{1e-5, 1.0}}), "[[1e-05, 1.0]]");
  EXPECT_EQ(python_str(arma::mat{{1e8, -0.0}}), "[[100000000.0, -0.0]]");
  EXPECT_EQ(python_str(arma::mat{{kNan, kInf, -kInf}}), "[[nan, inf, -inf]]");
  EXPECT_EQ(python_str(column({-0.32900000000000007, -0.43})), "[[-0.32900000000000007], [-0.43]]");
}

TEST(PythonFormat, emptyListsKeepTheirRows) {
  EXPECT_EQ(python_str(arma::mat(0, 3)), "[]");
  EXPECT_EQ(python_str(arma::mat(2, 0)), "[[], []]");
  EXPECT_EQ(numpy_str(arma::mat(2, 0)), "[]");
  EXPECT_EQ(numpy_str(arma::imat(0, 3)), "[]");
}

TEST(NumpyFormat, seedStdoutOfTheSigmoidBlock) {
  const arma::mat sig = sigmoid();
  EXPECT_EQ(numpy_str(sig), "[[0.26894142 0.5        0.73105858]]");
  EXPECT_EQ(numpy_str(sig % (1.0 - sig)), "[[0.19661193 0.25       0.19661193]]");
}

TEST(NumpyFormat, seedStdoutOfTheTanhBlock) {
  const arma::mat t = arma::tanh(as_float(kInput));
  EXPECT_EQ(numpy_str(t), "[[-0.76159416  0.          0.76159416]]");
  EXPECT_EQ(numpy_str(1.0 - arma::square(t)), "[[0.41997434 1.         0.41997434]]");
}

TEST(NumpyFormat, seedStdoutOfTheReluBlock) {
  arma::imat relu = kInput;
  relu.transform([](long long v) { return v > 0 ? v : 0; });
  EXPECT_EQ(numpy_str(relu), "[[0 0 1]]");
  EXPECT_EQ(numpy_str(arma::conv_to<arma::imat>::from(kInput > 0)), "[[0 0 1]]");
}

TEST(NumpyFormat, seedStdoutOfTheBackpropBlock) {
  EXPECT_EQ(numpy_str(column({0.10329, 0.2043})), "[[0.10329]\n [0.2043 ]]");
  EXPECT_EQ(python_str(0.32005), "0.32005");
}

TEST(NumpyFormat, positionalPadsFractionsAndSigns) {
  EXPECT_EQ(numpy_str(arma::mat{{-0.0, 0.0}}), "[[-0.  0.]]");
  EXPECT_EQ(numpy_str(arma::mat{{0.199999999999, 3.0}}), "[[0.2 3. ]]");
  EXPECT_EQ(numpy_str(arma::mat{{0.125, std::ldexp(1.0, -30) + 0.5}}), "[[0.125 0.5  ]]");
}

TEST(NumpyFormat, scientificWhenTheRangeIsWide) {
  EXPECT_EQ(numpy_str(arma::mat{{1e-5, 1.0}}), "[[1.e-05 1.e+00]]");
  EXPECT_EQ(numpy_str(arma::mat{{1.5e-5, 1.0}}), "[[1.5e-05 1.0e+00]]");
  EXPECT_EQ(numpy_str(arma::mat{{1e-5, 1e100}}), "[[1.e-005 1.e+100]]");
  EXPECT_EQ(numpy_str(arma::mat{{1e8, 1.0}}), "[[1.e+08 1.e+00]]");
  EXPECT_EQ(numpy_str(arma::mat{{123456.123456789, 1.0}}), "[[1.23456123e+05 1.00000000e+00]]");
  EXPECT_EQ(numpy_str(arma::mat{{-2.5e-9, 1.0}, {3.0, 4.0}}), "[[-2.5e-09  1.0e+00]\n [ 3.0e+00  4.0e+00]]");
}

TEST(NumpyFormat, nanAndInfTakeTheColumnWidth) {
  EXPECT_EQ(numpy_str(arma::mat{{kNan, kInf}}), "[[nan inf]]");
  EXPECT_EQ(numpy_str(arma::mat(1, 1, arma::fill::value(-kInf))), "[[-inf]]");
  EXPECT_EQ(numpy_str(arma::mat{{1.5, kNan}}), "[[1.5 nan]]");
}

TEST(NumpyFormat, integersAlignRight) {
  EXPECT_EQ(numpy_str(arma::imat{{-123LL, 4567890123LL}, {5LL, 6LL}}),
            "[[      -123 4567890123]\n [         5          6]]");
}

TEST(NumpyFormat, longRowsWrapAtSeventyFiveColumns) {
  const arma::mat row = arma::regspace<arma::rowvec>(0, 29) / 7.0;
  EXPECT_EQ(numpy_str(row),
            "[[0.         0.14285714 0.28571429 0.42857143 0.57142857 0.71428571\n"
            "  0.85714286 1.         1.14285714 1.28571429 1.42857143 1.57142857\n"
            "  1.71428571 1.85714286 2.         2.14285714 2.28571429 2.42857143\n"
            "  2.57142857 2.71428571 2.85714286 3.         3.14285714 3.28571429\n"
            "  3.42857143 3.57142857 3.71428571 3.85714286 4.         4.14285714]]");
}

TEST(NumpyFormat, largeArraysAreSummarized) {
  arma::imat ints(40, 50);
  for (arma::uword r = 0; r < 40; ++r)
    for (arma::uword c = 0; c < 50; ++c) ints(r, c) = static_cast<long long>(r * 50 + c);
  EXPECT_EQ(numpy_str(ints),
            "[[   0    1    2 ...   47   48   49]\n"
            " [  50   51   52 ...   97   98   99]\n"
            " [ 100  101  102 ...  147  148  149]\n"
            " ...\n"
            " [1850 1851 1852 ... 1897 1898 1899]\n"
            " [1900 1901 1902 ... 1947 1948 1949]\n"
            " [1950 1951 1952 ... 1997 1998 1999]]");
  const arma::mat floats = arma::conv_to<arma::mat>::from(ints) / 3.0;
  EXPECT_EQ(numpy_str(floats),
            "[[0.00000000e+00 3.33333333e-01 6.66666667e-01 ... 1.56666667e+01\n"
            "  1.60000000e+01 1.63333333e+01]\n"
            " [1.66666667e+01 1.70000000e+01 1.73333333e+01 ... 3.23333333e+01\n"
            "  3.26666667e+01 3.30000000e+01]\n"
            " [3.33333333e+01 3.36666667e+01 3.40000000e+01 ... 4.90000000e+01\n"
            "  4.93333333e+01 4.96666667e+01]\n"
            " ...\n"
            " [6.16666667e+02 6.17000000e+02 6.17333333e+02 ... 6.32333333e+02\n"
            "  6.32666667e+02 6.33000000e+02]\n"
            " [6.33333333e+02 6.33666667e+02 6.34000000e+02 ... 6.49000000e+02\n"
            "  6.49333333e+02 6.49666667e+02]\n"
            " [6.50000000e+02 6.50333333e+02 6.50666667e+02 ... 6.65666667e+02\n"
            "  6.66000000e+02 6.66333333e+02]]");
}
