// Tracking-URI parsing: the store registry's choice (sqlite:// vs http(s)://), the SQLite store's path rule,
// the transport's base-URI parser and the artifact-location helpers. Any text must give a value or an
// MlflowError, a parsed http(s) URI must parse again from its display form to the same parts, and no error
// message may repeat the password of "user:password@".

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
    // The message shows the URI with its credentials masked.
    const auto at = uri.rfind('@');
    const auto colon = uri.find(':', uri.find("://") == std::string::npos ? 0 : uri.find("://") + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      const std::string password = uri.substr(colon + 1, at - colon - 1);
      if (password.size() >= 8 && password.find_first_of(":/@?#[]") == std::string::npos) {
        check(std::string_view(e.what()).find(password) == std::string_view::npos,
              "an error message shows the password of the URI");
      }
    }
  } catch (const std::exception& e) {
    mlflow::fuzz::finding(std::string("parse_base_uri threw a non-MlflowError exception: ") + e.what());
  }
  if (ok) {
    check(!parsed.host.empty() && parsed.port != 0, "parse_base_uri accepted a URI without host or port");
    check(parsed.path_prefix.empty() || (parsed.path_prefix.front() == '/' && parsed.path_prefix.back() != '/'),
          "path_prefix is neither empty nor '/x' without a trailing slash");
    const std::string shown = parsed.display();
    if (!parsed.userinfo_password.empty() && parsed.userinfo_password.size() >= 8) {
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
