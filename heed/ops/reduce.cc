#include "heed/ops/reduce.h"

#include "heed/autograd/node.h"
#include "heed/base/parallel.h"
#include "heed/ops/view.h"

namespace heed::ops {

using autograd::Node;

namespace {

// View x (contiguous) as (outer, n, inner) around dim.
struct Split3 {
  int64_t outer = 1, n = 1, inner = 1;
};
Split3 split3(const Shape& s, int64_t dim) {
  Split3 r;
  for (int64_t i = 0; i < s.ndim(); ++i) {
    if (i < dim) r.outer *= s[i];
    else if (i == dim) r.n = s[i];
    else r.inner *= s[i];
  }
  return r;
}

Shape reduced_shape(const Shape& s, int64_t dim, bool keepdim) {
  std::vector<int64_t> d = s.dims();
  if (keepdim) d[size_t(dim)] = 1;
  else d.erase(d.begin() + dim);
  return Shape(d);
}

// Broadcast g (reduced shape) back over dim of `shape`, times factor.
Tensor expand_back(const Tensor& g, const Shape& shape, int64_t dim, float factor) {
  const Tensor gc = g.contiguous();
  Tensor out = Tensor::empty(shape);
  const auto p = split3(shape, dim);
  const float* pg = gc.data<float>();
  float* o = out.data<float>();
  for (int64_t a = 0; a < p.outer; ++a)
    for (int64_t i = 0; i < p.n; ++i)
      for (int64_t c = 0; c < p.inner; ++c)
        o[(a * p.n + i) * p.inner + c] = pg[a * p.inner + c] * factor;
  return out;
}

// For each (outer, inner) position: the max along dim (into best, if given) and the
// index of its first occurrence (into arg). A NaN wins, as in torch.max.
void argmax_along(const float* px, const Split3& p, float* best_out, int64_t* arg) {
  for (int64_t a = 0; a < p.outer; ++a)
    for (int64_t c = 0; c < p.inner; ++c) {
      float best = px[a * p.n * p.inner + c];
      int64_t bi = 0;
      for (int64_t i = 1; i < p.n; ++i) {
        const float v = px[(a * p.n + i) * p.inner + c];
        if (v > best || (v != v && best == best)) {
          best = v;
          bi = i;
        }
      }
      if (best_out) best_out[a * p.inner + c] = best;
      arg[a * p.inner + c] = bi;
    }
}

struct SumAllBackward : Node {
  Shape in_shape;
  float factor = 1.0f;
  const char* name() const override { return "sum"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {Tensor::full(in_shape, g[0].item() * factor)};
  }
};

struct SumDimBackward : Node {
  Shape in_shape;
  int64_t dim;
  float factor = 1.0f;
  const char* name() const override { return "sum_dim"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {expand_back(g[0], in_shape, dim, factor)};
  }
};

struct MaxBackward : Node {
  Shape in_shape;
  int64_t dim;
  std::vector<int64_t> arg;  // (outer*inner) positions along dim
  const char* name() const override { return "max"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    Tensor dx = Tensor::zeros(in_shape);
    const Tensor gc = g[0].contiguous();
    const auto p = split3(in_shape, dim);
    const float* pg = gc.data<float>();
    float* o = dx.data<float>();
    for (int64_t a = 0; a < p.outer; ++a)
      for (int64_t c = 0; c < p.inner; ++c)
        o[(a * p.n + arg[size_t(a * p.inner + c)]) * p.inner + c] = pg[a * p.inner + c];
    return {dx};
  }
};

Tensor sum_dim_impl(const Tensor& x, int64_t dim, bool keepdim, float factor, const char* name) {
  HEED_CHECK(x.dtype() == DType::F32, "{}: expected f32, got {}", name, x.dtype());
  dim = wrap_dim(dim, x.ndim(), name);
  const Tensor xc = x.contiguous();
  const auto p = split3(x.shape(), dim);
  Tensor out = Tensor::zeros(reduced_shape(x.shape(), dim, keepdim));
  const float* px = xc.data<float>();
  float* o = out.data<float>();
  parallel_for(p.outer, p.n * p.inner, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a)
      for (int64_t i = 0; i < p.n; ++i)
        for (int64_t c = 0; c < p.inner; ++c) o[a * p.inner + c] += px[(a * p.n + i) * p.inner + c];
    for (int64_t j = a0 * p.inner; j < a1 * p.inner; ++j) o[j] *= factor;
  });
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<SumDimBackward>();
    n->in_shape = x.shape();
    n->dim = dim;
    n->factor = factor;
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

Tensor sum_all_impl(const Tensor& x, float factor, const char* name) {
  HEED_CHECK(x.dtype() == DType::F32, "{}: expected f32, got {}", name, x.dtype());
  const Tensor xc = x.contiguous();
  const float* p = xc.data<float>();
  double acc = 0.0;  // double accumulation: sums of millions of floats stay exact enough
  for (int64_t i = 0; i < xc.numel(); ++i) acc += p[i];
  Tensor out = Tensor::scalar(float(acc * factor));
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<SumAllBackward>();
    n->in_shape = x.shape();
    n->factor = factor;
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x) { return sum_all_impl(x, 1.0f, "sum"); }
Tensor mean(const Tensor& x) {
  HEED_CHECK(x.numel() > 0, "mean: empty tensor of shape {}", x.shape());
  return sum_all_impl(x, 1.0f / float(x.numel()), "mean");
}
Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  return sum_dim_impl(x, dim, keepdim, 1.0f, "sum");
}
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, x.ndim(), "mean");
  HEED_CHECK(x.shape()[d] > 0, "mean: empty dim {} of shape {}", d, x.shape());
  return sum_dim_impl(x, d, keepdim, 1.0f / float(x.shape()[d]), "mean");
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  HEED_CHECK(x.dtype() == DType::F32, "max: expected f32, got {}", x.dtype());
  dim = wrap_dim(dim, x.ndim(), "max");
  HEED_CHECK(x.shape()[dim] > 0, "max: empty dim {} of shape {}", dim, x.shape());
  const Tensor xc = x.contiguous();
  const auto p = split3(x.shape(), dim);
  Tensor out = Tensor::empty(reduced_shape(x.shape(), dim, keepdim));
  std::vector<int64_t> arg(static_cast<size_t>(p.outer * p.inner), 0);
  argmax_along(xc.data<float>(), p, out.data<float>(), arg.data());
  if (autograd::needs_grad({x})) {
    auto n = std::make_shared<MaxBackward>();
    n->in_shape = x.shape();
    n->dim = dim;
    n->arg = std::move(arg);
    autograd::connect(n, {x}, {&out});
  }
  return out;
}

Tensor argmax(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.ndim(), "argmax");
  HEED_CHECK(x.shape()[dim] > 0, "argmax: empty dim {} of shape {}", dim, x.shape());
  const Tensor xc = x.contiguous().to(DType::F32);
  const auto p = split3(x.shape(), dim);
  Tensor out = Tensor::empty(reduced_shape(x.shape(), dim, false), DType::I64);
  argmax_along(xc.data<float>(), p, nullptr, out.data<int64_t>());
  return out;
}

}  // namespace heed::ops
