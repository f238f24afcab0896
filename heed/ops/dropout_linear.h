// dropout(x) @ weight^T without keeping dropout(x): the backward saves only x (shared
// with whatever else saved it, e.g. the frozen base Linear a LoRA branch sits beside) and
// redraws the mask from (seed, offset). Same values, same generator draws and the same
// gradients as linear(dropout(x, p, gen), weight); a B*T*in activation less per use.
#pragma once

#include "heed/base/rng.h"
#include "heed/tensor/tensor.h"

namespace heed::ops {

// x (..., in), weight (r, in) -> (..., r). linear(x, weight) when !training or p == 0;
// otherwise advances gen by x.numel() draws, as dropout() does.
Tensor dropout_linear(const Tensor& x, const Tensor& weight, float p, Generator& gen,
                      bool training = true);

}  // namespace heed::ops
