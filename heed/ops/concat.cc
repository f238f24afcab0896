#include "heed/ops/concat.h"

#include "heed/autograd/node.h"
#include "heed/ops/view.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct ConcatBackward : Node {
  int64_t dim;
  std::vector<int64_t> sizes;
  const char* name() const override { return "concat"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    std::vector<Tensor> r;
    int64_t start = 0;
    for (auto s : sizes) {
      r.push_back(slice(g[0], dim, start, start + s).contiguous());
      start += s;
    }
    return r;
  }
};

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  HEED_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& x0 = xs[0];
  dim = wrap_dim(dim, x0.ndim(), "concat");
  int64_t total = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    HEED_CHECK(x.dtype() == x0.dtype() && x.ndim() == x0.ndim(),
               "concat: tensor {} has dtype {} shape {}, tensor 0 has {} {}", i, x.dtype(),
               x.shape(), x0.dtype(), x0.shape());
    for (int64_t d = 0; d < x.ndim(); ++d)
      HEED_CHECK(d == dim || x.shape()[d] == x0.shape()[d],
                 "concat: shapes {} and {} differ outside dim {}", x0.shape(), x.shape(), dim);
    sizes.push_back(x.shape()[dim]);
    total += x.shape()[dim];
  }
  Shape os = x0.shape();
  os[dim] = total;
  Tensor out = Tensor::empty(os, x0.dtype());
  int64_t start = 0;
  for (const auto& x : xs) {
    Shape sh = os;
    sh[dim] = x.shape()[dim];
    out.as_strided(sh, out.strides(), start * out.strides()[size_t(dim)]).copy_(x);
    start += x.shape()[dim];
  }
  if (autograd::needs_grad(xs)) {
    auto n = std::make_shared<ConcatBackward>();
    n->dim = dim;
    n->sizes = sizes;
    autograd::connect(n, xs, {&out});
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, x.ndim(), "split");
  int64_t total = 0;
  for (auto s : sizes) {
    HEED_CHECK(s >= 0, "split: negative size {}", s);
    total += s;
  }
  HEED_CHECK(total == x.shape()[dim], "split: sizes sum to {} but dim {} of {} has {}", total, dim,
             x.shape(), x.shape()[dim]);
  std::vector<Tensor> out;
  int64_t start = 0;
  for (auto s : sizes) {
    out.push_back(slice(x, dim, start, start + s));
    start += s;
  }
  return out;
}

}  // namespace heed::ops
