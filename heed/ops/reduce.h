// Reductions: sum, mean and max over all elements or one dim.
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

Tensor sum(const Tensor& x);  // all elements -> scalar (shape ())
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Max along dim; the gradient flows to the first maximal element (as torch.max(dim)).
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim);  // i64, not differentiable

}  // namespace heed::ops
