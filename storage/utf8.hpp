#pragma once
// UTF-8 helpers shared by validation and search. Internal to mlflow::storage; pure and thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mlflow::detail {

/// Decodes the code point starting at s[i] and advances i past it. Strict UTF-8 (no overlong forms, no
/// surrogates, nothing above U+10FFFF): on an invalid sequence returns nullopt and advances i by one byte.
std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i);

/// Byte offset of the first invalid UTF-8 sequence, or nullopt when s is valid UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view s);

/// True when Python's Unicode `\w` matches the code point (letters, digits and `_` of any script).
bool is_word_code_point(char32_t cp);

/// A short, printable rendering of s for error messages: at most max_code_points code points (then "..."),
/// control characters and invalid bytes written as \xNN.
std::string display_text(std::string_view s, std::size_t max_code_points = 120);

}  // namespace mlflow::detail
