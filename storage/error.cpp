#include "mlflow/error.hpp"

#include <array>
#include <utility>

namespace mlflow {
namespace {

struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  int http_status;
};

// HTTP statuses from MLflow's ERROR_CODE_TO_HTTP_STATUS (protocol.md §1.4). Codes MLflow leaves out of that
// table (IO_ERROR, MALFORMED_REQUEST) get its fallback, 500.
constexpr std::array<CodeInfo, 18> kCodes{{
    {ErrorCode::INTERNAL_ERROR, "INTERNAL_ERROR", 500},
    {ErrorCode::TEMPORARILY_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE", 503},
    {ErrorCode::IO_ERROR, "IO_ERROR", 500},
    {ErrorCode::BAD_REQUEST, "BAD_REQUEST", 400},
    {ErrorCode::INVALID_PARAMETER_VALUE, "INVALID_PARAMETER_VALUE", 400},
    {ErrorCode::ENDPOINT_NOT_FOUND, "ENDPOINT_NOT_FOUND", 404},
    {ErrorCode::MALFORMED_REQUEST, "MALFORMED_REQUEST", 500},
    {ErrorCode::INVALID_STATE, "INVALID_STATE", 500},
    {ErrorCode::PERMISSION_DENIED, "PERMISSION_DENIED", 403},
    {ErrorCode::UNAUTHENTICATED, "UNAUTHENTICATED", 401},
    {ErrorCode::RESOURCE_ALREADY_EXISTS, "RESOURCE_ALREADY_EXISTS", 400},
    {ErrorCode::RESOURCE_DOES_NOT_EXIST, "RESOURCE_DOES_NOT_EXIST", 404},
    {ErrorCode::RESOURCE_CONFLICT, "RESOURCE_CONFLICT", 409},
    {ErrorCode::REQUEST_LIMIT_EXCEEDED, "REQUEST_LIMIT_EXCEEDED", 429},
    {ErrorCode::NOT_FOUND, "NOT_FOUND", 404},
    {ErrorCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED", 501},
    {ErrorCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 504},
    {ErrorCode::UNKNOWN, "UNKNOWN", 500},
}};

const CodeInfo& info_for(ErrorCode code) {
  for (const CodeInfo& info : kCodes) {
    if (info.code == code) return info;
  }
  return kCodes.back();
}

std::string compose_what(std::string_view code_name, const std::string& message) {
  std::string out;
  out.reserve(code_name.size() + 2 + message.size());
  out.append(code_name).append(": ").append(message);
  return out;
}

}  // namespace

std::string_view to_string(ErrorCode code) { return info_for(code).name; }

ErrorCode error_code_from_string(std::string_view name) {
  for (const CodeInfo& info : kCodes) {
    if (info.name == name) return info.code;
  }
  return ErrorCode::UNKNOWN;
}

int http_status_for(ErrorCode code) { return info_for(code).http_status; }

MlflowError::MlflowError(ErrorCode code, const std::string& message, std::optional<int> http_status)
    : std::runtime_error(compose_what(to_string(code), message)),
      code_(code),
      code_name_(to_string(code)),
      message_(message),
      http_status_(http_status) {}

MlflowError::MlflowError(std::string error_code_name, const std::string& message, std::optional<int> http_status)
    : std::runtime_error(compose_what(error_code_name, message)),
      code_(error_code_from_string(error_code_name)),
      code_name_(std::move(error_code_name)),
      message_(message),
      http_status_(http_status) {}

}  // namespace mlflow
