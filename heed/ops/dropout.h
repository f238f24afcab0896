// Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).
// The mask is a pure function of (generator seed, reserved offset, index), so it is
// recomputed in the backward instead of stored, and it does not depend on threads.
#pragma once

#include "heed/base/rng.h"
#include "heed/tensor/tensor.h"

namespace heed::ops {

// Identity when !training or p == 0. Advances gen by x.numel() draws otherwise.
Tensor dropout(const Tensor& x, float p, Generator& gen, bool training = true);

}  // namespace heed::ops
