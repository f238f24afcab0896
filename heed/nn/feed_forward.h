// Position-wise feed-forward: output.dense(act(intermediate.dense(x))), BERT's names.
#pragma once

#include <string>

#include "heed/nn/linear.h"

namespace heed::nn {

enum class Activation { Gelu, GeluTanh, Relu };
// "gelu" | "gelu_new" (alias "gelu_pytorch_tanh") | "relu", as HF's hidden_act.
Activation parse_activation(const std::string& name);
Tensor apply_activation(Activation a, const Tensor& x);

struct FeedForwardConfig {
  int64_t hidden = 0, intermediate = 0;
  Activation activation = Activation::Gelu;
};

class FeedForward : public Module {
 public:
  FeedForward(const FeedForwardConfig& cfg, Generator& init_gen);
  Tensor forward(const Tensor& x) const;  // (..., C) -> (..., C)
  Linear& intermediate() { return *up_; }  // intermediate.dense
  Linear& output() { return *down_; }      // output.dense

 private:
  FeedForwardConfig cfg_;
  std::shared_ptr<Linear> up_, down_;
};

}  // namespace heed::nn
