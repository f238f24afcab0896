#include "heed/nn/feed_forward.h"

#include "heed/ops/activation.h"

namespace heed::nn {

Activation parse_activation(const std::string& name) {
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
  if (name == "relu") return Activation::Relu;
  HEED_FAIL("unsupported activation \"{}\" (expected gelu, gelu_new or relu)", name);
}

Tensor apply_activation(Activation a, const Tensor& x) {
  switch (a) {
    case Activation::Gelu: return ops::gelu(x);
    case Activation::GeluTanh: return ops::gelu_tanh(x);
    case Activation::Relu: return ops::relu(x);
  }
  return x;
}

FeedForward::FeedForward(const FeedForwardConfig& cfg, Generator& gen) : cfg_(cfg) {
  up_ = register_module("intermediate.dense",
                        std::make_shared<Linear>(LinearConfig{.in = cfg.hidden, .out = cfg.intermediate}, gen));
  down_ = register_module("output.dense",
                          std::make_shared<Linear>(LinearConfig{.in = cfg.intermediate, .out = cfg.hidden}, gen));
}

Tensor FeedForward::forward(const Tensor& x) const {
  return down_->forward(apply_activation(cfg_.activation, up_->forward(x)));
}

}  // namespace heed::nn
