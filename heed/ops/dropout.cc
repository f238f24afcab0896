#include "heed/ops/dropout.h"

#include "heed/autograd/node.h"
#include "heed/kernels/dropout.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct DropoutBackward : Node {
  float p;
  uint64_t seed, offset;
  const char* name() const override { return "dropout"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const Tensor gc = g[0].contiguous();
    Tensor dx = Tensor::empty(gc.shape());
    kernels::dropout_apply(dx.data<float>(), gc.data<float>(), dx.numel(), p, seed, offset);
    return {dx};
  }
};

}  // namespace

Tensor dropout(const Tensor& x, float p, Generator& gen, bool training) {
  HEED_CHECK(p >= 0.0f && p < 1.0f, "dropout: p must be in [0, 1), got {}", p);
  if (!training || p == 0.0f) return x;
  HEED_CHECK(x.dtype() == DType::F32, "dropout: expected f32, got {}", x.dtype());
  const Tensor xc = x.contiguous();
  const uint64_t offset = gen.reserve(uint64_t(x.numel()));
  Tensor out = Tensor::empty(x.shape());
  kernels::dropout_apply(out.data<float>(), xc.data<float>(), x.numel(), p, gen.seed(), offset);
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<DropoutBackward>();
    n->p = p;
    n->seed = gen.seed();
    n->offset = offset;
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

}  // namespace heed::ops
