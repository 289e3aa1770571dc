#pragma once
// Shared by the libFuzzer targets: what counts as a clean failure, and how a finding is reported.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "mlflow/error.hpp"

namespace mlflow::fuzz {

/// Stops the fuzzer with a message: libFuzzer saves the input that got here as a crash.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) finding(what);
}

/// Runs f; an MlflowError (the documented way every call reports bad input) is a clean outcome, any other
/// exception escaping is a finding. Returns whether f completed.
template <class F>
bool clean(const char* what, F&& f) {
  try {
    f();
    return true;
  } catch (const MlflowError&) {
    return false;
  } catch (const std::exception& e) {
    finding(std::string(what) + " threw a non-MlflowError exception: " + e.what());
  }
}

}  // namespace mlflow::fuzz
