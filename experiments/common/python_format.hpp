#pragma once
// Python- and numpy-style text for values, so that the experiment programs log and print byte for byte
// what the video's Python script logs (str(array.tolist())) and prints (print(array), print(float)).
// Free functions on values: thread-safe.

#include <armadillo>
#include <string>
#include <type_traits>

namespace mlflow::experiments {

/// Python's str()/repr() of a float, which is also what print() shows for a numpy float64 scalar:
/// shortest round-trip digits, "1.0", "1e-05", "1e+16", "nan", "inf", "-inf".
std::string python_str(double value);

/// Python's str(array.tolist()) of a 2-D float array: "[[0.1], [0.2]]", "[[-0.32900000000000007]]".
std::string python_str(const arma::mat& matrix);
/// The same for a 2-D integer array (arma::imat): ints without a decimal point, "[[-1, 0, 1]]".
std::string python_str(const arma::imat& matrix);

/// What numpy 1.x's print(array) shows for a 2-D float array with the default print options
/// (precision 8, floatmode "maxprec", suppress False, sign "-", linewidth 75, threshold 1000,
/// edgeitems 3): "[[0.26894142 0.5        0.73105858]]", "[[0.10329]\n [0.2043 ]]".
std::string numpy_str(const arma::mat& matrix);
/// The same for a 2-D integer array: "[[0 0 1]]".
std::string numpy_str(const arma::imat& matrix);

/// Any other Armadillo matrix or expression of integers or doubles (arma::umat, a Row, `1.0 - x`, ...):
/// evaluated, then printed as above.
template <typename T>
  requires(arma::is_arma_type<T>::value && !std::is_same_v<T, arma::mat> && !std::is_same_v<T, arma::imat>)
std::string python_str(const T& x) {
  using elem_type = typename T::elem_type;
  static_assert(std::is_integral_v<elem_type> || std::is_same_v<elem_type, double>,
                "python_str: integer or double elements only");
  if constexpr (std::is_integral_v<elem_type>)
    return python_str(arma::conv_to<arma::imat>::from(arma::Mat<elem_type>(x)));
  else
    return python_str(arma::mat(x));
}
template <typename T>
  requires(arma::is_arma_type<T>::value && !std::is_same_v<T, arma::mat> && !std::is_same_v<T, arma::imat>)
std::string numpy_str(const T& x) {
  using elem_type = typename T::elem_type;
  static_assert(std::is_integral_v<elem_type> || std::is_same_v<elem_type, double>,
                "numpy_str: integer or double elements only");
  if constexpr (std::is_integral_v<elem_type>)
    return numpy_str(arma::conv_to<arma::imat>::from(arma::Mat<elem_type>(x)));
  else
    return numpy_str(arma::mat(x));
}

}  // namespace mlflow::experiments
