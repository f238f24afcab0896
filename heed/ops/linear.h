// Matrix products through the BLAS (oneDNN).
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

// a (..., M, K) @ b (..., K, N). Batch dims broadcast; a 2-D b is shared by every batch.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in) @ weight^T + bias; weight (out, in) as torch.nn.Linear; bias (out) optional.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace heed::ops
