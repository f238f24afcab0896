// LoRA (Hu et al. 2021) on a Linear, as PEFT's lora.Linear computes it:
//   y = W x + b + scaling * B A dropout(x),   scaling = lora_alpha / r  (rsLoRA: / sqrt(r))
// A (r, in) is Kaiming-uniform with a = sqrt(5) (PEFT's init_lora_weights=True; that is
// torch.nn.Linear's default, bound 1/sqrt(in)), B (out, r) is zero, so training starts at
// the base model. Parameters are named as PEFT names them in memory,
// "lora_A.<adapter>.weight" and "lora_B.<adapter>.weight", under the target's name.
#pragma once

#include <memory>
#include <string>

#include "heed/nn/dropout.h"
#include "heed/nn/linear.h"

namespace heed::peft {

struct LoraOptions {
  int64_t r = 8;
  double alpha = 8.0;
  double dropout = 0.0;
  bool use_rslora = false;
  bool gaussian_init = false;  // init_lora_weights="gaussian": A ~ N(0, 1/r)
  bool zero_init_b = true;     // false: init_lora_weights=false (B random too; tests)
};

class LoraLinear : public nn::Module, public nn::LinearHook {
 public:
  LoraLinear(const nn::Linear& base, const std::string& adapter, const LoraOptions& opt,
             Generator& init_gen);
  Tensor forward(const nn::Linear& base, const Tensor& x) const override;
  // scaling * B A (out, in), the change merging adds to the base weight; no gradient.
  Tensor delta_weight() const;
  float scaling() const { return scaling_; }
  const Tensor& lora_A() const { return A_; }
  const Tensor& lora_B() const { return B_; }

 private:
  Tensor A_, B_;
  float scaling_ = 1.0f;
  std::shared_ptr<nn::Dropout> drop_;
};

}  // namespace heed::peft
