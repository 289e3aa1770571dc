#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mlflow {

/// MLflow's error codes (databricks.proto ErrorCode) as used by the tracking server.
enum class ErrorCode {
  INTERNAL_ERROR,
  TEMPORARILY_UNAVAILABLE,
  IO_ERROR,
  BAD_REQUEST,
  INVALID_PARAMETER_VALUE,
  ENDPOINT_NOT_FOUND,
  MALFORMED_REQUEST,
  INVALID_STATE,
  PERMISSION_DENIED,
  UNAUTHENTICATED,
  RESOURCE_ALREADY_EXISTS,
  RESOURCE_DOES_NOT_EXIST,
  RESOURCE_CONFLICT,
  REQUEST_LIMIT_EXCEEDED,
  NOT_FOUND,
  NOT_IMPLEMENTED,
  DEADLINE_EXCEEDED,
  UNKNOWN,  ///< a code this client does not know; the original string is kept in error_code_name()
};

std::string_view to_string(ErrorCode code);
/// Unknown names map to ErrorCode::UNKNOWN.
ErrorCode error_code_from_string(std::string_view name);
/// The HTTP status MLflow's server uses for a code (ERROR_CODE_TO_HTTP_STATUS).
int http_status_for(ErrorCode code);

/// The exception every synchronous call throws. Immutable after construction; thread-safe to read.
class MlflowError : public std::runtime_error {
 public:
  MlflowError(ErrorCode code, const std::string& message, std::optional<int> http_status = std::nullopt);
  /// For codes received from a server that this client does not know.
  MlflowError(std::string error_code_name, const std::string& message, std::optional<int> http_status);

  ErrorCode error_code() const noexcept { return code_; }
  /// The code as MLflow spells it, e.g. "RESOURCE_DOES_NOT_EXIST".
  const std::string& error_code_name() const noexcept { return code_name_; }
  /// The HTTP status when the error came from (or mirrors) an HTTP answer.
  std::optional<int> http_status() const noexcept { return http_status_; }
  /// The message without the "CODE: " prefix that what() carries.
  const std::string& message() const noexcept { return message_; }

 private:
  ErrorCode code_;
  std::string code_name_;
  std::string message_;
  std::optional<int> http_status_;
};

}  // namespace mlflow
