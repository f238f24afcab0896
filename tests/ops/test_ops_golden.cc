// Ops against float64 PyTorch references (tests/golden/ops_small, sdpa_small), and the
// fused attention op against the plain reference op.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "heed/autograd/engine.h"
#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {

struct Grads {
  Tensor out;
  std::vector<Tensor> d;
};

Grads run(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> in,
          const Tensor& R) {
  for (auto& t : in) t = t.clone().set_requires_grad(true);
  Tensor out = f(in);
  autograd::backward(R.defined() ? ops::sum(ops::mul(out, R)) : out);
  Grads g{out, {}};
  for (auto& t : in) g.d.push_back(t.grad());
  return g;
}

TEST(OpsGolden, GeluLayerNormSoftmaxCrossEntropy) {
  const auto f = io::load_safetensors(testing::golden_path("ops_small.safetensors"));
  auto g = run([](auto& x) { return ops::gelu(x[0]); }, {f.at_f32("gelu.x")}, f.at_f32("gelu.R"));
  EXPECT_TRUE(testing::all_close(g.out, f.at_f32("gelu.out"), 1e-6, 1e-7));
  EXPECT_TRUE(testing::all_close(g.d[0], f.at_f32("gelu.dx"), 1e-5, 1e-6));

  g = run([](auto& x) { return ops::layer_norm(x[0], x[1], x[2], 1e-5f); },
          {f.at_f32("layer_norm.x"), f.at_f32("layer_norm.weight"), f.at_f32("layer_norm.bias")},
          f.at_f32("layer_norm.R"));
  EXPECT_TRUE(testing::all_close(g.out, f.at_f32("layer_norm.out"), 1e-5, 1e-6));
  EXPECT_TRUE(testing::all_close(g.d[0], f.at_f32("layer_norm.dx"), 1e-5, 1e-6));
  EXPECT_TRUE(testing::all_close(g.d[1], f.at_f32("layer_norm.dweight"), 1e-5, 1e-6));
  EXPECT_TRUE(testing::all_close(g.d[2], f.at_f32("layer_norm.dbias"), 1e-5, 1e-6));

  g = run([](auto& x) { return ops::softmax(x[0], -1); }, {f.at_f32("softmax.x")},
          f.at_f32("softmax.R"));
  EXPECT_TRUE(testing::all_close(g.out, f.at_f32("softmax.out"), 1e-5, 1e-7));
  EXPECT_TRUE(testing::all_close(g.d[0], f.at_f32("softmax.dx"), 1e-5, 1e-6));

  ops::CrossEntropyOptions o;
  o.label_smoothing = 0.1f;
  const Tensor targets = f.at("cross_entropy.targets");
  g = run([&](auto& x) { return ops::cross_entropy(x[0], targets, o); },
          {f.at_f32("cross_entropy.logits")}, Tensor());
  EXPECT_NEAR(g.out.item(), f.at_f32("cross_entropy.loss").item(), 1e-6);
  EXPECT_TRUE(testing::all_close(g.d[0], f.at_f32("cross_entropy.dlogits"), 1e-5, 1e-7));
}

TEST(OpsGolden, AttentionCasesMatchFloat64Torch) {
  const auto f = io::load_safetensors(testing::golden_path("sdpa_small.safetensors"));
  for (int c = 0; c < 4; ++c) {
    const std::string p = "case" + std::to_string(c) + ".";
    ops::AttentionOptions o;
    o.mask = f.at(p + "key_mask");
    o.causal = c == 1;
    auto g = run([&](auto& x) { return ops::scaled_dot_product_attention(x[0], x[1], x[2], o).out; },
                 {f.at_f32(p + "q"), f.at_f32(p + "k"), f.at_f32(p + "v")}, f.at_f32(p + "R"));
    EXPECT_TRUE(testing::all_close(g.out, f.at_f32(p + "out"), 1e-5, 1e-6)) << p;
    EXPECT_TRUE(testing::all_close(g.d[0], f.at_f32(p + "dq"), 1e-4, 1e-5)) << p;
    EXPECT_TRUE(testing::all_close(g.d[1], f.at_f32(p + "dk"), 1e-4, 1e-5)) << p;
    EXPECT_TRUE(testing::all_close(g.d[2], f.at_f32(p + "dv"), 1e-4, 1e-5)) << p;
  }
}

// The fused op (online softmax, no T x S buffer) against the plain reference op, forward
// and backward, with padding, causal masks, T != S, additive masks and dropout.
struct AttnCase {
  int64_t B, H, T, S, D;
  bool causal, pad, additive;
  float dropout;
};

class FusedVsReference : public ::testing::TestWithParam<AttnCase> {};

TEST_P(FusedVsReference, ForwardAndBackward) {
  const AttnCase c = GetParam();
  Generator gen(c.T * 1000 + c.S * 10 + c.D);
  const Tensor q0 = Tensor::randn(Shape{c.B, c.H, c.T, c.D}, gen);
  const Tensor k0 = Tensor::randn(Shape{c.B, c.H, c.S, c.D}, gen);
  const Tensor v0 = Tensor::randn(Shape{c.B, c.H, c.S, c.D}, gen);
  const Tensor R = Tensor::randn(Shape{c.B, c.H, c.T, c.D}, gen);
  ops::AttentionOptions o;
  o.causal = c.causal;
  if (c.pad) {
    std::vector<int64_t> m(static_cast<size_t>(c.B * c.S), 1);
    for (int64_t b = 1; b < c.B; ++b)
      for (int64_t s = c.S - (c.S / 3) * b; s < c.S; ++s) m[size_t(b * c.S + s)] = 0;
    o.mask = Tensor::from_vector(m, Shape{c.B, c.S});
  } else if (c.additive) {
    o.mask = Tensor::randn(Shape{c.B, 1, c.T, c.S}, gen);
  }
  auto run_with = [&](bool fused) {
    Generator dg(42);
    ops::AttentionOptions oo = o;
    oo.dropout_p = c.dropout;
    oo.gen = &dg;
    return run(
        [&](auto& x) {
          return fused ? ops::scaled_dot_product_attention(x[0], x[1], x[2], oo).out
                       : ops::scaled_dot_product_attention_reference(x[0], x[1], x[2], oo);
        },
        {q0, k0, v0}, R);
  };
  const Grads a = run_with(true), b = run_with(false);
  EXPECT_TRUE(testing::all_close(a.out, b.out, 1e-4, 1e-5));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(testing::all_close(a.d[size_t(i)], b.d[size_t(i)], 1e-4, 1e-4)) << i;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FusedVsReference,
    ::testing::Values(AttnCase{2, 2, 7, 7, 16, false, true, false, 0.0f},
                      AttnCase{1, 2, 63, 65, 32, false, true, false, 0.0f},
                      AttnCase{2, 1, 65, 65, 64, true, true, false, 0.0f},
                      AttnCase{1, 1, 5, 129, 128, false, false, true, 0.0f},
                      AttnCase{1, 2, 33, 17, 64, false, false, false, 0.1f},
                      AttnCase{1, 1, 512, 512, 64, true, false, false, 0.0f},
                      AttnCase{1, 1, 2048, 2048, 64, false, true, false, 0.0f}));

TEST(Attention, ReturnsProbabilitiesThatSumToOne) {
  Generator gen(1);
  const Tensor q = Tensor::randn(Shape{1, 2, 4, 8}, gen), k = Tensor::randn(Shape{1, 2, 6, 8}, gen);
  ops::AttentionOptions o;
  o.return_probs = true;
  o.mask = Tensor::from_vector<int64_t>({1, 1, 1, 1, 0, 0}, Shape{1, 6});
  auto r = ops::scaled_dot_product_attention(q, k, k, o);
  const auto p = r.probs.to_vector();
  for (int row = 0; row < 8; ++row) {
    double s = 0;
    for (int j = 0; j < 6; ++j) s += p[size_t(row * 6 + j)];
    EXPECT_NEAR(s, 1.0, 1e-5);
    EXPECT_EQ(p[size_t(row * 6 + 4)], 0.0f);
  }
}

}  // namespace

}  // namespace heed
