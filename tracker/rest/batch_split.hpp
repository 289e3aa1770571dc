#pragma once
// Splitting one log_batch of any size into requests the server accepts.

#include <cstddef>
#include <vector>

#include "mlflow/entities.hpp"

namespace mlflow::rest {

/// Server limits of one runs/log-batch request (MLflow's _validate_batch_log_limits).
inline constexpr std::size_t MAX_METRICS_PER_BATCH = 1000;
inline constexpr std::size_t MAX_PARAMS_TAGS_PER_BATCH = 100;
inline constexpr std::size_t MAX_ENTITIES_PER_BATCH = 1000;

/// Half-open index ranges into the caller's metrics, params and tags. A value type.
struct BatchChunk {
  std::size_t metrics_begin = 0, metrics_end = 0;
  std::size_t params_begin = 0, params_end = 0;
  std::size_t tags_begin = 0, tags_end = 0;
};

/// Chunks in sending order, as MLflow's client chunks: params and tags in slices of at most 100, each paired with
/// as many leading metrics as fit under 1000 items, then the remaining metrics in slices of 1000. A param slice also
/// ends before a key it already holds, so a duplicated key goes to a later request (the server refuses duplicates
/// within one request; across requests an equal value is accepted and a different one is refused, as it should be).
/// Empty input gives no chunks.
std::vector<BatchChunk> split_log_batch(const std::vector<Metric>& metrics, const std::vector<Param>& params,
                                        const std::vector<RunTag>& tags);

}  // namespace mlflow::rest
