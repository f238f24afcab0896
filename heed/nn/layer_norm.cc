#include "heed/nn/layer_norm.h"

#include "heed/ops/layer_norm.h"

namespace heed::nn {

LayerNorm::LayerNorm(int64_t dim, float eps) : eps_(eps) {
  weight_ = register_parameter("weight", Tensor::ones(Shape{dim}));
  bias_ = register_parameter("bias", Tensor::zeros(Shape{dim}));
}

Tensor LayerNorm::forward(const Tensor& x) const {
  return ops::layer_norm(x, weight_, bias_, eps_);
}

}  // namespace heed::nn
