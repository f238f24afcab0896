// Parameter initialisers (all take an explicit generator).
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::nn::init {

// torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
// (kaiming_uniform with a = sqrt(5) reduces to this bound).
Tensor linear_uniform(const Shape& shape, int64_t fan_in, Generator& gen);
// BERT's initializer_range: N(0, std).
Tensor normal(const Shape& shape, float std, Generator& gen);

}  // namespace heed::nn::init
