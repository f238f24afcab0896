// Differentiable views and reshapes. Views share storage with their input.
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

// A view when the input is contiguous, else a copy. One dim may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
// Elements start, start+step, ... < end along dim (negative start/end count from the end).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);  // drops dim
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);  // differentiable; self when already contiguous

}  // namespace heed::ops
