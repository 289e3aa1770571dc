#include "common/python_format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow/fluent.hpp"

namespace mlflow::experiments {
namespace {

// numpy's default print options (np.get_printoptions() in numpy 1.x).
constexpr int kPrecision = 8;
constexpr std::size_t kLineWidth = 75;
constexpr std::size_t kThreshold = 1000;
constexpr std::size_t kEdgeItems = 3;

std::string chars(double value, std::chars_format format) {
  char buffer[400];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, format);
  if (result.ec != std::errc{}) throw std::runtime_error("to_chars failed");
  return std::string(buffer, result.ptr);
}

std::string chars(double value, std::chars_format format, int precision) {
  char buffer[400];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, format, precision);
  if (result.ec != std::errc{}) throw std::runtime_error("to_chars failed");
  return std::string(buffer, result.ptr);
}

void strip_trailing_zeros(std::string& digits) {
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
}

// Splits "123.456" into "123" and "456" ("123" alone gives an empty fraction).
std::pair<std::string, std::string> split_point(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos) return {std::string(text), std::string()};
  return {std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
}

// One finite float as numpy's Dragon4 prints it in unique mode with a digit cap: the shortest
// round-trip digits when they fit in `precision` digits, else the exact value rounded to `precision`
// digits (half to even), trailing zeros dropped either way. to_chars gives both: shortest without a
// precision, exactly rounded with one.
struct Positional {
  std::string int_part;   // with the '-' of negative values (and of -0.0)
  std::string frac_part;  // possibly empty ("1." prints as int "1", fraction "")
};

Positional numpy_positional(double value, int precision) {
  const double magnitude = std::fabs(value);
  auto [int_part, frac_part] = split_point(chars(magnitude, std::chars_format::fixed));
  if (frac_part.size() > static_cast<std::size_t>(precision)) {
    std::tie(int_part, frac_part) = split_point(chars(magnitude, std::chars_format::fixed, precision));
    strip_trailing_zeros(frac_part);
  }
  if (std::signbit(value)) int_part.insert(0, "-");
  return {std::move(int_part), std::move(frac_part)};
}

struct Scientific {
  std::string int_part;   // one digit, with the '-' of negative values
  std::string frac_part;  // possibly empty
  char exp_sign = '+';
  std::string exp_digits;  // at least two digits, as numpy and to_chars both print them
};

Scientific numpy_scientific(double value, int precision) {
  const double magnitude = std::fabs(value);
  auto split = [](const std::string& text) {
    Scientific out;
    const auto e = text.find('e');
    std::tie(out.int_part, out.frac_part) = split_point(std::string_view(text).substr(0, e));
    out.exp_sign = text[e + 1];
    out.exp_digits = text.substr(e + 2);
    return out;
  };
  Scientific out = split(chars(magnitude, std::chars_format::scientific));
  if (out.frac_part.size() > static_cast<std::size_t>(precision)) {
    out = split(chars(magnitude, std::chars_format::scientific, precision));
    strip_trailing_zeros(out.frac_part);
  }
  if (std::signbit(value)) out.int_part.insert(0, "-");
  return out;
}

std::string pad_left(std::string text, std::size_t width, char fill = ' ') {
  if (text.size() < width) text.insert(0, width - text.size(), fill);
  return text;
}

std::string pad_right(std::string text, std::size_t width, char fill = ' ') {
  if (text.size() < width) text.append(width - text.size(), fill);
  return text;
}

// numpy's FloatingFormat (arrayprint.py) for float64 with the default options: decides once, from
// all the values shown, between positional and scientific notation and on the paddings that align
// the columns, then formats each value with them.
class FloatFormat {
 public:
  explicit FloatFormat(const std::vector<double>& data) {
    std::vector<double> finite;
    for (double v : data)
      if (std::isfinite(v)) finite.push_back(v);

    bool any_nonzero = false;
    double max_val = 0.0;
    double min_val = 0.0;
    for (double v : finite) {
      if (v == 0.0) continue;
      const double a = std::fabs(v);
      if (!any_nonzero) {
        max_val = min_val = a;
        any_nonzero = true;
      } else {
        max_val = std::max(max_val, a);
        min_val = std::min(min_val, a);
      }
    }
    if (any_nonzero && (max_val >= 1.e8 || min_val < 0.0001 || max_val / min_val > 1000.)) exp_format_ = true;

    if (finite.empty()) {
      pad_left_ = 0;
      pad_right_ = 0;
    } else if (exp_format_) {
      std::size_t exp_size = 0;
      std::size_t frac_size = 0;
      std::size_t int_size = 0;
      for (double v : finite) {
        const Scientific s = numpy_scientific(v, kPrecision);
        exp_size = std::max(exp_size, s.exp_digits.size());
        frac_size = std::max(frac_size, s.frac_part.size());
        int_size = std::max(int_size, s.int_part.size());
      }
      exp_size_ = exp_size;
      precision_ = frac_size;
      pad_left_ = int_size;
      pad_right_ = exp_size_ + 2 + precision_;
    } else {
      for (double v : finite) {
        const Positional p = numpy_positional(v, kPrecision);
        pad_left_ = std::max(pad_left_, p.int_part.size());
        pad_right_ = std::max(pad_right_, p.frac_part.size());
      }
    }

    if (finite.size() != data.size()) {
      bool negative_inf = false;
      for (double v : data)
        if (std::isinf(v) && v < 0) negative_inf = true;
      // "nan" and "inf"/"-inf" must fit in the width of the finite values.
      const std::size_t offset = pad_right_ + 1;
      const std::size_t nan_len = 3;
      const std::size_t inf_len = 3 + (negative_inf ? 1 : 0);
      if (nan_len > offset) pad_left_ = std::max(pad_left_, nan_len - offset);
      if (inf_len > offset) pad_left_ = std::max(pad_left_, inf_len - offset);
    }
  }

  std::string operator()(double value) const {
    if (!std::isfinite(value)) {
      const std::string text = std::isnan(value) ? "nan" : (value < 0 ? "-inf" : "inf");
      return pad_left(text, pad_left_ + pad_right_ + 1);
    }
    if (exp_format_) {
      const Scientific s = numpy_scientific(value, kPrecision);
      return pad_left(s.int_part, pad_left_) + "." + pad_right(s.frac_part, precision_, '0') + "e" + s.exp_sign +
             pad_left(s.exp_digits, exp_size_, '0');
    }
    const Positional p = numpy_positional(value, kPrecision);
    return pad_left(p.int_part, pad_left_) + "." + pad_right(p.frac_part, pad_right_);
  }

 private:
  bool exp_format_ = false;
  std::size_t pad_left_ = 0;
  std::size_t pad_right_ = 0;
  std::size_t precision_ = kPrecision;
  std::size_t exp_size_ = 0;
};

// Which rows (or columns) numpy shows: all of them, or the first and last kEdgeItems around "..."
// when the array has more than kThreshold elements.
struct Shown {
  std::vector<std::size_t> leading;
  std::vector<std::size_t> trailing;  // empty unless summarized
  bool summary = false;
};

Shown shown_indices(std::size_t length, bool summarize) {
  Shown shown;
  if (summarize && 2 * kEdgeItems < length) {
    shown.summary = true;
    for (std::size_t i = 0; i < kEdgeItems; ++i) shown.leading.push_back(i);
    for (std::size_t i = length - kEdgeItems; i < length; ++i) shown.trailing.push_back(i);
  } else {
    for (std::size_t i = 0; i < length; ++i) shown.leading.push_back(i);
  }
  return shown;
}

std::vector<std::size_t> all_of(const Shown& shown) {
  std::vector<std::size_t> out = shown.leading;
  out.insert(out.end(), shown.trailing.begin(), shown.trailing.end());
  return out;
}

// numpy's _extendLine: wraps before `word` when it would pass `width`, unless the line holds only
// the indent (wrapping would not help then).
void extend_line(std::string& s, std::string& line, const std::string& word, std::size_t width,
                 const std::string& next_line_prefix) {
  bool needs_wrap = line.size() + word.size() > width;
  if (line.size() <= next_line_prefix.size()) needs_wrap = false;
  if (needs_wrap) {
    const auto end = line.find_last_not_of(' ');
    s += line.substr(0, end == std::string::npos ? 0 : end + 1) + "\n";
    line = next_line_prefix;
  }
  line += word;
}

// numpy's _formatArray for two dimensions, separator " ", no prefix (what str(array) uses).
template <typename Format>
std::string format_2d(std::size_t n_rows, std::size_t n_cols, bool summarize, const Format& element) {
  const Shown rows = shown_indices(n_rows, summarize);
  const Shown cols = shown_indices(n_cols, summarize);
  const std::string outer_indent = " ";
  const std::string row_indent = "  ";
  // The outer level leaves one column for its "]", each row one more for its own "]".
  const std::size_t row_width = kLineWidth - 1;
  const std::size_t elem_width = row_width - 1;

  auto format_row = [&](std::size_t r) {
    std::string s;
    std::string line = row_indent;
    const std::vector<std::size_t> shown = all_of(cols);
    for (std::size_t k = 0; k < shown.size(); ++k) {
      if (cols.summary && k == cols.leading.size()) {
        extend_line(s, line, "...", elem_width, row_indent);
        line += " ";
      }
      extend_line(s, line, element(r, shown[k]), elem_width, row_indent);
      if (k + 1 < shown.size()) line += " ";
    }
    s += line;
    return "[" + s.substr(row_indent.size()) + "]";
  };

  std::string s;
  const std::vector<std::size_t> shown = all_of(rows);
  for (std::size_t k = 0; k < shown.size(); ++k) {
    if (rows.summary && k == rows.leading.size()) s += outer_indent + "...\n";
    s += outer_indent + format_row(shown[k]);
    if (k + 1 < shown.size()) s += "\n";
  }
  return "[" + s.substr(outer_indent.size()) + "]";
}

template <typename T>
std::vector<T> shown_values(const arma::Mat<T>& matrix, bool summarize) {
  std::vector<T> out;
  for (std::size_t r : all_of(shown_indices(matrix.n_rows, summarize)))
    for (std::size_t c : all_of(shown_indices(matrix.n_cols, summarize))) out.push_back(matrix(r, c));
  return out;
}

template <typename T, typename Format>
std::string python_list_2d(const arma::Mat<T>& matrix, const Format& element) {
  std::string out = "[";
  for (arma::uword r = 0; r < matrix.n_rows; ++r) {
    if (r > 0) out += ", ";
    out += "[";
    for (arma::uword c = 0; c < matrix.n_cols; ++c) {
      if (c > 0) out += ", ";
      out += element(matrix(r, c));
    }
    out += "]";
  }
  return out + "]";
}

}  // namespace

std::string python_str(double value) { return mlflow::python_float_repr(value); }

std::string python_str(const arma::mat& matrix) {
  return python_list_2d(matrix, [](double v) { return python_str(v); });
}

std::string python_str(const arma::imat& matrix) {
  return python_list_2d(matrix, [](long long v) { return std::to_string(v); });
}

std::string numpy_str(const arma::mat& matrix) {
  if (matrix.n_elem == 0) return "[]";
  const bool summarize = matrix.n_elem > kThreshold;
  const FloatFormat format(shown_values(matrix, summarize));
  return format_2d(matrix.n_rows, matrix.n_cols, summarize,
                   [&](std::size_t r, std::size_t c) { return format(matrix(r, c)); });
}

std::string numpy_str(const arma::imat& matrix) {
  if (matrix.n_elem == 0) return "[]";
  const bool summarize = matrix.n_elem > kThreshold;
  // numpy's IntegerFormat: right-aligned to the longer of the largest and the smallest value shown.
  const std::vector<long long> shown = shown_values(matrix, summarize);
  const auto [min_it, max_it] = std::minmax_element(shown.begin(), shown.end());
  const std::size_t width = std::max(std::to_string(*min_it).size(), std::to_string(*max_it).size());
  return format_2d(matrix.n_rows, matrix.n_cols, summarize,
                   [&](std::size_t r, std::size_t c) { return pad_left(std::to_string(matrix(r, c)), width); });
}

}  // namespace mlflow::experiments
