#include "heed/nn/init.h"

#include <cmath>

namespace heed::nn::init {

Tensor linear_uniform(const Shape& shape, int64_t fan_in, Generator& gen) {
  const float b = fan_in > 0 ? 1.0f / std::sqrt(float(fan_in)) : 0.0f;
  return Tensor::rand(shape, gen, -b, b);
}

Tensor normal(const Shape& shape, float std, Generator& gen) {
  return Tensor::randn(shape, gen, 0.0f, std);
}

}  // namespace heed::nn::init
