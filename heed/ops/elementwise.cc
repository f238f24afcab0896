#include "heed/ops/elementwise.h"

#include <cmath>

#include "heed/autograd/node.h"
#include "heed/base/parallel.h"

namespace heed::ops {

using autograd::Node;

namespace {

enum class BinOp { Add, Sub, Mul, Div };

const char* op_name(BinOp op) {
  switch (op) {
    case BinOp::Add: return "add";
    case BinOp::Sub: return "sub";
    case BinOp::Mul: return "mul";
    case BinOp::Div: return "div";
  }
  return "?";
}

template <BinOp op>
inline float apply(float a, float b) {
  if constexpr (op == BinOp::Add) return a + b;
  if constexpr (op == BinOp::Sub) return a - b;
  if constexpr (op == BinOp::Mul) return a * b;
  return a / b;
}

template <BinOp op>
Tensor binary_forward(const Tensor& a, const Tensor& b) {
  HEED_CHECK(a.dtype() == DType::F32 && b.dtype() == DType::F32,
             "{}: expected f32 tensors, got {} and {}", op_name(op), a.dtype(), b.dtype());
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op_name(op));
  Tensor out = Tensor::empty(shape);
  float* o = out.data<float>();
  const int64_t n = out.numel();
  if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    parallel_for(n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = apply<op>(pa[i], pb[i]);
    });
    return out;
  }
  if (a.shape() == shape && a.is_contiguous() && b.is_contiguous() && b.numel() > 0 &&
      n % b.numel() == 0 && shape.ndim() >= b.ndim()) {
    // b matches the trailing dims of a (e.g. a bias row): loop rows.
    bool trailing = true;
    for (int64_t i = 0; i < b.ndim(); ++i)
      trailing &= b.shape()[i] == shape[shape.ndim() - b.ndim() + i];
    if (trailing) {
      const int64_t cols = b.numel();
      const float* pa = a.data<float>();
      const float* pb = b.data<float>();
      parallel_for(n / cols, cols, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t j = 0; j < cols; ++j)
            o[r * cols + j] = apply<op>(pa[r * cols + j], pb[j]);
      });
      return out;
    }
  }
  // General strided broadcast.
  const auto sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  const float* pa = static_cast<const float*>(a.storage()->data()) + a.offset();
  const float* pb = static_cast<const float*>(b.storage()->data()) + b.offset();
  std::vector<int64_t> boff(static_cast<size_t>(n));
  for_each_strided(shape, sb, [&](int64_t i, int64_t s) { boff[size_t(i)] = s; });
  for_each_strided(shape, sa,
                   [&](int64_t i, int64_t s) { o[i] = apply<op>(pa[s], pb[boff[size_t(i)]]); });
  return out;
}

struct AddSubBackward : Node {
  Shape a_shape, b_shape;
  float b_sign = 1.0f;
  const char* name() const override { return b_sign > 0 ? "add" : "sub"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs_input_grad(0)) r[0] = sum_to_shape(g[0], a_shape);
    if (needs_input_grad(1))
      r[1] = sum_to_shape(b_sign > 0 ? g[0] : scale(g[0], -1.0f), b_shape);
    return r;
  }
};

struct MulBackward : Node {
  Tensor a, b;
  const char* name() const override { return "mul"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    if (needs_input_grad(0)) r[0] = sum_to_shape(mul(g[0], b), a.shape());
    if (needs_input_grad(1)) r[1] = sum_to_shape(mul(g[0], a), b.shape());
    return r;
  }
};

struct DivBackward : Node {
  Tensor a, b;
  const char* name() const override { return "div"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    std::vector<Tensor> r(2);
    const Tensor ga = div(g[0], b);
    if (needs_input_grad(0)) r[0] = sum_to_shape(ga, a.shape());
    // d(a/b)/db = -a/b^2 = -(g/b) * (a/b)
    if (needs_input_grad(1)) r[1] = sum_to_shape(neg(mul(ga, div(a, b))), b.shape());
    return r;
  }
};

struct ScaleBackward : Node {
  float s = 1.0f;
  const char* name() const override { return "scale"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {scale(g[0], s)}; }
};

struct IdentityBackward : Node {
  const char* name() const override { return "add_scalar"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {g[0]}; }
};

struct SqrtBackward : Node {
  Tensor out;  // sqrt(x)
  const char* name() const override { return "sqrt"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {div(scale(g[0], 0.5f), out)};  // d sqrt(x) = g / (2 sqrt(x))
  }
};

}  // namespace

Tensor sqrt(const Tensor& x) {
  HEED_CHECK(x.dtype() == DType::F32, "sqrt: expected f32, got {}", x.dtype());
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  const float* p = xc.data<float>();
  float* o = out.data<float>();
  parallel_for(out.numel(), 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = std::sqrt(p[i]);
  });
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<SqrtBackward>();
    n->out = out.detach();
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward<BinOp::Add>(a, b);
  if (autograd::needs_grad({a, b})) {
    auto n = std::make_shared<AddSubBackward>();
    n->a_shape = a.shape();
    n->b_shape = b.shape();
    autograd::connect(n, {a, b}, {&out});
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward<BinOp::Sub>(a, b);
  if (autograd::needs_grad({a, b})) {
    auto n = std::make_shared<AddSubBackward>();
    n->a_shape = a.shape();
    n->b_shape = b.shape();
    n->b_sign = -1.0f;
    autograd::connect(n, {a, b}, {&out});
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward<BinOp::Mul>(a, b);
  if (autograd::needs_grad({a, b})) {
    auto n = std::make_shared<MulBackward>();
    n->a = a.detach();
    n->b = b.detach();
    autograd::connect(n, {a, b}, {&out});
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward<BinOp::Div>(a, b);
  if (autograd::needs_grad({a, b})) {
    auto n = std::make_shared<DivBackward>();
    n->a = a.detach();
    n->b = b.detach();
    autograd::connect(n, {a, b}, {&out});
  }
  return out;
}

Tensor scale(const Tensor& x, float s) {
  HEED_CHECK(x.dtype() == DType::F32, "scale: expected f32, got {}", x.dtype());
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  const float* p = xc.data<float>();
  float* o = out.data<float>();
  parallel_for(out.numel(), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = p[i] * s;
  });
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<ScaleBackward>();
    n->s = s;
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

Tensor add_scalar(const Tensor& x, float s) {
  HEED_CHECK(x.dtype() == DType::F32, "add_scalar: expected f32, got {}", x.dtype());
  const Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape());
  const float* p = xc.data<float>();
  float* o = out.data<float>();
  parallel_for(out.numel(), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = p[i] + s;
  });
  if (autograd::needs_grad({x})) autograd::connect(std::make_shared<IdentityBackward>(), {x}, {&out});
  return out;
}

Tensor neg(const Tensor& x) { return scale(x, -1.0f); }

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  HEED_CHECK(broadcast_shapes(shape, g.shape(), "sum_to_shape") == g.shape(),
             "sum_to_shape: {} does not broadcast to {}", shape, g.shape());
  Tensor out = Tensor::zeros(shape);
  const Tensor gc = g.contiguous();
  const float* pg = gc.data<float>();
  float* o = out.data<float>();
  // Fast path: shape equals the trailing dims of g (bias-like): sum rows.
  if (out.numel() > 0 && g.numel() % out.numel() == 0 && shape.ndim() <= g.ndim()) {
    bool trailing = true;
    for (int64_t i = 0; i < shape.ndim(); ++i)
      trailing &= shape[i] == g.shape()[g.ndim() - shape.ndim() + i];
    if (trailing) {
      const int64_t cols = out.numel(), rows = g.numel() / cols;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) o[j] += pg[r * cols + j];
      return out;
    }
  }
  const auto so = broadcast_strides(out, g.shape());
  for_each_strided(g.shape(), so, [&](int64_t i, int64_t s) { o[s] += pg[i]; });
  return out;
}

}  // namespace heed::ops
