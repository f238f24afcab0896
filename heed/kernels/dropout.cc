#include "heed/kernels/dropout.h"

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/dropout.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format on

#include "heed/base/parallel.h"
#include "heed/base/rng.h"

#ifndef HEED_KERNELS_DROPOUT_SCALAR_
#define HEED_KERNELS_DROPOUT_SCALAR_  // this file is re-included once per target
namespace heed::kernels {
namespace {
// Elements [i0, i1) of the stream, one scalar Philox block per four.
inline void dropout_scalar(float* out, const float* in, int64_t i0, int64_t i1, float p, float s,
                           uint64_t seed, uint64_t offset) {
  uint64_t block = ~uint64_t(0);
  std::array<uint32_t, 4> bits{};
  for (int64_t i = i0; i < i1; ++i) {
    const uint64_t idx = offset + uint64_t(i);
    if ((idx >> 2) != block) {
      block = idx >> 2;
      bits = philox4x32(seed, block);
    }
    out[i] = u32_to_unit(bits[idx & 3]) >= p ? in[i] * s : 0.0f;
  }
}
}  // namespace
}  // namespace heed::kernels
#endif

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void DropoutChunk(float* out, const float* in, int64_t i0, int64_t i1, float p,
                  float s, uint64_t seed, uint64_t offset) {
#if HWY_TARGET == HWY_SCALAR
  dropout_scalar(out, in, i0, i1, p, s, seed, offset);
#else
  const hn::ScalableTag<uint64_t> d64;
  const hn::Repartition<uint32_t, decltype(d64)> d32;
  const size_t L = hn::Lanes(d64);  // Philox blocks per vector
  // Up to the first whole block, scalar.
  int64_t i = i0;
  while (i < i1 && ((offset + uint64_t(i)) & 3) != 0) {
    dropout_scalar(out, in, i, i + 1, p, s, seed, offset);
    ++i;
  }
  const hn::Repartition<float, decltype(d64)> df;
  const hn::Repartition<int32_t, decltype(d64)> di;
  const auto lo32 = hn::Set(d64, 0xFFFFFFFFull);
  const auto m0 = hn::Set(d32, 0xD2511F53u), m1 = hn::Set(d32, 0xCD9E8D57u);
  const auto vp = hn::Set(df, p), vs = hn::Set(df, s), unit = hn::Set(df, 1.0f / 16777216.0f);
  // Lane j computes block j/2 (even j) or L/2 + j/2 (odd j): InterleaveLower/Upper of the
  // per-block outputs then yield the elements in stream order.
  HWY_ALIGN uint64_t perm_buf[HWY_MAX_BYTES / 8];
  for (size_t j = 0; j < L; ++j) perm_buf[j] = (j & 1) ? L / 2 + j / 2 : j / 2;
  const auto perm = hn::Load(d64, perm_buf);
  const int64_t per_vec = int64_t(4 * L);  // elements per Philox vector
  const int64_t half = int64_t(2 * L);     // floats per output vector
  auto apply = [&](decltype(perm) words, int64_t e) {
    const auto u = hn::ShiftRight<8>(hn::BitCast(d32, words));  // 24 random bits
    const auto unif = hn::Mul(hn::ConvertTo(df, hn::BitCast(di, u)), unit);
    const auto x = hn::LoadU(df, in + e);
    hn::StoreU(hn::IfThenElseZero(hn::Ge(unif, vp), hn::Mul(x, vs)), df, out + e);
  };
  for (; i + per_vec <= i1; i += per_vec) {
    const uint64_t b0 = (offset + uint64_t(i)) >> 2;
    // Counters: low words in c0, high words in c1; c2 = c3 = 0.
    const auto ctr = hn::Add(hn::Set(d64, b0), perm);
    auto c0 = hn::And(ctr, lo32), c1 = hn::ShiftRight<32>(ctr);
    auto c2 = hn::Zero(d64), c3 = hn::Zero(d64);
    uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    for (int r = 0; r < 10; ++r) {
      const auto p0 = hn::MulEven(m0, hn::BitCast(d32, c0));  // 32x32 -> 64, even u32 lanes
      const auto p1 = hn::MulEven(m1, hn::BitCast(d32, c2));
      const auto n0 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p1), c1), hn::Set(d64, uint64_t(k0)));
      const auto n2 = hn::Xor(hn::Xor(hn::ShiftRight<32>(p0), c3), hn::Set(d64, uint64_t(k1)));
      c0 = n0;
      c1 = hn::And(p1, lo32);
      c2 = n2;
      c3 = hn::And(p0, lo32);
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // (c0, c1) and (c2, c3) as u32 pairs; interleaved per 128-bit block they are the
    // elements 4 * block + 0..3 of the blocks in lane order (see perm).
    const auto t01 = hn::Or(c0, hn::ShiftLeft<32>(c1)), t23 = hn::Or(c2, hn::ShiftLeft<32>(c3));
    apply(hn::InterleaveLower(d64, t01, t23), i);
    apply(hn::InterleaveUpper(d64, t01, t23), i + half);
  }
  dropout_scalar(out, in, i, i1, p, s, seed, offset);
#endif
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {

HWY_EXPORT(DropoutChunk);

void dropout_apply(float* out, const float* in, int64_t n, float p, uint64_t seed, uint64_t offset) {
  const float s = 1.0f / (1.0f - p);
  parallel_for(n, 4, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(DropoutChunk)(out, in, b, e, p, s, seed, offset);
  });
}

void dropout_apply_ref(float* out, const float* in, int64_t n, float p, uint64_t seed,
                       uint64_t offset) {
  const float s = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i)
    out[i] = philox_uniform(seed, offset + uint64_t(i)) >= p ? in[i] * s : 0.0f;
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
