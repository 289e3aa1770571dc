#include "mlflow/entities.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mlflow/error.hpp"

namespace {

using mlflow::RunStatus;
using mlflow::ViewType;

template <typename F>
void expect_invalid_parameter(F&& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected MlflowError";
  } catch (const mlflow::MlflowError& e) {
    EXPECT_EQ(e.error_code(), mlflow::ErrorCode::INVALID_PARAMETER_VALUE);
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
  }
}

TEST(Entities, RunStatusNames) {
  EXPECT_EQ(mlflow::to_string(RunStatus::RUNNING), "RUNNING");
  EXPECT_EQ(mlflow::to_string(RunStatus::SCHEDULED), "SCHEDULED");
  EXPECT_EQ(mlflow::to_string(RunStatus::FINISHED), "FINISHED");
  EXPECT_EQ(mlflow::to_string(RunStatus::FAILED), "FAILED");
  EXPECT_EQ(mlflow::to_string(RunStatus::KILLED), "KILLED");
}

TEST(Entities, RunStatusParsesNamesAndProtoNumbers) {
  for (RunStatus s : {RunStatus::RUNNING, RunStatus::SCHEDULED, RunStatus::FINISHED, RunStatus::FAILED,
                      RunStatus::KILLED}) {
    EXPECT_EQ(mlflow::run_status_from_string(mlflow::to_string(s)), s);
    EXPECT_EQ(mlflow::run_status_from_string(std::to_string(static_cast<int>(s))), s);
  }
  EXPECT_EQ(mlflow::run_status_from_string("4"), RunStatus::FAILED);
}

TEST(Entities, RunStatusRejectsOtherText) {
  expect_invalid_parameter([] { mlflow::run_status_from_string("DONE"); }, "DONE");
  expect_invalid_parameter([] { mlflow::run_status_from_string("finished"); }, "finished");
  expect_invalid_parameter([] { mlflow::run_status_from_string(""); }, "RUNNING");
  expect_invalid_parameter([] { mlflow::run_status_from_string("6"); }, "6");
}

TEST(Entities, TerminatedStatuses) {
  EXPECT_FALSE(mlflow::is_terminated(RunStatus::RUNNING));
  EXPECT_FALSE(mlflow::is_terminated(RunStatus::SCHEDULED));
  EXPECT_TRUE(mlflow::is_terminated(RunStatus::FINISHED));
  EXPECT_TRUE(mlflow::is_terminated(RunStatus::FAILED));
  EXPECT_TRUE(mlflow::is_terminated(RunStatus::KILLED));
}

TEST(Entities, ViewTypeNames) {
  EXPECT_EQ(mlflow::to_string(ViewType::ACTIVE_ONLY), "ACTIVE_ONLY");
  EXPECT_EQ(mlflow::to_string(ViewType::DELETED_ONLY), "DELETED_ONLY");
  EXPECT_EQ(mlflow::to_string(ViewType::ALL), "ALL");
}

TEST(Entities, ViewTypeParsesNamesAnyCaseAndNumbers) {
  EXPECT_EQ(mlflow::view_type_from_string("ACTIVE_ONLY"), ViewType::ACTIVE_ONLY);
  EXPECT_EQ(mlflow::view_type_from_string("deleted_only"), ViewType::DELETED_ONLY);
  EXPECT_EQ(mlflow::view_type_from_string("All"), ViewType::ALL);
  EXPECT_EQ(mlflow::view_type_from_string("1"), ViewType::ACTIVE_ONLY);
  EXPECT_EQ(mlflow::view_type_from_string("2"), ViewType::DELETED_ONLY);
  EXPECT_EQ(mlflow::view_type_from_string("3"), ViewType::ALL);
}

TEST(Entities, ViewTypeRejectsOtherText) {
  expect_invalid_parameter([] { mlflow::view_type_from_string("ACTIVE"); }, "ACTIVE");
  expect_invalid_parameter([] { mlflow::view_type_from_string("4"); }, "4");
}

TEST(Entities, RunDataLookups) {
  mlflow::RunData data;
  data.metrics = {{"loss", 0.5, 10, 1}, {"acc", 0.9, 11, 2}};
  data.params = {{"lr", "0.01"}};
  data.tags = {{"mlflow.runName", "r1"}};

  ASSERT_NE(data.metric("acc"), nullptr);
  EXPECT_DOUBLE_EQ(data.metric("acc")->value, 0.9);
  EXPECT_EQ(data.metric("acc")->step, 2);
  EXPECT_EQ(data.metric("missing"), nullptr);
  EXPECT_EQ(data.metric("Loss"), nullptr);  // keys are case-sensitive

  ASSERT_NE(data.param("lr"), nullptr);
  EXPECT_EQ(data.param("lr")->value, "0.01");
  EXPECT_EQ(data.param("loss"), nullptr);

  ASSERT_NE(data.tag("mlflow.runName"), nullptr);
  EXPECT_EQ(data.tag("mlflow.runName")->value, "r1");
  EXPECT_EQ(data.tag("lr"), nullptr);
}

TEST(Entities, LookupsOnEmptyData) {
  const mlflow::RunData data;
  EXPECT_EQ(data.metric(""), nullptr);
  EXPECT_EQ(data.param(""), nullptr);
  EXPECT_EQ(data.tag(""), nullptr);
}

TEST(Entities, Defaults) {
  const mlflow::RunInfo info;
  EXPECT_EQ(info.status, RunStatus::RUNNING);
  EXPECT_EQ(info.lifecycle_stage, "active");
  EXPECT_FALSE(info.end_time.has_value());
  const mlflow::Experiment experiment;
  EXPECT_EQ(experiment.lifecycle_stage, "active");
}

TEST(Entities, ValueEquality) {
  EXPECT_EQ((mlflow::Metric{"m", 1.5, 2, 3}), (mlflow::Metric{"m", 1.5, 2, 3}));
  EXPECT_NE((mlflow::Metric{"m", 1.5, 2, 3}), (mlflow::Metric{"m", 1.5, 2, 4}));
  EXPECT_EQ((mlflow::Param{"k", "v"}), (mlflow::Param{"k", "v"}));
  EXPECT_NE((mlflow::RunTag{"k", "v"}), (mlflow::RunTag{"k", "w"}));
}

}  // namespace
