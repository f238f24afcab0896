#include "heed/train/data_source.h"

#include <vector>

namespace heed::train {

const Tensor& Batch::at(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end()) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : tensors) keys.push_back(k);
    HEED_FAIL("batch has no tensor '{}' (it has: {})", name, fmt::join(keys, ", "));
  }
  return it->second;
}

int64_t Batch::batch_size() const {
  HEED_CHECK(!tensors.empty(), "batch_size: the batch is empty");
  return tensors.begin()->second.size(0);
}

}  // namespace heed::train
