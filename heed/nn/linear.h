#pragma once

#include <memory>

#include "heed/nn/hooks.h"
#include "heed/nn/module.h"

namespace heed::nn {

struct LinearConfig {
  int64_t in = 0, out = 0;
  bool bias = true;
};

// y = x W^T + b; parameters "weight" (out, in) and "bias" (out), as torch.nn.Linear.
// A LinearHook (heed/peft: LoRA, IA3) may replace forward(); forward_base() stays plain.
class Linear : public Module {
 public:
  Linear(const LinearConfig& cfg, Generator& init_gen);
  Tensor forward(const Tensor& x) const;       // (..., in) -> (..., out), through the hook
  Tensor forward_base(const Tensor& x) const;  // x W^T + b, ignoring any hook
  void set_hook(std::shared_ptr<const LinearHook> hook) { hook_ = std::move(hook); }
  const std::shared_ptr<const LinearHook>& hook() const { return hook_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const LinearConfig& config() const { return cfg_; }

 private:
  LinearConfig cfg_;
  Tensor weight_, bias_;
  std::shared_ptr<const LinearHook> hook_;
};

}  // namespace heed::nn
