// The Trainer's view of data: an endless, resumable stream of batches of named tensors.
// state() describes the position after the last batch handed out (including any RNG),
// so restore(state()) on a fresh source continues with exactly the batches that would
// have come next.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "heed/tensor/tensor.h"

namespace heed::train {

struct Batch {
  std::map<std::string, Tensor> tensors;  // e.g. input_ids (B, T) i64, labels (B) i64
  int64_t num_tokens = 0;                 // non-padding tokens, for tokens/s (0 = unknown)
  // Errors name the missing key and the keys present.
  const Tensor& at(const std::string& name) const;
  int64_t batch_size() const;  // size(0) of the first tensor
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual Batch next_batch() = 0;
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;
};

}  // namespace heed::train
