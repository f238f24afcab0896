#include "heed/ops/softmax.h"

#include "heed/autograd/node.h"
#include "heed/kernels/softmax.h"
#include "heed/ops/view.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct SoftmaxBackward : Node {
  bool log = false;
  Tensor out;  // (rows, cols) contiguous
  const char* name() const override { return log ? "log_softmax" : "softmax"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const Tensor gc = g[0].contiguous();
    Tensor dx = Tensor::zeros(out.shape());
    const int64_t cols = out.ndim() ? out.size(-1) : 1;
    const int64_t rows = cols ? out.numel() / cols : 0;
    if (log)
      kernels::log_softmax_backward(dx.data<float>(), out.data<float>(), gc.data<float>(), rows,
                                    cols);
    else
      kernels::softmax_backward(dx.data<float>(), out.data<float>(), gc.data<float>(), rows, cols);
    return {dx};
  }
};

Tensor softmax_last(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  HEED_CHECK(x.dtype() == DType::F32, "{}: expected f32, got {}", name, x.dtype());
  HEED_CHECK(x.ndim() >= 1, "{}: needs at least 1 dim, got shape {}", name, x.shape());
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  const int64_t cols = x.size(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  if (log)
    kernels::log_softmax_forward(out.data<float>(), xc.data<float>(), rows, cols);
  else
    kernels::softmax_forward(out.data<float>(), xc.data<float>(), rows, cols);
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<SoftmaxBackward>();
    n->log = log;
    n->out = out.detach();
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

Tensor softmax_dim(const Tensor& x, int64_t dim, bool log) {
  dim = wrap_dim(dim, x.ndim(), log ? "log_softmax" : "softmax");
  if (dim == x.ndim() - 1) return softmax_last(x, log);
  // Move dim last, apply, move back (the transposes are differentiable views).
  return transpose(softmax_last(transpose(x, dim, -1), log), dim, -1);
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_dim(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_dim(x, dim, true); }

}  // namespace heed::ops
