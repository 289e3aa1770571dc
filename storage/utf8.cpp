#include "storage/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

namespace mlflow::detail {
namespace {

struct CodePointRange {
  char32_t lo;
  char32_t hi;
};

constexpr CodePointRange kNonAsciiWordRanges[] = {
#include "storage/unicode_word_table.inc"
};

void append_hex_byte(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xF];
}

}  // namespace

std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return std::nullopt;
  }
  if (i + len > s.size()) {
    ++i;
    return std::nullopt;
  }
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return std::nullopt;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return std::nullopt;
  }
  i += len;
  return cp;
}

std::optional<std::size_t> first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t at = i;
    if (!next_code_point(s, i)) return at;
  }
  return std::nullopt;
}

bool is_word_code_point(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  }
  const auto* end = std::end(kNonAsciiWordRanges);
  const auto* it = std::upper_bound(std::begin(kNonAsciiWordRanges), end, cp,
                                    [](char32_t value, const CodePointRange& r) { return value < r.lo; });
  if (it == std::begin(kNonAsciiWordRanges)) return false;
  --it;
  return cp >= it->lo && cp <= it->hi;
}

std::string display_text(std::string_view s, std::size_t max_code_points) {
  std::string out;
  std::size_t i = 0;
  std::size_t count = 0;
  while (i < s.size()) {
    if (count == max_code_points) {
      out += "...";
      break;
    }
    const std::size_t start = i;
    const auto cp = next_code_point(s, i);
    if (!cp || *cp < 0x20 || *cp == 0x7F) {
      for (std::size_t k = start; k < i; ++k) append_hex_byte(out, static_cast<unsigned char>(s[k]));
    } else {
      out.append(s.substr(start, i - start));
    }
    ++count;
  }
  return out;
}

}  // namespace mlflow::detail
