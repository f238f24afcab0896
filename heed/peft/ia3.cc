#include "heed/peft/ia3.h"

#include "heed/ops/elementwise.h"
#include "heed/ops/linear.h"
#include "heed/ops/view.h"

namespace heed::peft {

IA3Linear::IA3Linear(const nn::Linear& base, const std::string& adapter, bool feedforward,
                     bool init_ones, Generator& gen)
    : feedforward_(feedforward) {
  const Shape shape = feedforward ? Shape{1, base.config().in} : Shape{base.config().out, 1};
  // PEFT: init_ia3_weights=True -> ones; False -> N(0, 1)-ish random (for tests).
  l_ = register_parameter("ia3_l." + adapter,
                          init_ones ? Tensor::ones(shape) : Tensor::randn(shape, gen, 1.0f, 0.1f));
}

Tensor IA3Linear::forward(const nn::Linear& base, const Tensor& x) const {
  const Tensor l = ops::reshape(l_, Shape{l_.numel()});
  if (feedforward_) return base.forward_base(ops::mul(x, l));
  return ops::mul(base.forward_base(x), l);
}

}  // namespace heed::peft
