#pragma once

#include "heed/nn/module.h"

namespace heed::nn {

struct LinearConfig {
  int64_t in = 0, out = 0;
  bool bias = true;
};

// y = x W^T + b; parameters "weight" (out, in) and "bias" (out), as torch.nn.Linear.
class Linear : public Module {
 public:
  Linear(const LinearConfig& cfg, Generator& init_gen);
  virtual Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const LinearConfig& config() const { return cfg_; }

 private:
  LinearConfig cfg_;
  Tensor weight_, bias_;
};

}  // namespace heed::nn
