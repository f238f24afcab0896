// Pointwise activations: gelu (exact erf, as BERT), gelu_tanh (HF "gelu_new"), relu, tanh.
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

Tensor gelu(const Tensor& x);
Tensor gelu_tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor tanh(const Tensor& x);

}  // namespace heed::ops
