#pragma once
// The few numpy reductions and products the video script uses, computed in numpy's order of
// operations so that the logged doubles are bit-identical to what numpy produced. Free functions on
// values: thread-safe.

#include <armadillo>
#include <type_traits>

namespace mlflow::experiments {

/// np.sum of a C-ordered float64 array: numpy's pairwise summation over the elements in row-major
/// order (arma::accu adds in a different order, which changes the last bits).
double numpy_sum(const arma::mat& matrix);
/// np.mean of a float64 array: numpy_sum / number of elements.
double numpy_mean(const arma::mat& matrix);
/// np.mean of an int64 array: summed as float64 in numpy's casting buffers of 8192 elements.
double numpy_mean(const arma::imat& matrix);

/// np.mean of any other Armadillo matrix or expression of integers or doubles (`arma::square(x)`, ...).
template <typename T>
  requires(arma::is_arma_type<T>::value && !std::is_same_v<T, arma::mat> && !std::is_same_v<T, arma::imat>)
double numpy_mean(const T& x) {
  using elem_type = typename T::elem_type;
  static_assert(std::is_integral_v<elem_type> || std::is_same_v<elem_type, double>,
                "numpy_mean: integer or double elements only");
  if constexpr (std::is_integral_v<elem_type>)
    return numpy_mean(arma::conv_to<arma::imat>::from(arma::Mat<elem_type>(x)));
  else
    return numpy_mean(arma::mat(x));
}

/// np.dot of two 2-D float64 arrays, each entry accumulated left to right without fused multiply-adds,
/// which is what numpy's BLAS call yields for arrays as small as the script's (it is checked bit for
/// bit against the reference). Throws std::invalid_argument when the inner dimensions differ.
arma::mat numpy_dot(const arma::mat& a, const arma::mat& b);

}  // namespace mlflow::experiments
