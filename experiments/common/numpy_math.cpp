#include "common/numpy_math.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace mlflow::experiments {
namespace {

// numpy's pairwise_sum (loops_utils.h): plain loop below 8 elements, eight interleaved accumulators
// up to a block of 128, halves (rounded to a multiple of 8) above.
double pairwise_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double res = 0.;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (std::size_t j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

std::vector<double> row_major(const arma::mat& matrix) {
  const arma::mat transposed = matrix.t();  // column-major storage of the transpose = row-major order
  return std::vector<double>(transposed.begin(), transposed.end());
}

}  // namespace

double numpy_sum(const arma::mat& matrix) {
  const std::vector<double> values = row_major(matrix);
  // The reduction starts from add's identity 0.0 and adds the pairwise sum of the whole
  // (contiguous, uncast) array in one inner loop.
  double out = 0.0;
  out += pairwise_sum(values.data(), values.size());
  return out;
}

double numpy_mean(const arma::mat& matrix) {
  return numpy_sum(matrix) / static_cast<double>(matrix.n_elem);
}

double numpy_mean(const arma::imat& matrix) {
  // Casting int64 to float64 goes through the iterator's buffers, so the pairwise sum restarts for
  // every buffer-sized chunk.
  constexpr std::size_t kBufferSize = 8192;
  const std::vector<double> values = row_major(arma::conv_to<arma::mat>::from(matrix));
  double out = 0.0;
  for (std::size_t start = 0; start < values.size(); start += kBufferSize) {
    const std::size_t n = std::min(kBufferSize, values.size() - start);
    out += pairwise_sum(values.data() + start, n);
  }
  return out / static_cast<double>(matrix.n_elem);
}

arma::mat numpy_dot(const arma::mat& a, const arma::mat& b) {
  if (a.n_cols != b.n_rows)
    throw std::invalid_argument("numpy_dot: shapes (" + std::to_string(a.n_rows) + "," + std::to_string(a.n_cols) +
                                ") and (" + std::to_string(b.n_rows) + "," + std::to_string(b.n_cols) +
                                ") not aligned");
  arma::mat out(a.n_rows, b.n_cols, arma::fill::zeros);
  for (arma::uword i = 0; i < a.n_rows; ++i)
    for (arma::uword j = 0; j < b.n_cols; ++j) {
      double acc = 0.0;
      for (arma::uword k = 0; k < a.n_cols; ++k) {
        const double product = a(i, k) * b(k, j);
        acc += product;
      }
      out(i, j) = acc;
    }
  return out;
}

}  // namespace mlflow::experiments
