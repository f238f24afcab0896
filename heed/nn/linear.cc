#include "heed/nn/linear.h"

#include "heed/nn/init.h"
#include "heed/ops/linear.h"

namespace heed::nn {

Linear::Linear(const LinearConfig& cfg, Generator& gen) : cfg_(cfg) {
  HEED_CHECK(cfg.in > 0 && cfg.out > 0, "Linear: sizes must be positive, got in={} out={}",
             cfg.in, cfg.out);
  weight_ = register_parameter("weight", init::linear_uniform(Shape{cfg.out, cfg.in}, cfg.in, gen));
  if (cfg.bias) bias_ = register_parameter("bias", init::linear_uniform(Shape{cfg.out}, cfg.in, gen));
}

Tensor Linear::forward(const Tensor& x) const {
  return hook_ ? hook_->forward(*this, x) : ops::linear(x, weight_, bias_);
}

Tensor Linear::forward_base(const Tensor& x) const { return ops::linear(x, weight_, bias_); }

}  // namespace heed::nn
