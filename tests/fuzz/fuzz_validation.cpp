// Key and value validation (include/mlflow/validation.hpp): any bytes give a value or an MlflowError, and the
// results keep their promises (length limits in code points, truncation is a prefix).

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "mlflow/validation.hpp"

using namespace mlflow;
using mlflow::fuzz::check;
using mlflow::fuzz::clean;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // First byte: a length for the truncation checks; the rest is split at the first NUL into key and value.
  const std::size_t n = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto nul = rest.find('\0');
  const std::string_view key = rest.substr(0, nul);
  const std::string_view value = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);

  const std::size_t len = validation::utf8_length(rest);
  check(len <= rest.size(), "utf8_length is larger than the byte count");
  const std::string cut = validation::utf8_truncate(rest, n);
  check(rest.substr(0, cut.size()) == cut, "utf8_truncate is not a prefix");
  check(validation::utf8_length(cut) == std::min(n, len), "utf8_truncate kept the wrong number of code points");

  const bool metric_ok = clean("validate_metric_name", [&] { validation::validate_metric_name(key); });
  const bool param_ok = clean("validate_param_name", [&] { validation::validate_param_name(key); });
  const bool tag_ok = clean("validate_tag_name", [&] { validation::validate_tag_name(key); });
  check(metric_ok == param_ok && param_ok == tag_ok, "metric, param and tag names follow different rules");
  if (metric_ok) check(validation::utf8_length(key) <= validation::MAX_ENTITY_KEY_LENGTH, "over-long key accepted");

  clean("validate_param_value", [&] {
    const std::string v = validation::validate_param_value(key, value);
    check(validation::utf8_length(v) <= validation::MAX_PARAM_VAL_LENGTH, "param value over the limit kept");
    check(value.substr(0, v.size()) == v, "param value changed, not cut");
  });
  clean("validate_tag_value", [&] {
    const std::string v = validation::validate_tag_value(key, value);
    check(validation::utf8_length(v) <= validation::MAX_TAG_VAL_LENGTH, "tag value over the limit kept");
    check(value.substr(0, v.size()) == v, "tag value changed, not cut");
  });
  clean("validate_metric", [&] {
    validation::validate_metric(Metric{std::string(key), 1.0, static_cast<std::int64_t>(n) - 128, 0});
  });
  clean("validate_experiment_tag",
        [&] { validation::validate_experiment_tag(ExperimentTag{std::string(key), std::string(value)}); });
  clean("validate_experiment_name", [&] { validation::validate_experiment_name(key); });
  clean("validate_run_id", [&] { validation::validate_run_id(key); });
  clean("validate_experiment_id", [&] { validation::validate_experiment_id(key); });
  clean("validate_no_duplicate_param_keys", [&] {
    validation::validate_no_duplicate_param_keys({Param{std::string(key), "1"}, Param{std::string(value), "2"}});
  });
  return 0;
}
