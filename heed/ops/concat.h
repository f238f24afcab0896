// concat along a dim, and split into pieces (each piece is a differentiable slice view).
#pragma once

#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::ops {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);

}  // namespace heed::ops
