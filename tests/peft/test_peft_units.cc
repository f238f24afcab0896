// Each adapter unit against central finite differences (heed::autograd::gradcheck):
// the function of the input and of every adapter tensor, through the public hooks.
#include <gtest/gtest.h>

#include "heed/autograd/gradcheck.h"
#include "heed/ops/activation.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/linear.h"
#include "heed/peft/adalora.h"
#include "heed/peft/bottleneck.h"
#include "heed/peft/ia3.h"
#include "heed/peft/lora.h"
#include "heed/peft/prefix_tuning.h"
#include "heed/nn/transformer_encoder_layer.h"

namespace heed {
namespace {

void check_bottleneck(bool input_requires_grad) {
  Generator gen(3);
  peft::BottleneckAdapter ad(8, 2, "relu", "default", gen);
  for (auto& [n, t] : ad.named_parameters()) Tensor(t).copy_(Tensor::randn(t.shape(), gen, 0.0f, 0.5f));
  Tensor h = Tensor::randn(Shape{2, 3, 8}, gen).set_requires_grad(input_requires_grad);
  auto params = ad.named_parameters();
  std::vector<Tensor> in{h};
  for (auto& [n, t] : params) in.push_back(t);
  const auto r = autograd::gradcheck([&](const std::vector<Tensor>& x) { return ad.forward(x[0]); }, in);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(PeftUnits, BottleneckAdapterInputAndParameterGradients) { check_bottleneck(true); }
// In a frozen model the first adapter's input carries no gradient.
TEST(PeftUnits, BottleneckAdapterParameterGradientsOnly) { check_bottleneck(false); }

}  // namespace
}  // namespace heed
namespace heed {
// Two adapters in one layer make a graph where an add's gradient, handed to both its
// inputs as one tensor, is accumulated into again: this found an autograd engine bug
// (in-place accumulation into a gradient another pending slot shared).
void check_in_layer(bool attn, bool ffn, bool norm_first) {
  Generator gen(5);
  nn::TransformerEncoderLayer layer({.hidden = 8, .heads = 2, .ffn = 12, .hidden_dropout = 0.0f,
                                     .attention_dropout = 0.0f, .norm_first = norm_first}, gen);
  layer.requires_grad(false);
  layer.eval();
  auto a1 = std::make_shared<peft::BottleneckAdapter>(8, 2, "relu", "default", gen);
  auto a2 = std::make_shared<peft::BottleneckAdapter>(8, 2, "relu", "default", gen);
  std::vector<Tensor> in;
  for (auto* a : {attn ? a1.get() : nullptr, ffn ? a2.get() : nullptr})
    if (a) for (auto& [n, t] : a->named_parameters()) {
      Tensor(t).copy_(Tensor::randn(t.shape(), gen, 0.0f, 0.5f));
      in.push_back(t);
    }
  layer.set_sublayer_hooks(attn ? a1 : nullptr, ffn ? a2 : nullptr);
  const Tensor x = Tensor::randn(Shape{2, 3, 8}, gen);
  const auto r = autograd::gradcheck([&](const std::vector<Tensor>&) { return layer.forward(x).hidden; }, in);
  EXPECT_TRUE(r.ok) << r.message << " attn " << attn << " ffn " << ffn << " pre-LN " << norm_first;
}
TEST(PeftUnits, BottleneckInsideEncoderLayer) {
  for (bool pre : {false, true}) {
    check_in_layer(true, false, pre);
    check_in_layer(false, true, pre);
    check_in_layer(true, true, pre);
  }
}
}  // namespace heed
