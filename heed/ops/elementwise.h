// Elementwise arithmetic with numpy broadcasting. Gradients are summed back over the
// broadcast dimensions.
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);       // x * s
Tensor add_scalar(const Tensor& x, float s);  // x + s
Tensor neg(const Tensor& x);
Tensor sqrt(const Tensor& x);  // elementwise; the gradient at 0 is +inf, as torch

// Not differentiable: sums g over the dims that were broadcast to reach g's shape.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace heed::ops
