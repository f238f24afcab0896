#pragma once

#include "heed/nn/module.h"

namespace heed::nn {

// Active only in training mode; draws from the module tree's generator.
class Dropout : public Module {
 public:
  explicit Dropout(float p) : p_(p) {}
  Tensor forward(const Tensor& x) const;
  float p() const { return p_; }

 private:
  float p_;
};

}  // namespace heed::nn
