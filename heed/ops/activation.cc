#include "heed/ops/activation.h"

#include "heed/autograd/node.h"
#include "heed/kernels/activation.h"

namespace heed::ops {

using autograd::Node;

namespace {

using FwdFn = void (*)(float*, const float*, int64_t);
using BwdFn = void (*)(float*, const float*, const float*, int64_t);

// The backward of gelu/gelu_tanh/relu reads the input; tanh's reads the output.
struct PointwiseBackward : Node {
  const char* op = "";
  BwdFn bwd = nullptr;
  Tensor saved;  // input, or output for tanh
  const char* name() const override { return op; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const Tensor gc = g[0].contiguous();
    Tensor dx = Tensor::zeros(saved.shape());
    bwd(dx.data<float>(), saved.data<float>(), gc.data<float>(), dx.numel());
    return {dx};
  }
};

Tensor pointwise(const Tensor& x, const char* name, FwdFn fwd, BwdFn bwd, bool save_output) {
  HEED_CHECK(x.dtype() == DType::F32, "{}: expected f32, got {}", name, x.dtype());
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  fwd(out.data<float>(), xc.data<float>(), xc.numel());
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<PointwiseBackward>();
    n->op = name;
    n->bwd = bwd;
    n->saved = save_output ? out.detach() : xc.detach();
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

}  // namespace

Tensor gelu(const Tensor& x) {
  return pointwise(x, "gelu", kernels::gelu_forward, kernels::gelu_backward, false);
}
Tensor gelu_tanh(const Tensor& x) {
  return pointwise(x, "gelu_tanh", kernels::gelu_tanh_forward, kernels::gelu_tanh_backward, false);
}
Tensor relu(const Tensor& x) {
  return pointwise(x, "relu", kernels::relu_forward, kernels::relu_backward, false);
}
Tensor tanh(const Tensor& x) {
  return pointwise(x, "tanh", kernels::tanh_forward, kernels::tanh_backward, true);
}

}  // namespace heed::ops
