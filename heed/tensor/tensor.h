// Tensor: a shared handle to (storage, shape, strides, offset, dtype) plus the
// autograd state (requires_grad, grad, grad_fn). Copying a Tensor copies the handle.
// This layer has only non-differentiable data access; differentiable functions,
// including differentiable views, live in heed::ops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/base/error.h"
#include "heed/base/rng.h"
#include "heed/tensor/dtype.h"
#include "heed/tensor/shape.h"
#include "heed/tensor/storage.h"

namespace heed {

namespace autograd {
class Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::vector<int64_t> strides;  // in elements
  int64_t offset = 0;            // in elements
  DType dtype = DType::F32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;                   // which output of grad_fn this is
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor scalar(float value) { return full(Shape{}, value); }
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor randn(const Shape& shape, Generator& gen, float mean = 0.0f, float std = 1.0f);
  static Tensor rand(const Shape& shape, Generator& gen, float lo = 0.0f, float hi = 1.0f);
  static Tensor arange(int64_t n, DType dtype = DType::I64);
  // Wraps existing storage (e.g. a memory-mapped checkpoint) without copying.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype,
                             int64_t offset = 0);

  // ---- metadata -------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t ndim() const { return impl().shape.ndim(); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  int64_t numel() const { return impl().shape.numel(); }
  const std::vector<int64_t>& strides() const { return impl().strides; }
  int64_t stride(int64_t dim) const;
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }

  // Pointer to the first element; checks the dtype.
  template <class T>
  T* data() const {
    HEED_CHECK(dtype() == dtype_of<T>(), "tensor of dtype {} accessed as {}", dtype(),
               dtype_of<T>());
    return static_cast<T*>(impl().storage->data()) + impl().offset;
  }
  void* raw_data() const {
    return static_cast<char*>(impl().storage->data()) + impl().offset * dtype_size(dtype());
  }
  float item() const;                     // one element, converted to float
  std::vector<float> to_vector() const;   // all elements in logical order, as float
  std::vector<int64_t> to_ids() const;    // integer tensors, in logical order

  // ---- non-differentiable data operations ----------------------------------
  Tensor as_strided(const Shape& shape, std::vector<int64_t> strides, int64_t offset) const;
  Tensor contiguous() const;  // self when already contiguous, else a detached copy
  Tensor clone() const;       // deep contiguous copy, detached
  Tensor detach() const;      // shares storage, no autograd history
  Tensor to(DType dtype) const;  // converted contiguous copy (self if same dtype)
  void copy_(const Tensor& src);  // same shape; converts dtype
  void fill_(float value);

  // ---- autograd state -------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool r);
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& g) { impl().grad = g.impl_; }
  void zero_grad() { impl().grad.reset(); }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }

  TensorImpl& impl() const {
    HEED_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Normalises a possibly negative dim; errors name the op.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// Numpy-style broadcast of two shapes; errors name the op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides that view `t` as `target` (stride 0 on broadcast dims). t must broadcast to target.
std::vector<int64_t> broadcast_strides(const Tensor& t, const Shape& target);

// Calls f(dst_index, src_offset) for every element of `shape` in row-major order,
// where src_offset is computed from `strides` (elements). Used for strided copies.
template <class F>
void for_each_strided(const Shape& shape, const std::vector<int64_t>& strides, F&& f) {
  const int64_t nd = shape.ndim();
  const int64_t n = shape.numel();
  if (n == 0) return;
  if (nd == 0) {
    f(int64_t{0}, int64_t{0});
    return;
  }
  std::vector<int64_t> idx(size_t(nd), 0);
  int64_t src = 0;
  const int64_t last = shape[nd - 1], last_stride = strides[size_t(nd - 1)];
  for (int64_t i = 0; i < n; i += last) {
    for (int64_t j = 0; j < last; ++j) f(i + j, src + j * last_stride);
    for (int64_t d = nd - 2; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[d]) {
        src += strides[size_t(d)];
        break;
      }
      src -= strides[size_t(d)] * (shape[d] - 1);
      idx[size_t(d)] = 0;
    }
  }
}

}  // namespace heed
