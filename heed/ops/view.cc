#include "heed/ops/view.h"

#include <algorithm>
#include <numeric>

#include "heed/autograd/node.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct ReshapeBackward : Node {
  Shape in_shape;
  const char* name() const override { return "reshape"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {reshape(g[0], in_shape)};
  }
};

struct PermuteBackward : Node {
  std::vector<int64_t> inverse;
  const char* name() const override { return "permute"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    return {permute(g[0], inverse)};
  }
};

struct SliceBackward : Node {
  Shape in_shape;
  int64_t dim, start, step;
  const char* name() const override { return "slice"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    Tensor dx = Tensor::zeros(in_shape);
    const int64_t n = g[0].size(dim);
    std::vector<int64_t> st = dx.strides();
    Shape sh = dx.shape();
    sh[dim] = n;
    const int64_t off = start * st[size_t(dim)];
    st[size_t(dim)] *= step;
    dx.as_strided(sh, st, off).copy_(g[0]);
    return {dx};
  }
};

struct ContiguousBackward : Node {
  const char* name() const override { return "contiguous"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override { return {g[0]}; }
};

Tensor record(Tensor out, const Tensor& x, std::shared_ptr<Node> node) {
  if (autograd::needs_grad({x})) autograd::connect(node, {x}, {&out});
  return out;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  std::vector<int64_t> dims = shape_in.dims();
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      HEED_CHECK(infer < 0, "reshape: more than one -1 in {}", shape_in);
      infer = int64_t(i);
    } else {
      HEED_CHECK(dims[i] >= 0, "reshape: negative size in {}", shape_in);
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    HEED_CHECK(known != 0 && x.numel() % known == 0, "reshape: cannot view {} as {}", x.shape(),
               shape_in);
    dims[size_t(infer)] = x.numel() / known;
  }
  const Shape shape(dims);
  HEED_CHECK(shape.numel() == x.numel(), "reshape: cannot view {} ({} elements) as {}",
             x.shape(), x.numel(), shape);
  const Tensor base = x.is_contiguous() ? x : x.contiguous();
  Tensor out = base.as_strided(shape, contiguous_strides(shape), base.offset());
  auto node = std::make_shared<ReshapeBackward>();
  node->in_shape = x.shape();
  return record(out, x, node);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims_in) {
  const int64_t nd = x.ndim();
  HEED_CHECK(int64_t(dims_in.size()) == nd, "permute: {} dims given for a tensor of shape {}",
             dims_in.size(), x.shape());
  std::vector<int64_t> dims(static_cast<size_t>(nd)), inverse(static_cast<size_t>(nd), -1);
  std::vector<int64_t> sh(static_cast<size_t>(nd)), st(static_cast<size_t>(nd));
  for (int64_t i = 0; i < nd; ++i) {
    const int64_t d = wrap_dim(dims_in[size_t(i)], nd, "permute");
    HEED_CHECK(inverse[size_t(d)] < 0, "permute: dim {} repeated", d);
    inverse[size_t(d)] = i;
    dims[size_t(i)] = d;
    sh[size_t(i)] = x.shape()[d];
    st[size_t(i)] = x.strides()[size_t(d)];
  }
  Tensor out = x.as_strided(Shape(sh), st, x.offset());
  auto node = std::make_shared<PermuteBackward>();
  node->inverse = inverse;
  return record(out, x, node);
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  const int64_t nd = x.ndim();
  std::vector<int64_t> dims(static_cast<size_t>(nd));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(wrap_dim(dim0, nd, "transpose"))],
            dims[size_t(wrap_dim(dim1, nd, "transpose"))]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = wrap_dim(dim, x.ndim(), "slice");
  const int64_t n = x.shape()[dim];
  HEED_CHECK(step >= 1, "slice: step must be >= 1, got {}", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  const int64_t len = (end - start + step - 1) / step;
  Shape sh = x.shape();
  sh[dim] = len;
  std::vector<int64_t> st = x.strides();
  const int64_t off = x.offset() + start * st[size_t(dim)];
  st[size_t(dim)] *= step;
  Tensor out = x.as_strided(sh, st, off);
  auto node = std::make_shared<SliceBackward>();
  node->in_shape = x.shape();
  node->dim = dim;
  node->start = start;
  node->step = step;
  return record(out, x, node);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  dim = wrap_dim(dim, x.ndim(), "select");
  const int64_t n = x.shape()[dim];
  HEED_CHECK(index >= -n && index < n, "select: index {} out of range for dim {} of shape {}",
             index, dim, x.shape());
  if (index < 0) index += n;
  return squeeze(slice(x, dim, index, index + 1), dim);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.ndim() + 1, "unsqueeze");
  std::vector<int64_t> sh = x.shape().dims();
  sh.insert(sh.begin() + dim, 1);
  return reshape(x.is_contiguous() ? x : contiguous(x), Shape(sh));
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.ndim(), "squeeze");
  HEED_CHECK(x.shape()[dim] == 1, "squeeze: dim {} of shape {} is not 1", dim, x.shape());
  // A size-1 dim can be dropped from any strided view without copying.
  std::vector<int64_t> sh = x.shape().dims(), st = x.strides();
  sh.erase(sh.begin() + dim);
  st.erase(st.begin() + dim);
  Tensor out = x.as_strided(Shape(sh), st, x.offset());
  auto node = std::make_shared<ReshapeBackward>();
  node->in_shape = x.shape();
  return record(out, x, node);
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = x.clone();
  return record(out, x, std::make_shared<ContiguousBackward>());
}

}  // namespace heed::ops
