#pragma once

#include "heed/nn/module.h"

namespace heed::nn {

// Parameters "weight" (ones) and "bias" (zeros), as torch.nn.LayerNorm / BERT's LayerNorm.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, float eps = 1e-12f);
  Tensor forward(const Tensor& x) const;

 private:
  float eps_;
  Tensor weight_, bias_;
};

}  // namespace heed::nn
