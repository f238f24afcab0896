#include "heed/peft/bottleneck.h"

#include "heed/ops/activation.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/reduce.h"

namespace heed::peft {

namespace {

Tensor sigmoid_times(const Tensor& x) {
  // swish(x) = x * sigmoid(x) = x * (1 + tanh(x / 2)) / 2
  return ops::mul(x, ops::scale(ops::add_scalar(ops::tanh(ops::scale(x, 0.5f)), 1.0f), 0.5f));
}

}  // namespace

BottleneckAdapter::BottleneckAdapter(int64_t hidden, int64_t rf, const std::string& act,
                                     const std::string& adapter, Generator& gen)
    : act_(act) {
  const int64_t m = hidden / rf;
  HEED_CHECK(m >= 1, "bottleneck adapter: hidden size {} / reduction_factor {} leaves no units",
             hidden, rf);
  down_ = register_module("adapter." + adapter + ".down",
                          std::make_shared<nn::Linear>(nn::LinearConfig{.in = hidden, .out = m}, gen));
  up_ = register_module("adapter." + adapter + ".up",
                        std::make_shared<nn::Linear>(nn::LinearConfig{.in = m, .out = hidden}, gen));
  Tensor(up_->weight()).fill_(0.0f);  // a handle sharing the parameter
  Tensor(up_->bias()).fill_(0.0f);
}

Tensor BottleneckAdapter::forward(const Tensor& h) const {
  Tensor z = down_->forward(h);
  if (act_ == "relu")
    z = ops::relu(z);
  else if (act_ == "gelu")
    z = ops::gelu(z);
  else if (act_ == "gelu_new")
    z = ops::gelu_tanh(z);
  else if (act_ == "tanh")
    z = ops::tanh(z);
  else
    z = sigmoid_times(z);
  return ops::add(h, up_->forward(z));
}

}  // namespace heed::peft
