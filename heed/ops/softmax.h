// softmax and log_softmax along one dim (fast path for the last dim).
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

}  // namespace heed::ops
