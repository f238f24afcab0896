// LayerNorm over the last dim (torch.nn.functional.layer_norm with normalized_shape = (C,)).
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

// weight and bias (C) may be undefined (no affine transform).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

}  // namespace heed::ops
