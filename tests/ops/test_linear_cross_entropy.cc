// linear_cross_entropy against the unfused pair cross_entropy(linear(x, W, b), t), which the
// gradcheck table and the PyTorch goldens check: loss and the gradients of x, W and b, at
// BERT-like sizes (V = 30522), with ignored rows, several chunkings, a non-unit upstream
// gradient, a W shared with another use (tied embeddings), and under Autocast(BF16) against
// the unfused pair under Autocast too. Finite differences are in test_gradcheck_table.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "heed/autograd/engine.h"
#include "heed/base/rng.h"
#include "heed/ops/autocast.h"
#include "heed/ops/ops.h"

namespace heed {
namespace {

struct Grads {
  float loss;
  std::vector<float> dx, dw, db;
};

struct Problem {
  Tensor x, w, b, t;
};

Problem make(int64_t N, int64_t H, int64_t V, uint64_t seed) {
  Generator g(seed);
  Problem p;
  p.x = Tensor::randn(Shape{N, H}, g);
  p.w = Tensor::randn(Shape{V, H}, g, 0.0f, 0.1f);
  p.b = Tensor::randn(Shape{V}, g, 0.0f, 0.1f);
  std::vector<int64_t> t(static_cast<size_t>(N));
  for (auto& ti : t) ti = g.uniform() < 0.85f ? -100 : int64_t(g.randint(uint64_t(V)));
  t[0] = 3;  // at least one labelled row
  p.t = Tensor::from_vector(t, Shape{N});
  return p;
}

// loss * up + sum(W * W) * 0.01: the upstream gradient is not 1 and W has a second use.
Grads run(const Problem& p, bool fused, int64_t chunk, const ops::CrossEntropyOptions& o,
          float up = 2.5f) {
  Tensor x = p.x.clone().set_requires_grad(true), w = p.w.clone().set_requires_grad(true),
         b = p.b.clone().set_requires_grad(true);
  const Tensor loss = fused ? ops::linear_cross_entropy(x, w, b, p.t, o, chunk)
                            : ops::cross_entropy(ops::linear(x, w, b), p.t, o);
  const Tensor total = ops::add(ops::scale(loss, up), ops::scale(ops::sum(ops::mul(w, w)), 0.01f));
  autograd::backward(total);
  return {loss.item(), x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < got.size(); ++i) scale = std::max(scale, std::fabs(double(want[i])));
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
  EXPECT_LE(worst, tol * scale) << what << " (largest |grad| " << scale << ")";
}

void expect_same(const Grads& got, const Grads& ref, double grad_tol) {
  EXPECT_NEAR(got.loss, ref.loss, 1e-5 * std::fabs(ref.loss));
  expect_close(got.dx, ref.dx, grad_tol, "dx");
  expect_close(got.dw, ref.dw, grad_tol, "dW");
  expect_close(got.db, ref.db, 1e-5, "db");
}

TEST(LinearCrossEntropy, EqualsTheUnfusedPair) {
  const Problem p = make(300, 64, 30522, 11);
  for (const float ls : {0.0f, 0.1f}) {
    ops::CrossEntropyOptions o;
    o.label_smoothing = ls;
    const Grads ref = run(p, false, 0, o);
    for (const int64_t chunk : {int64_t(0), int64_t(1), int64_t(7), int64_t(299), int64_t(1000)}) {
      SCOPED_TRACE(::testing::Message() << "ls " << ls << " chunk " << chunk);
      expect_same(run(p, true, chunk, o), ref, 1e-5);
    }
  }
}

TEST(LinearCrossEntropy, SumWithClassWeights) {
  const Problem p = make(40, 16, 97, 12);
  ops::CrossEntropyOptions o;
  o.reduction = ops::Reduction::Sum;
  Generator g(5);
  o.class_weight = Tensor::rand(Shape{97}, g);
  expect_same(run(p, true, 6, o), run(p, false, 0, o), 1e-5);
}

TEST(LinearCrossEntropy, Bf16AutocastEqualsTheUnfusedPairUnderAutocast) {
  // Both round x, W and the logits gradient to bf16 and accumulate in f32; only the
  // summation order over rows differs. The upstream gradient is 2, so that scaling the
  // gradient before rounding it (unfused) and after (fused) round alike.
  const Problem p = make(256, 64, 4099, 13);
  Grads ref, got;
  {
    ops::Autocast bf16;
    ref = run(p, false, 0, {}, 2.0f);
    got = run(p, true, 50, {}, 2.0f);
  }
  const Grads f32 = run(p, true, 0, {}, 2.0f);
  expect_same(got, ref, 1e-4);
  // And bf16 is not secretly f32: the loss moves by about bf16's rounding.
  EXPECT_NE(got.loss, f32.loss);
  EXPECT_NEAR(got.loss, f32.loss, 1e-2 * std::fabs(f32.loss));
}

TEST(LinearCrossEntropy, NoGradientWhenNothingRequiresIt) {
  const Problem p = make(20, 8, 33, 14);
  const Tensor loss = ops::linear_cross_entropy(p.x, p.w, p.b, p.t);
  EXPECT_FALSE(loss.requires_grad());
  EXPECT_NEAR(loss.item(), ops::cross_entropy(ops::linear(p.x, p.w, p.b), p.t).item(), 1e-5);
}

TEST(LinearCrossEntropy, BadInputsNameTheShape) {
  const Problem p = make(20, 8, 33, 15);
  auto fails_with = [](auto f, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "no error; expected " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  fails_with([&] { ops::linear_cross_entropy(p.x, ops::transpose(p.w, 0, 1), p.b, p.t); },
             "does not match x");
  fails_with([&] { ops::linear_cross_entropy(p.x, p.w, p.b, ops::reshape(p.t, Shape{4, 5})); },
             "targets shape");
  ops::CrossEntropyOptions none;
  none.reduction = ops::Reduction::None;
  fails_with([&] { ops::linear_cross_entropy(p.x, p.w, p.b, p.t, none); }, "reduction None");
  fails_with(
      [&] {
        ops::linear_cross_entropy(p.x, p.w, p.b, Tensor::from_vector(std::vector<int64_t>(20, 33), Shape{20}));
      },
      "out of range");
}

}  // namespace
}  // namespace heed
