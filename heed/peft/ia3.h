// IA3 (Liu et al. 2022, "(IA)^3") on a Linear, as PEFT's ia3.Linear computes it: a
// learned vector rescales the layer's output, or, for feed-forward modules, its input:
//   y = l * (W x + b)     l: "ia3_l.<adapter>" of shape (out, 1)
//   y = W (l * x) + b     feed-forward; l of shape (1, in)
// initialised to ones (the base model).
#pragma once

#include <string>

#include "heed/nn/linear.h"

namespace heed::peft {

class IA3Linear : public nn::Module, public nn::LinearHook {
 public:
  IA3Linear(const nn::Linear& base, const std::string& adapter, bool feedforward, bool init_ones,
            Generator& init_gen);
  Tensor forward(const nn::Linear& base, const Tensor& x) const override;
  bool feedforward() const { return feedforward_; }
  const Tensor& vector() const { return l_; }

 private:
  Tensor l_;
  bool feedforward_;
};

}  // namespace heed::peft
