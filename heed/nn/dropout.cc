#include "heed/nn/dropout.h"

#include "heed/ops/dropout.h"
#include "heed/ops/dropout_linear.h"
#include "heed/ops/linear.h"

namespace heed::nn {

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p_ == 0.0f) return x;
  HEED_CHECK(generator() != nullptr,
             "Dropout: no generator set; call set_generator() on the model before training");
  return ops::dropout(x, p_, *generator(), true);
}

Tensor Dropout::forward_linear(const Tensor& x, const Tensor& weight) const {
  if (!is_training() || p_ == 0.0f) return ops::linear(x, weight);
  HEED_CHECK(generator() != nullptr,
             "Dropout: no generator set; call set_generator() on the model before training");
  return ops::dropout_linear(x, weight, p_, *generator(), true);
}

}  // namespace heed::nn
