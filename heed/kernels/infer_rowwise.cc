#include "heed/kernels/infer_rowwise.h"

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/infer_rowwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "heed/kernels/simd_math_inl.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

constexpr float kInvSqrt2 = 0.70710678118654752f;

inline uint16_t ToBf16Scalar(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// Rounds v to bf16 (nearest even) and stores Lanes(d) uint16 at p.
template <class D>
HWY_INLINE void StoreBf16(D d, hn::Vec<D> v, uint16_t* HWY_RESTRICT p) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint16_t, D> d16;
  auto u = hn::BitCast(du, v);
  const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  u = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), lsb)));
  hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, u)), d16, p);
}

void LayerNormInplaceRows(float* HWY_RESTRICT x, uint16_t* HWY_RESTRICT b16,
                          const float* HWY_RESTRICT weight, const float* HWY_RESTRICT bias,
                          int64_t rows, int64_t cols, float eps) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    float* HWY_RESTRICT row = x + r * cols;
    uint16_t* HWY_RESTRICT brow = b16 ? b16 + r * cols : nullptr;
    auto s0 = hn::Zero(d), s1 = hn::Zero(d);
    size_t i = 0;
    for (; i + 2 * N <= n; i += 2 * N) {
      s0 = hn::Add(s0, hn::LoadU(d, row + i));
      s1 = hn::Add(s1, hn::LoadU(d, row + i + N));
    }
    for (; i + N <= n; i += N) s0 = hn::Add(s0, hn::LoadU(d, row + i));
    if (i < n) s0 = hn::Add(s0, LoadTail(d, row + i, n - i, 0.0f));
    const float mu = ReduceSum(d, hn::Add(s0, s1)) / float(cols);
    const auto vmu = hn::Set(d, mu);
    s0 = hn::Zero(d), s1 = hn::Zero(d);
    i = 0;
    for (; i + 2 * N <= n; i += 2 * N) {
      const auto c0 = hn::Sub(hn::LoadU(d, row + i), vmu);
      const auto c1 = hn::Sub(hn::LoadU(d, row + i + N), vmu);
      s0 = hn::MulAdd(c0, c0, s0);
      s1 = hn::MulAdd(c1, c1, s1);
    }
    for (; i + N <= n; i += N) {
      const auto c0 = hn::Sub(hn::LoadU(d, row + i), vmu);
      s0 = hn::MulAdd(c0, c0, s0);
    }
    if (i < n) {
      const auto c0 = hn::Sub(LoadTail(d, row + i, n - i, mu), vmu);
      s0 = hn::MulAdd(c0, c0, s0);
    }
    const float var = ReduceSum(d, hn::Add(s0, s1)) / float(cols);
    const float rs = 1.0f / std::sqrt(var + eps);
    const auto vrs = hn::Set(d, rs);
    i = 0;
    for (; i + N <= n; i += N) {
      auto v = hn::Mul(hn::Sub(hn::LoadU(d, row + i), vmu), vrs);
      v = hn::MulAdd(v, hn::LoadU(d, weight + i), hn::LoadU(d, bias + i));
      hn::StoreU(v, d, row + i);
      if (brow) StoreBf16(d, v, brow + i);
    }
    for (; i < n; ++i) {
      const float v = (row[i] - mu) * rs * weight[i] + bias[i];
      row[i] = v;
      if (brow) brow[i] = ToBf16Scalar(v);
    }
  }
}

void F32ToBf16(uint16_t* HWY_RESTRICT out, const float* HWY_RESTRICT in, int64_t n64) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(n64);
  size_t i = 0;
  for (; i + N <= n; i += N) StoreBf16(d, hn::LoadU(d, in + i), out + i);
  for (; i < n; ++i) out[i] = ToBf16Scalar(in[i]);
}

void QuantizeRowsU8(uint8_t* HWY_RESTRICT q, float* HWY_RESTRICT scale, int32_t* HWY_RESTRICT zp,
                    const float* HWY_RESTRICT x, int64_t rows, int64_t cols) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<uint8_t, decltype(d)> d8;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* HWY_RESTRICT row = x + r * cols;
    uint8_t* HWY_RESTRICT qrow = q + r * cols;
    auto vmin = hn::Zero(d), vmax = hn::Zero(d);
    size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto v = hn::LoadU(d, row + i);
      vmin = hn::Min(vmin, v);
      vmax = hn::Max(vmax, v);
    }
    float lo = hn::GetLane(hn::MinOfLanes(d, vmin)), hi = hn::GetLane(hn::MaxOfLanes(d, vmax));
    for (size_t j = i; j < n; ++j) lo = std::min(lo, row[j]), hi = std::max(hi, row[j]);
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    const float inv = 1.0f / s;
    const int32_t z = int32_t(std::nearbyint(-lo * inv));
    scale[r] = s;
    zp[r] = z;
    const auto vinv = hn::Set(d, inv);
    const auto vz = hn::Set(di, z), v0 = hn::Zero(di), v255 = hn::Set(di, 255);
    i = 0;
    for (; i + N <= n; i += N) {
      auto qi = hn::Add(hn::NearestInt(hn::Mul(hn::LoadU(d, row + i), vinv)), vz);
      qi = hn::Min(hn::Max(qi, v0), v255);
      hn::StoreU(hn::DemoteTo(d8, qi), d8, qrow + i);
    }
    for (; i < n; ++i) {
      const int32_t v = int32_t(std::nearbyint(row[i] * inv)) + z;
      qrow[i] = uint8_t(std::clamp(v, 0, 255));
    }
  }
}

// GELU with erf from Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), about a third of the
// cost of the exact fdlibm Erf the training kernels use: erf(z) = 1 - poly(t) exp(-z^2),
// t = 1 / (1 + p z) for z = |x| / sqrt(2) >= 0, odd symmetry for x < 0.
template <class D>
HWY_INLINE hn::Vec<D> GeluFast(D d, hn::Vec<D> x) {
  const auto z = hn::Mul(hn::Abs(x), hn::Set(d, kInvSqrt2));
  const auto t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(hn::Set(d, 0.3275911f), z, hn::Set(d, 1.0f)));
  auto p = hn::Set(d, 1.061405429f);
  p = hn::MulAdd(p, t, hn::Set(d, -1.453152027f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.421413741f));
  p = hn::MulAdd(p, t, hn::Set(d, -0.284496736f));
  p = hn::MulAdd(p, t, hn::Set(d, 0.254829592f));
  p = hn::Mul(p, t);
  const auto e = hn::Exp(d, hn::Neg(hn::Mul(z, z)));
  const auto erf_abs = hn::NegMulAdd(p, e, hn::Set(d, 1.0f));  // 1 - p e
  const auto erf = hn::CopySign(erf_abs, x);
  return hn::Mul(hn::Mul(x, hn::Set(d, 0.5f)), hn::Add(hn::Set(d, 1.0f), erf));
}

void Int8EpilogueRows(float* HWY_RESTRICT out, const int32_t* HWY_RESTRICT acc,
                      const float* HWY_RESTRICT row_scale, const int32_t* HWY_RESTRICT row_zp,
                      const float* HWY_RESTRICT col_scale, const int32_t* HWY_RESTRICT col_sum,
                      const float* HWY_RESTRICT bias, int64_t rows, int64_t cols, bool gelu,
                      bool accumulate) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* HWY_RESTRICT a = acc + r * cols;
    float* HWY_RESTRICT o = out + r * cols;
    const auto vzp = hn::Set(di, row_zp[r]);
    const auto vs = hn::Set(d, row_scale[r]);
    size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto c = hn::Sub(hn::LoadU(di, a + i), hn::Mul(vzp, hn::LoadU(di, col_sum + i)));
      auto y = hn::Mul(hn::ConvertTo(d, c), hn::Mul(vs, hn::LoadU(d, col_scale + i)));
      if (bias) y = hn::Add(y, hn::LoadU(d, bias + i));
      if (gelu) y = GeluFast(d, y);
      if (accumulate) y = hn::Add(y, hn::LoadU(d, o + i));
      hn::StoreU(y, d, o + i);
    }
    for (; i < n; ++i) {
      float y = float(a[i] - row_zp[r] * col_sum[i]) * (row_scale[r] * col_scale[i]);
      if (bias) y += bias[i];
      if (gelu) y = 0.5f * y * (1.0f + std::erf(y * kInvSqrt2));
      o[i] = accumulate ? o[i] + y : y;
    }
  }
}

// Row by row: the epilogue into a row of scratch (cache-resident), then its quantization.
void Int8EpilogueQuantizeRows(uint8_t* HWY_RESTRICT q, float* HWY_RESTRICT q_scale,
                              int32_t* HWY_RESTRICT q_zp, float* HWY_RESTRICT scratch,
                              const int32_t* HWY_RESTRICT acc, const float* HWY_RESTRICT row_scale,
                              const int32_t* HWY_RESTRICT row_zp,
                              const float* HWY_RESTRICT col_scale,
                              const int32_t* HWY_RESTRICT col_sum, const float* HWY_RESTRICT bias,
                              int64_t rows, int64_t cols, bool gelu) {
  for (int64_t r = 0; r < rows; ++r) {
    Int8EpilogueRows(scratch, acc + r * cols, row_scale + r, row_zp + r, col_scale, col_sum, bias,
                     1, cols, gelu, false);
    QuantizeRowsU8(q + r * cols, q_scale + r, q_zp + r, scratch, 1, cols);
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "heed/base/parallel.h"

namespace heed::kernels {

HWY_EXPORT(LayerNormInplaceRows);
HWY_EXPORT(F32ToBf16);
HWY_EXPORT(QuantizeRowsU8);
HWY_EXPORT(Int8EpilogueRows);
HWY_EXPORT(Int8EpilogueQuantizeRows);

void layer_norm_inplace_forward(float* x, uint16_t* bf16_out, const float* weight,
                                const float* bias, int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, cols * 3, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(LayerNormInplaceRows)
    (x + r0 * cols, bf16_out ? bf16_out + r0 * cols : nullptr, weight, bias, r1 - r0, cols, eps);
  });
}

void f32_to_bf16(uint16_t* out, const float* in, int64_t n) {
  constexpr int64_t kChunk = 4096;
  parallel_for((n + kChunk - 1) / kChunk, kChunk, [&](int64_t c0, int64_t c1) {
    const int64_t b = c0 * kChunk, e = std::min(n, c1 * kChunk);
    HWY_DYNAMIC_DISPATCH(F32ToBf16)(out + b, in + b, e - b);
  });
}

void quantize_rows_u8(uint8_t* q, float* scale, int32_t* zp, const float* x, int64_t rows,
                      int64_t cols) {
  parallel_for(rows, cols * 2, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(QuantizeRowsU8)
    (q + r0 * cols, scale + r0, zp + r0, x + r0 * cols, r1 - r0, cols);
  });
}

void int8_epilogue(float* out, const int32_t* acc, const float* row_scale, const int32_t* row_zp,
                   const float* col_scale, const int32_t* col_sum, const float* bias, int64_t rows,
                   int64_t cols, bool gelu, bool accumulate) {
  parallel_for(rows, cols * (gelu ? 8 : 2), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(Int8EpilogueRows)
    (out + r0 * cols, acc + r0 * cols, row_scale + r0, row_zp + r0, col_scale, col_sum, bias,
     r1 - r0, cols, gelu, accumulate);
  });
}

void int8_epilogue_quantize(uint8_t* q, float* q_scale, int32_t* q_zp, const int32_t* acc,
                            const float* row_scale, const int32_t* row_zp, const float* col_scale,
                            const int32_t* col_sum, const float* bias, int64_t rows, int64_t cols,
                            bool gelu) {
  parallel_for(rows, cols * (gelu ? 10 : 4), [&](int64_t r0, int64_t r1) {
    std::vector<float> scratch(static_cast<size_t>(cols));
    HWY_DYNAMIC_DISPATCH(Int8EpilogueQuantizeRows)
    (q + r0 * cols, q_scale + r0, q_zp + r0, scratch.data(), acc + r0 * cols, row_scale + r0,
     row_zp + r0, col_scale, col_sum, bias, r1 - r0, cols, gelu);
  });
}

// ------------------------------------------------------------------ scalar twins

namespace {
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
}  // namespace

void layer_norm_inplace_forward_ref(float* x, uint16_t* bf16_out, const float* weight,
                                    const float* bias, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    double mu = 0.0, var = 0.0;
    for (int64_t i = 0; i < cols; ++i) mu += row[i];
    mu /= double(cols);
    for (int64_t i = 0; i < cols; ++i) var += (row[i] - mu) * (row[i] - mu);
    var /= double(cols);
    const double rs = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < cols; ++i) {
      row[i] = float((row[i] - mu) * rs * weight[i] + bias[i]);
      if (bf16_out) bf16_out[r * cols + i] = to_bf16(row[i]);
    }
  }
}

void f32_to_bf16_ref(uint16_t* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = to_bf16(in[i]);
}

void quantize_rows_u8_ref(uint8_t* q, float* scale, int32_t* zp, const float* x, int64_t rows,
                          int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < cols; ++i) lo = std::min(lo, row[i]), hi = std::max(hi, row[i]);
    const float s = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    const float inv = 1.0f / s;
    const int32_t z = int32_t(std::nearbyint(-lo * inv));
    scale[r] = s;
    zp[r] = z;
    for (int64_t i = 0; i < cols; ++i)
      q[r * cols + i] = uint8_t(std::clamp(int32_t(std::nearbyint(row[i] * inv)) + z, 0, 255));
  }
}

void int8_epilogue_ref(float* out, const int32_t* acc, const float* row_scale,
                       const int32_t* row_zp, const float* col_scale, const int32_t* col_sum,
                       const float* bias, int64_t rows, int64_t cols, bool gelu, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t j = r * cols + i;
      double y = double(acc[j] - row_zp[r] * col_sum[i]) * row_scale[r] * col_scale[i];
      if (bias) y += bias[i];
      if (gelu) y = 0.5 * y * (1.0 + std::erf(y / std::sqrt(2.0)));
      out[j] = accumulate ? out[j] + float(y) : float(y);
    }
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
