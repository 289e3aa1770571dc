#include "mlflow/entities.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "mlflow/error.hpp"

namespace mlflow {
namespace {

constexpr std::array<std::pair<RunStatus, std::string_view>, 5> kRunStatuses{{
    {RunStatus::RUNNING, "RUNNING"},
    {RunStatus::SCHEDULED, "SCHEDULED"},
    {RunStatus::FINISHED, "FINISHED"},
    {RunStatus::FAILED, "FAILED"},
    {RunStatus::KILLED, "KILLED"},
}};

constexpr std::array<std::pair<ViewType, std::string_view>, 3> kViewTypes{{
    {ViewType::ACTIVE_ONLY, "ACTIVE_ONLY"},
    {ViewType::DELETED_ONLY, "DELETED_ONLY"},
    {ViewType::ALL, "ALL"},
}};

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

template <typename Entity>
const Entity* find_by_key(const std::vector<Entity>& items, std::string_view key) {
  const auto it = std::find_if(items.begin(), items.end(), [&](const Entity& e) { return e.key == key; });
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

std::string_view to_string(RunStatus status) {
  for (const auto& [value, name] : kRunStatuses) {
    if (value == status) return name;
  }
  return "UNKNOWN";
}

RunStatus run_status_from_string(std::string_view name) {
  for (const auto& [value, text] : kRunStatuses) {
    // The wire also carries the proto enum number ("3"), which the server accepts.
    if (text == name || std::to_string(static_cast<int>(value)) == name) return value;
  }
  throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                    "Invalid run status '" + std::string(name) +
                        "'. Use one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED (or their numbers 1 to 5).");
}

bool is_terminated(RunStatus status) {
  return status == RunStatus::FINISHED || status == RunStatus::FAILED || status == RunStatus::KILLED;
}

std::string_view to_string(ViewType view_type) {
  for (const auto& [value, name] : kViewTypes) {
    if (value == view_type) return name;
  }
  return "UNKNOWN";
}

ViewType view_type_from_string(std::string_view name) {
  for (const auto& [value, text] : kViewTypes) {
    if (equals_ignore_case(text, name) || std::to_string(static_cast<int>(value)) == name) return value;
  }
  throw MlflowError(ErrorCode::INVALID_PARAMETER_VALUE,
                    "Invalid view type '" + std::string(name) +
                        "'. Use one of ACTIVE_ONLY, DELETED_ONLY, ALL (or their numbers 1 to 3).");
}

const Metric* RunData::metric(std::string_view key) const { return find_by_key(metrics, key); }
const Param* RunData::param(std::string_view key) const { return find_by_key(params, key); }
const RunTag* RunData::tag(std::string_view key) const { return find_by_key(tags, key); }

}  // namespace mlflow
