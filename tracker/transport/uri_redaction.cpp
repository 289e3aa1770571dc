#include "tracker/transport/uri_redaction.hpp"

#include <algorithm>
#include <cctype>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace mlflow::transport {

namespace {

// Where the userinfo may start: after "scheme://" when the text before "://" is a scheme and comes before the
// last '@'; else 0, so that text that only looks like a scheme is masked too.
std::size_t userinfo_begin(std::string_view uri, std::size_t at) {
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos || scheme_end > at) return 0;
  const auto scheme_char = [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; };
  if (!std::all_of(uri.begin(), uri.begin() + static_cast<std::ptrdiff_t>(scheme_end), scheme_char)) return 0;
  return scheme_end + 3;
}

}  // namespace

std::string mask_userinfo(std::string_view uri) {
  const auto at = uri.rfind('@');
  if (at == std::string_view::npos) return std::string(uri);
  const std::size_t begin = userinfo_begin(uri, at);
  return std::string(uri.substr(0, begin)) + "***" + std::string(uri.substr(at));
}

std::string redact_password(std::string_view uri) {
  const auto at = uri.rfind('@');
  if (at == std::string_view::npos) return std::string(uri);
  // The parser is trusted only where its reading is the one a person would make: an authority with at most one
  // '@', a numeric port and a path from '/' (Boost.URL reads "http://u:pa/ss@h" as host "u", port "" and path
  // "pa/ss@h"). Then an '@' in a path or query is left alone, and the password is cut exactly.
  if (auto parsed = boost::urls::parse_uri(uri); parsed && parsed->has_authority()) {
    const boost::urls::url_view& u = *parsed;
    const std::string_view port = u.port();
    const std::string_view path = u.encoded_path();
    const bool plain = std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) &&
                       (path.empty() || path.front() == '/');
    const std::string_view authority = u.encoded_authority();
    const auto ats = std::count(authority.begin(), authority.end(), '@');
    if (plain && ats == 0) return std::string(uri);
    if (plain && ats == 1) {
      const std::string_view password = u.encoded_password();
      if (!u.has_password() || password.empty()) return std::string(uri);
      const auto offset = static_cast<std::size_t>(password.data() - uri.data());
      if (offset <= uri.size() && password.size() <= uri.size() - offset) {
        return std::string(uri.substr(0, offset)) + "***" + std::string(uri.substr(offset + password.size()));
      }
    }
  }
  // Not a valid URI (an unencoded '@' or '/' in the user name or password, say): the password runs from the
  // first ':' of what may be the userinfo to the last '@'.
  const std::size_t begin = userinfo_begin(uri, at);
  const auto colon = uri.find(':', begin);
  if (colon == std::string_view::npos || colon > at) return std::string(uri);
  return std::string(uri.substr(0, colon + 1)) + "***" + std::string(uri.substr(at));
}

}  // namespace mlflow::transport
