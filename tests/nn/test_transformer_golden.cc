// Parity with PyTorch (tests/golden/make_goldens.py): a 2-layer encoder (post-LN and
// pre-LN) and a decoder layer with cross-attention match torch's outputs and every
// parameter's gradient.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "heed/autograd/engine.h"
#include "heed/io/safetensors.h"
#include "heed/nn/nn.h"
#include "heed/ops/ops.h"
#include "torch_names.h"

namespace heed {

namespace {

constexpr double kOutRtol = 1e-5, kOutAtol = 2e-6;
constexpr double kGradRtol = 1e-5, kGradAtol = 5e-6;

nn::EncoderLayerConfig golden_layer_config(bool norm_first) {
  return {.hidden = 32, .heads = 4, .ffn = 64, .activation = nn::Activation::Gelu,
          .hidden_dropout = 0.0f, .attention_dropout = 0.0f, .layer_norm_eps = 1e-5f,
          .norm_first = norm_first};
}

void load_layer(nn::Module& layer, const io::TensorFile& f, const std::string& torch_layer,
                bool decoder) {
  auto sd = testing::torch_layer_to_heed(f, "param.", torch_layer, decoder);
  auto r = layer.load_state_dict(sd);
  ASSERT_TRUE(r.missing_keys.empty()) << r.missing_keys.front();
  ASSERT_TRUE(r.unexpected_keys.empty()) << r.unexpected_keys.front();
}

void expect_grads(const nn::Module& layer, const io::TensorFile& f, const std::string& torch_layer,
                  bool decoder) {
  auto expected = testing::torch_layer_to_heed(f, "grad.", torch_layer, decoder);
  for (const auto& [name, p] : layer.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    // The key bias gradient is exactly zero in exact arithmetic (softmax is shift
    // invariant); torch's value is float32 noise, so compare it absolutely.
    const bool key_bias = name.find("self.key.bias") != std::string::npos;
    EXPECT_TRUE(testing::all_close(p.grad(), expected.at(name), key_bias ? 0.0 : kGradRtol,
                                   key_bias ? 1e-5 : kGradAtol))
        << torch_layer << name;
  }
}

class EncoderGolden : public ::testing::TestWithParam<bool> {};

TEST_P(EncoderGolden, OutputsAndEveryGradientMatchTorch) {
  const bool norm_first = GetParam();
  const auto f = io::load_safetensors(testing::golden_path(
      norm_first ? "encoder_2layer_preln.safetensors" : "encoder_2layer.safetensors"));
  Generator gen(0);
  nn::TransformerEncoderLayer l0(golden_layer_config(norm_first), gen),
      l1(golden_layer_config(norm_first), gen);
  load_layer(l0, f, "layers.0.", false);
  load_layer(l1, f, "layers.1.", false);
  Tensor x = f.at_f32("x").clone().set_requires_grad(true);
  const Tensor mask = f.at("attention_mask");
  Tensor h = l0.forward(x, mask).hidden;
  h = l1.forward(h, mask).hidden;
  EXPECT_TRUE(testing::all_close(h, f.at_f32("out"), kOutRtol, kOutAtol));
  autograd::backward(ops::sum(ops::mul(h, f.at_f32("R"))));
  EXPECT_TRUE(testing::all_close(x.grad(), f.at_f32("grad.x"), kGradRtol, kGradAtol));
  expect_grads(l0, f, "layers.0.", false);
  expect_grads(l1, f, "layers.1.", false);
}

INSTANTIATE_TEST_SUITE_P(PostAndPreLN, EncoderGolden, ::testing::Values(false, true));

TEST(DecoderGolden, CausalSelfAndCrossAttentionMatchTorch) {
  const auto f = io::load_safetensors(testing::golden_path("decoder_layer.safetensors"));
  Generator gen(0);
  nn::TransformerDecoderLayer layer(golden_layer_config(false), gen);
  load_layer(layer, f, "", true);
  Tensor tgt = f.at_f32("tgt").clone().set_requires_grad(true);
  Tensor mem = f.at_f32("memory").clone().set_requires_grad(true);
  Tensor out = layer.forward(tgt, mem, f.at("memory_mask")).hidden;
  EXPECT_TRUE(testing::all_close(out, f.at_f32("out"), kOutRtol, kOutAtol));
  autograd::backward(ops::sum(ops::mul(out, f.at_f32("R"))));
  EXPECT_TRUE(testing::all_close(tgt.grad(), f.at_f32("grad.tgt"), kGradRtol, kGradAtol));
  EXPECT_TRUE(testing::all_close(mem.grad(), f.at_f32("grad.memory"), kGradRtol, kGradAtol));
  expect_grads(layer, f, "", true);
}

TEST(ModuleNames, AreBertCheckpointKeys) {
  Generator gen(0);
  nn::TransformerEncoderLayer layer(golden_layer_config(false), gen);
  std::vector<std::string> names;
  for (auto& [n, p] : layer.named_parameters()) names.push_back(n);
  const std::vector<std::string> expected = {
      "attention.self.query.weight", "attention.self.query.bias",
      "attention.self.key.weight", "attention.self.key.bias",
      "attention.self.value.weight", "attention.self.value.bias",
      "attention.output.dense.weight", "attention.output.dense.bias",
      "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
      "intermediate.dense.weight", "intermediate.dense.bias",
      "output.dense.weight", "output.dense.bias",
      "output.LayerNorm.weight", "output.LayerNorm.bias"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(layer.num_parameters(), 4 * (32 * 32 + 32) + 2 * 64 + 32 * 64 + 64 + 64 * 32 + 32);
}

TEST(PositionalEncoding, SinusoidalMatchesFormula) {
  nn::SinusoidalPositionalEncoding pe(16, 8);
  const auto t = pe.table().to_vector();
  // PE(pos=3, 2i=4) = sin(3 / 10000^(4/8)); PE(3, 5) = cos(3 / 10000^(4/8))
  EXPECT_NEAR(t[3 * 8 + 4], std::sin(3.0 / 100.0), 1e-6);
  EXPECT_NEAR(t[3 * 8 + 5], std::cos(3.0 / 100.0), 1e-6);
  EXPECT_NEAR(t[0 * 8 + 1], 1.0, 1e-7);
  Tensor x = Tensor::zeros(Shape{1, 4, 8});
  EXPECT_TRUE(testing::all_close(pe.forward(x, 3), ops::unsqueeze(ops::slice(pe.table(), 0, 3, 7), 0),
                                 0, 0));
  EXPECT_THROW(pe.forward(Tensor::zeros(Shape{1, 14, 8}), 3), Error);
}

TEST(Dropout, TrainOnlyAndSeeded) {
  nn::Dropout d(0.5f);
  Tensor x = Tensor::ones(Shape{1000});
  EXPECT_THROW(d.forward(x), Error);  // no generator set
  d.set_generator(std::make_shared<Generator>(1));
  const auto y = d.forward(x).to_vector();
  int zeros = 0;
  for (float v : y) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
    zeros += v == 0.0f;
  }
  EXPECT_NEAR(zeros, 500, 60);
  d.eval();
  EXPECT_TRUE(d.forward(x).is_same(x));
}

}  // namespace

}  // namespace heed
