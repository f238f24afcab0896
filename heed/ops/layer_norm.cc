#include "heed/ops/layer_norm.h"

#include "heed/autograd/node.h"
#include "heed/kernels/layer_norm.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct LayerNormBackward : Node {
  Tensor x, weight, mean, rstd;  // x contiguous
  const char* name() const override { return "layer_norm"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const Tensor gc = g[0].contiguous();
    const int64_t C = x.size(-1), rows = C ? x.numel() / C : 0;
    std::vector<Tensor> r(3);
    if (needs_input_grad(0)) r[0] = Tensor::zeros(x.shape());
    if (needs_input_grad(1)) r[1] = Tensor::zeros(Shape{C});
    if (needs_input_grad(2)) r[2] = Tensor::zeros(Shape{C});
    kernels::layer_norm_backward(r[0].defined() ? r[0].data<float>() : nullptr,
                                 r[1].defined() ? r[1].data<float>() : nullptr,
                                 r[2].defined() ? r[2].data<float>() : nullptr, gc.data<float>(),
                                 x.data<float>(), weight.defined() ? weight.data<float>() : nullptr,
                                 mean.data<float>(), rstd.data<float>(), rows, C);
    return r;
  }
};

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  HEED_CHECK(x.dtype() == DType::F32, "layer_norm: expected f32 input, got {}", x.dtype());
  HEED_CHECK(x.ndim() >= 1, "layer_norm: input needs at least 1 dim, got {}", x.shape());
  const int64_t C = x.size(-1);
  HEED_CHECK(!weight.defined() || weight.shape() == Shape{C},
             "layer_norm: weight shape {} does not match input {} (expected ({},))",
             weight.defined() ? weight.shape() : Shape{}, x.shape(), C);
  HEED_CHECK(!bias.defined() || bias.shape() == Shape{C},
             "layer_norm: bias shape {} does not match input {} (expected ({},))",
             bias.defined() ? bias.shape() : Shape{}, x.shape(), C);
  HEED_CHECK(eps > 0.0f, "layer_norm: eps must be positive, got {}", eps);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const int64_t rows = C ? x.numel() / C : 0;
  Tensor out = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty(Shape{rows}), rstd = Tensor::empty(Shape{rows});
  kernels::layer_norm_forward(out.data<float>(), mean.data<float>(), rstd.data<float>(),
                              xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr,
                              bc.defined() ? bc.data<float>() : nullptr, rows, C, eps);
  if (autograd::needs_grad({x, weight, bias})) {
    auto n = std::make_shared<LayerNormBackward>();
    n->x = xc.detach();
    n->weight = wc.defined() ? wc.detach() : Tensor();
    n->mean = mean;
    n->rstd = rstd;
    autograd::connect(n, {x, weight, bias}, {&out});
  }
  return out;
}

}  // namespace heed::ops
