#include "heed/peft/lora.h"

#include <cmath>

#include "heed/autograd/node.h"
#include "heed/nn/init.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/linear.h"

namespace heed::peft {

LoraLinear::LoraLinear(const nn::Linear& base, const std::string& adapter, const LoraOptions& o,
                       Generator& gen) {
  const int64_t in = base.config().in, out = base.config().out;
  HEED_CHECK(o.r > 0, "LoRA: r must be positive, got {}", o.r);
  Tensor a = o.gaussian_init ? nn::init::normal(Shape{o.r, in}, 1.0f / float(o.r), gen)
                             : nn::init::linear_uniform(Shape{o.r, in}, in, gen);
  Tensor b = o.zero_init_b ? Tensor::zeros(Shape{out, o.r}) : nn::init::linear_uniform(Shape{out, o.r}, o.r, gen);
  A_ = register_parameter("lora_A." + adapter + ".weight", a);
  B_ = register_parameter("lora_B." + adapter + ".weight", b);
  scaling_ = float(o.use_rslora ? o.alpha / std::sqrt(double(o.r)) : o.alpha / double(o.r));
  drop_ = register_module("lora_dropout." + adapter, std::make_shared<nn::Dropout>(float(o.dropout)));
}

Tensor LoraLinear::forward(const nn::Linear& base, const Tensor& x) const {
  const Tensor y = base.forward_base(x);
  // scaling applied to the rank-r activations (..., r) rather than the (..., out) output:
  // the same product, a fraction of the memory traffic.
  const Tensor h = ops::scale(drop_->forward_linear(x, A_), scaling_);
  return ops::add(y, ops::linear(h, B_));
}

Tensor LoraLinear::delta_weight() const {
  autograd::NoGradGuard ng;
  return ops::scale(ops::matmul(B_, A_), scaling_);
}

}  // namespace heed::peft
