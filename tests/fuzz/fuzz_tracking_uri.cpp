// Tracking-URI parsing: the store registry's choice (sqlite:// vs http(s)://), the SQLite store's path rule,
// the transport's base-URI parser and the artifact-location helpers. Any text must give a value or an
// MlflowError, a parsed http(s) URI must parse again from its display form to the same parts, and no error
// message may repeat the password of "user:password@".

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/sqlite/uri_utils.hpp"
#include "tracker/transport/http_client.hpp"

using namespace mlflow;
using mlflow::fuzz::check;
using mlflow::fuzz::clean;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string uri(reinterpret_cast<const char*>(data), size);

  if (sqlite::SqliteStore::handles(uri)) {
    clean("SqliteStore::path_from_uri", [&] {
      const std::string path = sqlite::SqliteStore::path_from_uri(uri);
      check(!path.empty(), "path_from_uri returned an empty path");
    });
  } else {
    check(!clean("SqliteStore::path_from_uri", [&] { sqlite::SqliteStore::path_from_uri(uri); }),
          "path_from_uri accepted a URI that handles() refuses");
  }

  transport::BaseUri parsed;
  bool ok = false;
  try {
    parsed = transport::parse_base_uri(uri);
    ok = true;
  } catch (const MlflowError& e) {
    // The message quotes the URI with everything before the last '@' masked but a well-formed scheme.
    const std::string& message = e.message();  // what() would stop at a NUL byte of the URI
    const auto at = uri.rfind('@');
    const auto quote_begin = message.find("URI '");
    const auto quote_end = message.rfind("': ");
    check(quote_begin != std::string::npos && quote_end != std::string::npos && quote_end > quote_begin,
          "the message does not quote the URI");
    const std::string quoted = message.substr(quote_begin + 5, quote_end - quote_begin - 5);
    if (at == std::string::npos) {
      check(quoted == uri, "a URI without credentials is not quoted as given");
    } else {
      std::string expected = "***" + uri.substr(at);
      const auto scheme_end = uri.find("://");
      if (scheme_end < at) {
        bool scheme_ok = true;
        for (std::size_t i = 0; i < scheme_end; ++i) {
          const unsigned char c = static_cast<unsigned char>(uri[i]);
          scheme_ok = scheme_ok && (std::isalnum(c) || c == '+' || c == '-' || c == '.');
        }
        if (scheme_ok) expected = uri.substr(0, scheme_end + 3) + expected;
      }
      check(quoted == expected, "the credentials of a URI are not masked in the message: '" + quoted + "'");
    }
  } catch (const std::exception& e) {
    mlflow::fuzz::finding(std::string("parse_base_uri threw a non-MlflowError exception: ") + e.what());
  }
  if (ok) {
    check(!parsed.host.empty() && parsed.port != 0, "parse_base_uri accepted a URI without host or port");
    check(parsed.path_prefix.empty() || (parsed.path_prefix.front() == '/' && parsed.path_prefix.back() != '/'),
          "path_prefix is neither empty nor '/x' without a trailing slash");
    const std::string shown = parsed.display();
    const std::string& pw = parsed.userinfo_password;
    // (Unless the same text is also in the host or path, which are shown on purpose.)
    if (pw.size() >= 4 && uri.find(pw) != std::string::npos && uri.find(pw, uri.find(pw) + 1) == std::string::npos) {
      check(shown.find(parsed.userinfo_password) == std::string::npos, "display() shows the password");
    }
    transport::BaseUri again;
    check(clean("parse_base_uri(display())", [&] { again = transport::parse_base_uri(shown); }),
          "display() of a parsed URI does not parse: '" + shown + "'");
    check(again.tls == parsed.tls && again.host == parsed.host && again.port == parsed.port &&
              again.path_prefix == parsed.path_prefix,
          "display() of a parsed URI parses to other parts: '" + shown + "'");
    parsed.host_port();
  }

  const std::string scheme = sqlite::uri_scheme(uri);
  for (char c : scheme) check(!(c >= 'A' && c <= 'Z'), "uri_scheme is not lower-case");
  clean("resolve_uri_if_local", [&] { sqlite::resolve_uri_if_local(uri); });
  clean("append_to_uri_path", [&] { sqlite::append_to_uri_path(uri, {"1", "abc", "artifacts"}); });
  return 0;
}
