#include "heed/ops/dropout_linear.h"

#include "heed/autograd/node.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/dropout.h"
#include "heed/ops/linear.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct DropoutLinearBackward : Node {
  Tensor x2d, weight;  // x (N, in) contiguous, weight (r, in) contiguous
  Shape x_shape;
  float p = 0;
  uint64_t seed = 0, offset = 0;
  const char* name() const override { return "dropout_linear"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const int64_t N = x2d.size(0), in = x2d.size(1), r = weight.size(0);
    const Tensor gc = g[0].contiguous();  // (N, r)
    const float* pg = gc.data<float>();
    std::vector<Tensor> out(2);
    if (needs_input_grad(0)) {  // dx = mask(g @ W)
      out[0] = Tensor::empty(x_shape);
      float* dx = out[0].data<float>();
      kernels::gemm(false, false, N, in, r, 1.0f, pg, r, weight.data<float>(), in, 0.0f, dx, in);
      kernels::dropout_apply(dx, dx, N * in, p, seed, offset);
    }
    if (needs_input_grad(1)) {  // dW = g^T @ dropout(x), the dropped x redrawn for this GEMM only
      Tensor xd = Tensor::empty(Shape{N, in});
      kernels::dropout_apply(xd.data<float>(), x2d.data<float>(), N * in, p, seed, offset);
      out[1] = Tensor::empty(weight.shape());
      kernels::gemm(true, false, r, in, N, 1.0f, pg, r, xd.data<float>(), in, 0.0f,
                    out[1].data<float>(), in);
    }
    return out;
  }
};

}  // namespace

Tensor dropout_linear(const Tensor& x, const Tensor& weight, float p, Generator& gen, bool training) {
  HEED_CHECK(p >= 0.0f && p < 1.0f, "dropout_linear: p must be in [0, 1), got {}", p);
  if (!training || p == 0.0f) return linear(x, weight);
  HEED_CHECK(x.dtype() == DType::F32 && weight.dtype() == DType::F32,
             "dropout_linear: expected f32 tensors, got {} and {}", x.dtype(), weight.dtype());
  HEED_CHECK(x.ndim() >= 1 && weight.ndim() == 2 && x.size(-1) == weight.size(1),
             "dropout_linear: input {} does not match weight {} (last dim must be {})", x.shape(),
             weight.shape(), weight.ndim() == 2 ? weight.size(1) : int64_t(-1));
  const int64_t in = weight.size(1), r = weight.size(0);
  const Tensor xc = x.contiguous(), wc = weight.contiguous();
  const int64_t N = in ? xc.numel() / in : 0;
  const uint64_t offset = gen.reserve(uint64_t(x.numel()));
  std::vector<int64_t> od = x.shape().dims();
  od.back() = r;
  Tensor out = Tensor::empty(Shape(od));
  {
    Tensor xd = Tensor::empty(Shape{N, in});  // transient
    kernels::dropout_apply(xd.data<float>(), xc.data<float>(), N * in, p, gen.seed(), offset);
    kernels::gemm(false, true, N, r, in, 1.0f, xd.data<float>(), in, wc.data<float>(), in, 0.0f,
                  out.data<float>(), r);
  }
  if (autograd::needs_grad({x, weight})) {
    auto n = std::make_shared<DropoutLinearBackward>();
    n->x2d = xc.as_strided(Shape{N, in}, {in, 1}, xc.offset()).detach();
    n->weight = wc.detach();
    n->x_shape = x.shape();
    n->p = p;
    n->seed = gen.seed();
    n->offset = offset;
    autograd::connect(n, {x, weight}, {&out});
  }
  return out;
}

}  // namespace heed::ops
