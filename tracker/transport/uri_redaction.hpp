#pragma once
// Tracking URIs as they may be shown to a person: in error messages, CLI output and reports. A URI may carry
// "user:password@"; these functions keep the password out of everything that is printed.

#include <string>
#include <string_view>

namespace mlflow::transport {

/// For a URI that may not even parse (error messages about it): everything before the last '@' becomes "***",
/// except a well-formed "scheme://" (a user name may itself hold an unencoded '@', as in
/// "alice@corp:secret@host"). "http://u:p@h:5000/x" -> "http://***@h:5000/x". Unchanged without '@'.
std::string mask_userinfo(std::string_view uri);

/// For showing a URI the user gave: only the password of its userinfo becomes "***", the user name, host, port
/// and path stay as given. "http://user:secret@host:5000" -> "http://user:***@host:5000"; a URI without a
/// password (no userinfo, "user@host", "sqlite:///a@b.db") is returned unchanged. A URI that does not parse
/// but holds '@' is masked conservatively from the first ':' of what may be its userinfo up to the last '@'.
/// Idempotent.
std::string redact_password(std::string_view uri);

}  // namespace mlflow::transport
