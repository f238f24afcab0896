#include "heed/io/file_dtype.h"

#include <bit>
#include <cstring>

#include "heed/base/bf16.h"
#include "heed/base/error.h"

namespace heed::io {

// Every reader here interprets file bytes as little-endian in place.
static_assert(std::endian::native == std::endian::little, "heed io assumes a little-endian host");

namespace {

struct Info {
  FileDType type;
  std::string_view name;
  size_t size;
  DType loaded;
};

constexpr Info kInfo[] = {
    {FileDType::BOOL, "BOOL", 1, DType::U8},   {FileDType::U8, "U8", 1, DType::U8},
    {FileDType::I8, "I8", 1, DType::I32},      {FileDType::I16, "I16", 2, DType::I32},
    {FileDType::U16, "U16", 2, DType::I32},    {FileDType::F16, "F16", 2, DType::F32},
    {FileDType::BF16, "BF16", 2, DType::BF16}, {FileDType::I32, "I32", 4, DType::I32},
    {FileDType::U32, "U32", 4, DType::I64},    {FileDType::F32, "F32", 4, DType::F32},
    {FileDType::F64, "F64", 8, DType::F32},    {FileDType::I64, "I64", 8, DType::I64},
};

const Info& info(FileDType t) { return kInfo[static_cast<size_t>(t)]; }

// Widening copy: reads Src little-endian values (possibly unaligned), writes Dst.
template <class Src, class Dst, class F>
void widen(void* out, const uint8_t* in, int64_t n, F&& convert) {
  Dst* dst = static_cast<Dst*>(out);
  for (int64_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, in + i * int64_t(sizeof(Src)), sizeof(Src));
    dst[i] = convert(v);
  }
}

}  // namespace

size_t file_dtype_size(FileDType t) { return info(t).size; }
std::string_view file_dtype_name(FileDType t) { return info(t).name; }
DType loaded_dtype(FileDType t) { return info(t).loaded; }

std::optional<FileDType> file_dtype_from_name(std::string_view name) {
  for (const Info& i : kInfo)
    if (i.name == name) return i.type;
  return std::nullopt;
}

FileDType file_dtype_of(DType t) {
  switch (t) {
    case DType::F32:
      return FileDType::F32;
    case DType::BF16:
      return FileDType::BF16;
    case DType::I32:
      return FileDType::I32;
    case DType::I64:
      return FileDType::I64;
    case DType::U8:
      return FileDType::U8;
  }
  HEED_FAIL("file_dtype_of: unknown dtype {}", int(t));
}

std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::shared_ptr<Storage> load_storage(const uint8_t* data, int64_t numel, FileDType t,
                                      const std::shared_ptr<const void>& owner) {
  const Info& in = info(t);
  const size_t file_bytes = size_t(numel) * in.size;
  const bool same_layout = dtype_size(in.loaded) == in.size;  // BOOL -> U8 is a pure view
  if (same_layout && owner && reinterpret_cast<uintptr_t>(data) % in.size == 0) {
    return Storage::borrow(const_cast<uint8_t*>(data), file_bytes, owner, /*writable=*/false);
  }
  auto out = Storage::allocate(size_t(numel) * dtype_size(in.loaded));
  if (same_layout) {
    if (file_bytes) std::memcpy(out->data(), data, file_bytes);
    return out;
  }
  void* dst = out->data();
  switch (t) {
    case FileDType::F16:
      widen<uint16_t, float>(dst, data, numel, [](uint16_t h) { return f16_to_float(h); });
      break;
    case FileDType::F64:
      widen<double, float>(dst, data, numel, [](double d) { return float(d); });
      break;
    case FileDType::I8:
      widen<int8_t, int32_t>(dst, data, numel, [](int8_t v) { return int32_t(v); });
      break;
    case FileDType::I16:
      widen<int16_t, int32_t>(dst, data, numel, [](int16_t v) { return int32_t(v); });
      break;
    case FileDType::U16:
      widen<uint16_t, int32_t>(dst, data, numel, [](uint16_t v) { return int32_t(v); });
      break;
    case FileDType::U32:
      widen<uint32_t, int64_t>(dst, data, numel, [](uint32_t v) { return int64_t(v); });
      break;
    default:
      HEED_FAIL("load_storage: no conversion for {}", in.name);
  }
  return out;
}

}  // namespace heed::io
