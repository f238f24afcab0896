#include "heed/nn/dropout.h"

#include "heed/ops/dropout.h"

namespace heed::nn {

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p_ == 0.0f) return x;
  HEED_CHECK(generator() != nullptr,
             "Dropout: no generator set; call set_generator() on the model before training");
  return ops::dropout(x, p_, *generator(), true);
}

}  // namespace heed::nn
