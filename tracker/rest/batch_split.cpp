#include "tracker/rest/batch_split.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace mlflow::rest {

std::vector<BatchChunk> split_log_batch(const std::vector<Metric>& metrics, const std::vector<Param>& params,
                                        const std::vector<RunTag>& tags) {
  // Param slices: at most 100, and never two params with the same key.
  std::vector<std::pair<std::size_t, std::size_t>> param_slices;
  {
    std::size_t begin = 0;
    std::unordered_set<std::string_view> keys;
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i - begin == MAX_PARAMS_TAGS_PER_BATCH || keys.count(params[i].key) != 0) {
        param_slices.emplace_back(begin, i);
        begin = i;
        keys.clear();
      }
      keys.insert(params[i].key);
    }
    if (begin < params.size()) param_slices.emplace_back(begin, params.size());
  }
  std::vector<std::pair<std::size_t, std::size_t>> tag_slices;
  for (std::size_t b = 0; b < tags.size(); b += MAX_PARAMS_TAGS_PER_BATCH) {
    tag_slices.emplace_back(b, std::min(tags.size(), b + MAX_PARAMS_TAGS_PER_BATCH));
  }

  std::vector<BatchChunk> chunks;
  std::size_t next_metric = 0;
  const std::size_t paired = std::max(param_slices.size(), tag_slices.size());
  for (std::size_t i = 0; i < paired; ++i) {
    BatchChunk c;
    if (i < param_slices.size()) std::tie(c.params_begin, c.params_end) = param_slices[i];
    if (i < tag_slices.size()) std::tie(c.tags_begin, c.tags_end) = tag_slices[i];
    const std::size_t used = (c.params_end - c.params_begin) + (c.tags_end - c.tags_begin);
    const std::size_t room = std::min(MAX_ENTITIES_PER_BATCH - used, MAX_METRICS_PER_BATCH);
    c.metrics_begin = next_metric;
    c.metrics_end = std::min(metrics.size(), next_metric + room);
    next_metric = c.metrics_end;
    chunks.push_back(c);
  }
  while (next_metric < metrics.size()) {
    BatchChunk c;
    c.metrics_begin = next_metric;
    c.metrics_end = std::min(metrics.size(), next_metric + MAX_METRICS_PER_BATCH);
    next_metric = c.metrics_end;
    chunks.push_back(c);
  }
  return chunks;
}

}  // namespace mlflow::rest
