#include "heed/tensor/tensor.h"

#include <cstring>

namespace heed {

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(static_cast<size_t>(s.ndim()));
  int64_t acc = 1;
  for (int64_t i = s.ndim() - 1; i >= 0; --i) {
    st[size_t(i)] = acc;
    acc *= s[i];
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t d = dim < 0 ? dim + ndim : dim;
  HEED_CHECK(d >= 0 && d < std::max<int64_t>(ndim, 1), "{}: dim {} out of range for a {}-d tensor",
             op, dim, ndim);
  return d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int64_t n = std::max(a.ndim(), b.ndim());
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.ndim() ? 1 : a[i - (n - a.ndim())];
    const int64_t db = i < n - b.ndim() ? 1 : b[i - (n - b.ndim())];
    HEED_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} cannot be broadcast", op, a,
               b);
    out[size_t(i)] = da == 1 ? db : da;
  }
  return Shape(std::move(out));
}

std::vector<int64_t> broadcast_strides(const Tensor& t, const Shape& target) {
  const int64_t n = target.ndim(), k = t.ndim();
  std::vector<int64_t> st(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t ti = n - k + i;
    st[size_t(ti)] = t.shape()[i] == 1 && target[ti] != 1 ? 0 : t.strides()[size_t(i)];
  }
  return st;
}

static std::shared_ptr<TensorImpl> make_impl(std::shared_ptr<Storage> st, const Shape& shape,
                                             DType dtype, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(st);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->offset = offset;
  impl->dtype = dtype;
  return impl;
}

// Number of elements, or an error when a dim is negative or the product overflows.
static int64_t checked_numel(const Shape& shape, const char* op) {
  int64_t n = 1;
  for (auto d : shape) {
    HEED_CHECK(d >= 0, "{}: negative size in shape {}", op, shape);
    HEED_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= (int64_t(1) << 48),
               "{}: shape {} is too large", op, shape);
  }
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  checked_numel(shape, "empty");
  return Tensor(make_impl(Storage::allocate(size_t(shape.numel()) * dtype_size(dtype)), shape,
                          dtype, 0));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  checked_numel(shape, "zeros");
  return Tensor(make_impl(Storage::allocate(size_t(shape.numel()) * dtype_size(dtype), true),
                          shape, dtype, 0));
}

Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  HEED_CHECK(int64_t(values.size()) == shape.numel(),
             "from_vector: {} values do not fill shape {}", values.size(), shape);
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&);

Tensor Tensor::randn(const Shape& shape, Generator& gen, float mean, float std) {
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * gen.normal();
  return t;
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, float lo, float hi) {
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * gen.uniform();
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty(Shape{n}, dtype);
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::I64: t.data<int64_t>()[i] = i; break;
      case DType::I32: t.data<int32_t>()[i] = int32_t(i); break;
      case DType::F32: t.data<float>()[i] = float(i); break;
      default: HEED_FAIL("arange: unsupported dtype {}", dtype);
    }
  }
  return t;
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype,
                            int64_t offset) {
  HEED_CHECK(storage != nullptr, "from_storage: null storage");
  const size_t need = size_t(offset + shape.numel()) * dtype_size(dtype);
  HEED_CHECK(need <= storage->nbytes(),
             "from_storage: shape {} of {} at offset {} needs {} bytes, storage has {}", shape,
             dtype, offset, need, storage->nbytes());
  return Tensor(make_impl(std::move(storage), shape, dtype, offset));
}

int64_t Tensor::size(int64_t dim) const { return shape()[wrap_dim(dim, ndim(), "size")]; }
int64_t Tensor::stride(int64_t dim) const {
  return strides()[size_t(wrap_dim(dim, ndim(), "stride"))];
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t i = ndim() - 1; i >= 0; --i) {
    if (shape()[i] != 1 && strides()[size_t(i)] != acc) return false;
    acc *= shape()[i];
  }
  return true;
}

static float load_as_float(const void* base, DType dt, int64_t i) {
  switch (dt) {
    case DType::F32: return static_cast<const float*>(base)[i];
    case DType::BF16: return bf16_to_float(static_cast<const bf16*>(base)[i]);
    case DType::I32: return float(static_cast<const int32_t*>(base)[i]);
    case DType::I64: return float(static_cast<const int64_t*>(base)[i]);
    case DType::U8: return float(static_cast<const uint8_t*>(base)[i]);
  }
  return 0.0f;
}

float Tensor::item() const {
  HEED_CHECK(numel() == 1, "item: tensor of shape {} has {} elements, expected 1", shape(),
             numel());
  return load_as_float(impl().storage->data(), dtype(), offset());
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  const void* base = impl().storage->data();
  const DType dt = dtype();
  const int64_t off = offset();
  for_each_strided(shape(), strides(),
                   [&](int64_t i, int64_t s) { out[size_t(i)] = load_as_float(base, dt, off + s); });
  return out;
}

std::vector<int64_t> Tensor::to_ids() const {
  HEED_CHECK(dtype() == DType::I64 || dtype() == DType::I32 || dtype() == DType::U8,
             "to_ids: tensor has dtype {}, expected an integer dtype", dtype());
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  const char* base = static_cast<const char*>(impl().storage->data());
  const DType dt = dtype();
  const int64_t off = offset();
  for_each_strided(shape(), strides(), [&](int64_t i, int64_t s) {
    const int64_t j = off + s;
    out[size_t(i)] = dt == DType::I64   ? reinterpret_cast<const int64_t*>(base)[j]
                     : dt == DType::I32 ? reinterpret_cast<const int32_t*>(base)[j]
                                        : reinterpret_cast<const uint8_t*>(base)[j];
  });
  return out;
}

Tensor Tensor::as_strided(const Shape& shape, std::vector<int64_t> strides, int64_t offset) const {
  HEED_CHECK(int64_t(strides.size()) == shape.ndim(), "as_strided: {} strides for shape {}",
             strides.size(), shape);
  auto impl2 = std::make_shared<TensorImpl>();
  impl2->storage = impl().storage;
  impl2->shape = shape;
  impl2->strides = std::move(strides);
  impl2->offset = offset;
  impl2->dtype = dtype();
  return Tensor(impl2);
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  out.copy_(*this);
  return out;
}

Tensor Tensor::detach() const { return as_strided(shape(), strides(), offset()); }

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt);
  out.copy_(*this);
  return out;
}

void Tensor::copy_(const Tensor& src) {
  HEED_CHECK(src.shape() == shape(), "copy_: source shape {} differs from destination {}",
             src.shape(), shape());
  HEED_CHECK(storage()->writable(), "copy_: destination is read-only (memory-mapped) storage");
  const size_t es = dtype_size(dtype());
  if (src.dtype() == dtype() && src.is_contiguous() && is_contiguous()) {
    if (numel()) std::memmove(raw_data(), src.raw_data(), size_t(numel()) * es);
    return;
  }
  // Generic path: gather the source in logical order, scatter into the destination.
  Tensor dst_view = *this;
  const DType sdt = src.dtype(), ddt = dtype();
  const char* sbase = static_cast<const char*>(src.storage()->data());
  char* dbase = static_cast<char*>(storage()->data());
  std::vector<int64_t> doffs(static_cast<size_t>(numel()));
  for_each_strided(shape(), strides(), [&](int64_t i, int64_t d) { doffs[size_t(i)] = offset() + d; });
  const int64_t soff = src.offset();
  for_each_strided(src.shape(), src.strides(), [&](int64_t i, int64_t s) {
    const int64_t d = doffs[size_t(i)];
    if (sdt == ddt) {
      std::memcpy(dbase + d * int64_t(es), sbase + (soff + s) * int64_t(es), es);
      return;
    }
    const float v = load_as_float(sbase, sdt, soff + s);
    switch (ddt) {
      case DType::F32: reinterpret_cast<float*>(dbase)[d] = v; break;
      case DType::BF16: reinterpret_cast<bf16*>(dbase)[d] = float_to_bf16(v); break;
      case DType::I32: reinterpret_cast<int32_t*>(dbase)[d] = int32_t(v); break;
      case DType::I64: {
        // Integer to integer without a float round trip (ids above 2^24).
        int64_t iv = sdt == DType::I32 ? reinterpret_cast<const int32_t*>(sbase)[soff + s]
                     : sdt == DType::U8 ? reinterpret_cast<const uint8_t*>(sbase)[soff + s]
                                        : int64_t(v);
        reinterpret_cast<int64_t*>(dbase)[d] = iv;
        break;
      }
      case DType::U8: reinterpret_cast<uint8_t*>(dbase)[d] = uint8_t(v != 0.0f); break;
    }
  });
}

void Tensor::fill_(float value) {
  HEED_CHECK(dtype() == DType::F32, "fill_: only f32 tensors, got {}", dtype());
  HEED_CHECK(storage()->writable(), "fill_: tensor is read-only (memory-mapped) storage");
  float* base = static_cast<float*>(storage()->data()) + offset();
  for_each_strided(shape(), strides(), [&](int64_t, int64_t s) { base[s] = value; });
}

Tensor& Tensor::set_requires_grad(bool r) {
  HEED_CHECK(!r || dtype() == DType::F32, "requires_grad needs an f32 tensor, got {}", dtype());
  HEED_CHECK(!r || is_leaf(), "requires_grad can only be set on leaf tensors");
  impl().requires_grad = r;
  return *this;
}

}  // namespace heed
