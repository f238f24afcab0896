#include "heed/autograd/engine.h"

#include <gtest/gtest.h>

#include "heed/autograd/gradcheck.h"
#include "heed/autograd/node.h"
#include "heed/ops/ops.h"

namespace heed {

TEST(Autograd, ChainAndAccumulate) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, Shape{3}).set_requires_grad(true);
  // y = sum(x * x + 2x) -> dy/dx = 2x + 2; x used twice, so gradients must add up.
  Tensor y = ops::sum(ops::add(ops::mul(x, x), ops::scale(x, 2.0f)));
  autograd::backward(y);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4, 6, 8}));
  // A second backward accumulates into .grad, as in PyTorch.
  autograd::backward(ops::sum(x));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{5, 7, 9}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::ones(Shape{2}).set_requires_grad(true);
  Tensor y;
  {
    autograd::NoGradGuard ng;
    y = ops::mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(ops::mul(x, x).requires_grad());
  EXPECT_THROW(autograd::backward(ops::sum(y)), Error);
}

TEST(Autograd, FrozenLeafGetsNoGradient) {
  Tensor w = Tensor::ones(Shape{2});  // requires_grad false
  Tensor x = Tensor::ones(Shape{2}).set_requires_grad(true);
  autograd::backward(ops::sum(ops::mul(w, x)));
  EXPECT_FALSE(w.grad().defined());
  EXPECT_TRUE(x.grad().defined());
}

// A deliberately wrong op: forward x^2, backward claims x. gradcheck must catch it,
// or gradcheck itself cannot be trusted.
namespace {
struct WrongBackward : autograd::Node {
  Tensor x;
  const char* name() const override { return "wrong"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {ops::mul(g[0], x)};
  }
};
Tensor wrong_square(const Tensor& x) {
  Tensor out;
  {
    autograd::NoGradGuard ng;
    out = ops::mul(x, x);
  }
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<WrongBackward>();
    n->x = x.detach();
    autograd::connect(n, {x}, {&out});
  }
  return out;
}
}  // namespace

TEST(Gradcheck, DetectsAWrongBackward) {
  Generator gen(3);
  Tensor x = Tensor::randn(Shape{5}, gen).set_requires_grad(true);
  auto bad = autograd::gradcheck([](const std::vector<Tensor>& in) { return wrong_square(in[0]); },
                                 {x});
  EXPECT_FALSE(bad.ok);
  Tensor y = Tensor::randn(Shape{5}, gen).set_requires_grad(true);
  auto good = autograd::gradcheck(
      [](const std::vector<Tensor>& in) { return ops::mul(in[0], in[0]); }, {y});
  EXPECT_TRUE(good.ok) << good.message;
}

TEST(Autograd, MultiUseThroughViews) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3}).set_requires_grad(true);
  Tensor a = ops::transpose(x, 0, 1);   // (3, 2) view
  Tensor b = ops::slice(x, 1, 1, 3);     // (2, 2) view
  Tensor y = ops::add(ops::sum(ops::mul(a, a)), ops::sum(b));
  autograd::backward(y);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 5, 7, 8, 11, 13}));
}

}  // namespace heed
