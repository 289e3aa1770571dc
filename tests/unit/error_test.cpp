#include "mlflow/error.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using mlflow::ErrorCode;

// MLflow's ERROR_CODE_TO_HTTP_STATUS (protocol.md §1.4); codes outside that table fall back to 500.
const std::vector<std::pair<ErrorCode, int>> kExpectedStatus = {
    {ErrorCode::INTERNAL_ERROR, 500},         {ErrorCode::TEMPORARILY_UNAVAILABLE, 503},
    {ErrorCode::IO_ERROR, 500},               {ErrorCode::BAD_REQUEST, 400},
    {ErrorCode::INVALID_PARAMETER_VALUE, 400}, {ErrorCode::ENDPOINT_NOT_FOUND, 404},
    {ErrorCode::MALFORMED_REQUEST, 500},      {ErrorCode::INVALID_STATE, 500},
    {ErrorCode::PERMISSION_DENIED, 403},      {ErrorCode::UNAUTHENTICATED, 401},
    {ErrorCode::RESOURCE_ALREADY_EXISTS, 400}, {ErrorCode::RESOURCE_DOES_NOT_EXIST, 404},
    {ErrorCode::RESOURCE_CONFLICT, 409},      {ErrorCode::REQUEST_LIMIT_EXCEEDED, 429},
    {ErrorCode::NOT_FOUND, 404},              {ErrorCode::NOT_IMPLEMENTED, 501},
    {ErrorCode::DEADLINE_EXCEEDED, 504},      {ErrorCode::UNKNOWN, 500},
};

TEST(Error, NamesAreMlflowSpellings) {
  EXPECT_EQ(mlflow::to_string(ErrorCode::INVALID_PARAMETER_VALUE), "INVALID_PARAMETER_VALUE");
  EXPECT_EQ(mlflow::to_string(ErrorCode::RESOURCE_DOES_NOT_EXIST), "RESOURCE_DOES_NOT_EXIST");
  EXPECT_EQ(mlflow::to_string(ErrorCode::RESOURCE_ALREADY_EXISTS), "RESOURCE_ALREADY_EXISTS");
  EXPECT_EQ(mlflow::to_string(ErrorCode::TEMPORARILY_UNAVAILABLE), "TEMPORARILY_UNAVAILABLE");
  EXPECT_EQ(mlflow::to_string(ErrorCode::INVALID_STATE), "INVALID_STATE");
  EXPECT_EQ(mlflow::to_string(ErrorCode::BAD_REQUEST), "BAD_REQUEST");
  EXPECT_EQ(mlflow::to_string(ErrorCode::UNKNOWN), "UNKNOWN");
}

TEST(Error, EveryNameRoundTrips) {
  for (const auto& [code, status] : kExpectedStatus) {
    EXPECT_EQ(mlflow::error_code_from_string(mlflow::to_string(code)), code) << mlflow::to_string(code);
  }
}

TEST(Error, UnknownNamesMapToUnknown) {
  EXPECT_EQ(mlflow::error_code_from_string("ABORTED"), ErrorCode::UNKNOWN);
  EXPECT_EQ(mlflow::error_code_from_string(""), ErrorCode::UNKNOWN);
  EXPECT_EQ(mlflow::error_code_from_string("invalid_parameter_value"), ErrorCode::UNKNOWN);
}

TEST(Error, HttpStatusFollowsMlflowTable) {
  for (const auto& [code, status] : kExpectedStatus) {
    EXPECT_EQ(mlflow::http_status_for(code), status) << mlflow::to_string(code);
  }
}

TEST(Error, ResourceAlreadyExistsIs400Not409) {
  EXPECT_EQ(mlflow::http_status_for(ErrorCode::RESOURCE_ALREADY_EXISTS), 400);
}

TEST(Error, WhatIsCodeColonMessage) {
  const mlflow::MlflowError error(ErrorCode::RESOURCE_DOES_NOT_EXIST, "Run with id=abc not found");
  EXPECT_STREQ(error.what(), "RESOURCE_DOES_NOT_EXIST: Run with id=abc not found");
  EXPECT_EQ(error.message(), "Run with id=abc not found");
  EXPECT_EQ(error.error_code(), ErrorCode::RESOURCE_DOES_NOT_EXIST);
  EXPECT_EQ(error.error_code_name(), "RESOURCE_DOES_NOT_EXIST");
  EXPECT_FALSE(error.http_status().has_value());
}

TEST(Error, CarriesHttpStatusWhenGiven) {
  const mlflow::MlflowError error(ErrorCode::INVALID_STATE, "Cannot rename a non-active experiment.", 500);
  ASSERT_TRUE(error.http_status().has_value());
  EXPECT_EQ(*error.http_status(), 500);
}

TEST(Error, KeepsUnknownServerCodeName) {
  const mlflow::MlflowError error(std::string("CUSTOMER_UNAUTHORIZED"), "no access", 401);
  EXPECT_EQ(error.error_code(), ErrorCode::UNKNOWN);
  EXPECT_EQ(error.error_code_name(), "CUSTOMER_UNAUTHORIZED");
  EXPECT_STREQ(error.what(), "CUSTOMER_UNAUTHORIZED: no access");
  EXPECT_EQ(error.http_status(), 401);
}

TEST(Error, KnownServerCodeNameMapsToEnum) {
  const mlflow::MlflowError error(std::string("RESOURCE_DOES_NOT_EXIST"), "gone", 404);
  EXPECT_EQ(error.error_code(), ErrorCode::RESOURCE_DOES_NOT_EXIST);
}

TEST(Error, IsARuntimeError) {
  try {
    throw mlflow::MlflowError(ErrorCode::BAD_REQUEST, "boom");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "BAD_REQUEST: boom");
    return;
  }
  FAIL() << "not caught as std::runtime_error";
}

}  // namespace
