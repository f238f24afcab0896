#pragma once

#include "heed/nn/module.h"

namespace heed::nn {

// Active only in training mode; draws from the module tree's generator.
class Dropout : public Module {
 public:
  explicit Dropout(float p) : p_(p) {}
  Tensor forward(const Tensor& x) const;
  // linear(forward(x), weight) without keeping the dropped-out x for the backward
  // (ops::dropout_linear): the same values and draws, one activation less.
  Tensor forward_linear(const Tensor& x, const Tensor& weight) const;
  float p() const { return p_; }

 private:
  float p_;
};

}  // namespace heed::nn
