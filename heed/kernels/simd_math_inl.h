// Per-target SIMD helpers shared by the row-wise kernels: vector erf, and loads/stores
// of a row's last partial vector. Highway "-inl" header: include it after
// hwy/foreach_target.h and hwy/highway.h; it is re-expanded once per target.

// Per-target include guard (the toggle pattern from hwy/highway.h).
#if defined(HEED_KERNELS_SIMD_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HEED_KERNELS_SIMD_MATH_INL_H_
#undef HEED_KERNELS_SIMD_MATH_INL_H_
#else
#define HEED_KERNELS_SIMD_MATH_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The n < Lanes(d) floats at p, padded with fill. Goes through a stack buffer so we never
// read past the end of the row (hwy 1.0.3's EMU128 MaskedLoad reads a whole vector).
template <class D>
HWY_INLINE hn::Vec<D> LoadTail(D d, const float* HWY_RESTRICT p, size_t n, float fill) {
  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
  const size_t N = hn::Lanes(d);
  for (size_t i = 0; i < N; ++i) buf[i] = i < n ? p[i] : fill;
  return hn::Load(d, buf);
}

// Stores the first n < Lanes(d) lanes of v to p.
template <class D>
HWY_INLINE void StoreTail(D d, hn::Vec<D> v, float* HWY_RESTRICT p, size_t n) {
  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buf);
  for (size_t i = 0; i < n; ++i) p[i] = buf[i];
}

template <class D>
HWY_INLINE float ReduceSum(D d, hn::Vec<D> v) {
  return hn::GetLane(hn::SumOfLanes(d, v));
}
template <class D>
HWY_INLINE float ReduceMax(D d, hn::Vec<D> v) {
  return hn::GetLane(hn::MaxOfLanes(d, v));
}

// ---- Row reductions. Long sums run in blocks of kSumBlock floats whose partial sums are
// added in double, so accuracy does not depend on the vector width: a 30522-wide row on
// the 1-lane scalar fallback is summed as accurately as with AVX-512.
constexpr size_t kSumBlock = 512;  // a multiple of 2 * Lanes for every target

// Max of n floats (-inf when n == 0).
template <class D>
HWY_INLINE float RowMax(D d, const float* HWY_RESTRICT x, size_t n) {
  const size_t N = hn::Lanes(d);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto m0 = hn::Set(d, neg_inf), m1 = m0;
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    m0 = hn::Max(m0, hn::LoadU(d, x + i));
    m1 = hn::Max(m1, hn::LoadU(d, x + i + N));
  }
  for (; i + N <= n; i += N) m0 = hn::Max(m0, hn::LoadU(d, x + i));
  if (i < n) m0 = hn::Max(m0, LoadTail(d, x + i, n - i, neg_inf));
  return ReduceMax(d, hn::Max(m0, m1));
}

// Sum over a block of f(LoadU(x + i)) for vectors of x; tails padded with `fill`, which
// must make f return 0 in those lanes. Also stores f's result to out when out is non-null.
template <class D, class F>
HWY_INLINE float BlockSum(D d, float* HWY_RESTRICT out, const float* HWY_RESTRICT x, size_t n,
                          float fill, F f) {
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto v0 = f(hn::LoadU(d, x + i)), v1 = f(hn::LoadU(d, x + i + N));
    if (out) {
      hn::StoreU(v0, d, out + i);
      hn::StoreU(v1, d, out + i + N);
    }
    s0 = hn::Add(s0, v0);
    s1 = hn::Add(s1, v1);
  }
  for (; i + N <= n; i += N) {
    const auto v0 = f(hn::LoadU(d, x + i));
    if (out) hn::StoreU(v0, d, out + i);
    s0 = hn::Add(s0, v0);
  }
  if (i < n) {
    const auto v0 = f(LoadTail(d, x + i, n - i, fill));
    if (out) StoreTail(d, v0, out + i, n - i);
    s0 = hn::Add(s0, v0);
  }
  return ReduceSum(d, hn::Add(s0, s1));
}

// sum(f(x)) over n floats, blocked (see kSumBlock); out as in BlockSum.
template <class D, class F>
HWY_INLINE double RowSum(D d, float* HWY_RESTRICT out, const float* HWY_RESTRICT x, size_t n,
                         float fill, F f) {
  double total = 0.0;
  for (size_t b = 0; b < n; b += kSumBlock) {
    const size_t len = n - b < kSumBlock ? n - b : kSumBlock;
    total += BlockSum(d, out ? out + b : nullptr, x + b, len, fill, f);
  }
  return total;
}

// sum(exp(x - mx)); also stores exp(x - mx) to e when e is non-null.
template <class D>
HWY_INLINE double RowExpSum(D d, float* HWY_RESTRICT e, const float* HWY_RESTRICT x, size_t n,
                            float mx) {
  const auto vmx = hn::Set(d, mx);
  return RowSum(d, e, x, n, -std::numeric_limits<float>::infinity(),
                [&](auto v) { return hn::Exp(d, hn::Sub(v, vmx)); });
}

// sum(x) over n floats.
template <class D>
HWY_INLINE double RowPlainSum(D d, const float* HWY_RESTRICT x, size_t n) {
  return RowSum(d, nullptr, x, n, 0.0f, [](auto v) { return v; });
}

// sum(a * b) over n floats, blocked like RowSum.
template <class D>
HWY_INLINE double RowDot(D d, const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  const size_t N = hn::Lanes(d);
  double total = 0.0;
  for (size_t blk = 0; blk < n; blk += kSumBlock) {
    const size_t end = n - blk < kSumBlock ? n : blk + kSumBlock;
    auto s0 = hn::Zero(d), s1 = hn::Zero(d);
    size_t i = blk;
    for (; i + 2 * N <= end; i += 2 * N) {
      s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
      s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
    }
    for (; i + N <= end; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    if (i < end)
      s0 = hn::MulAdd(LoadTail(d, a + i, end - i, 0.0f), LoadTail(d, b + i, end - i, 0.0f), s0);
    total += ReduceSum(d, hn::Add(s0, s1));
  }
  return total;
}

// Horner's rule, highest coefficient first: ((c[0] x + c[1]) x + ...) + c[K-1].
template <class D, size_t K>
HWY_INLINE hn::Vec<D> Horner(D d, hn::Vec<D> x, const float (&c)[K]) {
  auto p = hn::Set(d, c[0]);
  for (size_t i = 1; i < K; ++i) p = hn::MulAdd(p, x, hn::Set(d, c[i]));
  return p;
}

// Horner with per-lane choice between two coefficient sets of equal length.
template <class D, size_t K>
HWY_INLINE hn::Vec<D> Horner2(D d, hn::Mask<D> use_a, hn::Vec<D> x, const float (&a)[K],
                              const float (&b)[K]) {
  auto p = hn::IfThenElse(use_a, hn::Set(d, a[0]), hn::Set(d, b[0]));
  for (size_t i = 1; i < K; ++i)
    p = hn::MulAdd(p, x, hn::IfThenElse(use_a, hn::Set(d, a[i]), hn::Set(d, b[i])));
  return p;
}

// erf(x) for float lanes, max abs error ~1e-7 (measured against double std::erf in
// tests/kernels/test_activation.cc). Branch-free vectorisation of FreeBSD msun s_erff.c
// (Sun Microsystems 1993, float conversion by Ian Lance Taylor; also musl src/math/erff.c),
// same coefficients and intervals:
//   |x| < 0.84375:          erf = x + x * P(x^2) / Q(x^2)
//   0.84375 <= |x| < 1.25:  erf = erx + P(s) / Q(s),  s = |x| - 1
//   1.25 <= |x| < 4:        erf = 1 - exp(-x^2 - 0.5625 + R/S) / x,
//                           R/S in 1/x^2 (two sets split at 1/0.35)
//   |x| >= 4:               erf = +-1 (erfc(4) = 1.5e-8 is below half an ulp of 1)
// Every lane evaluates both halves; coefficient sets are blended per lane.
// The simpler rational used by Eigen/XLA (clamp to [-4, 4], x P(x^2)/Q(x^2)) was measured
// at 3.7e-7 abs error, A&S 7.1.26 at 1.5e-7; hence this one.
template <class D>
HWY_INLINE hn::Vec<D> Erf(D d, hn::Vec<D> x) {
  using V = hn::Vec<D>;
  // Small (|x| < 0.84375): P and Q in z = x^2, padded with leading zeros to 7 terms.
  static constexpr float kPpSmall[7] = {0.0f,
                                        0.0f,
                                        -2.3763017452e-05f,
                                        -5.7702702470e-03f,
                                        -2.8481749818e-02f,
                                        -3.2504209876e-01f,
                                        1.2837916613e-01f};
  static constexpr float kQqSmall[7] = {0.0f,
                                        -3.9602282413e-06f,
                                        1.3249473704e-04f,
                                        5.0813062117e-03f,
                                        6.5022252500e-02f,
                                        3.9791721106e-01f,
                                        1.0f};
  // Medium (0.84375 <= |x| < 1.25): P and Q in s = |x| - 1.
  static constexpr float kPa[7] = {-2.1663755178e-03f, 3.5478305072e-02f,  -1.1089469492e-01f,
                                   3.1834661961e-01f,  -3.7220788002e-01f, 4.1485610604e-01f,
                                   -2.3621185683e-03f};
  static constexpr float kQa[7] = {1.1984500103e-02f,
                                   1.3637083583e-02f,
                                   1.2617121637e-01f,
                                   7.1828655899e-02f,
                                   5.4039794207e-01f,
                                   1.0642088205e-01f,
                                   1.0f};
  // Large (1.25 <= |x| < 1/0.35 and |x| >= 1/0.35): R and S in s = 1/x^2; rb padded.
  static constexpr float kRa[8] = {-9.8143291473e+00f, -8.1287437439e+01f, -1.8460508728e+02f,
                                   -1.6239666748e+02f, -6.2375331879e+01f, -1.0558626175e+01f,
                                   -6.9385856390e-01f, -9.8649440333e-03f};
  static constexpr float kRb[8] = {0.0f,
                                   -4.8351919556e+02f,
                                   -1.0250950928e+03f,
                                   -6.3756646729e+02f,
                                   -1.6063638306e+02f,
                                   -1.7757955551e+01f,
                                   -7.9928326607e-01f,
                                   -9.8649431020e-03f};
  static constexpr float kSa[9] = {-6.0424413532e-02f, 6.5702495575e+00f, 1.0863500214e+02f,
                                   4.2900814819e+02f,  6.4538726807e+02f, 4.3456588745e+02f,
                                   1.3765776062e+02f,  1.9651271820e+01f, 1.0f};
  static constexpr float kSb[9] = {0.0f,
                                   -2.2440952301e+01f,
                                   4.7452853394e+02f,
                                   2.5530502930e+03f,
                                   3.1998581543e+03f,
                                   1.5367296143e+03f,
                                   3.2579251099e+02f,
                                   3.0338060379e+01f,
                                   1.0f};
  constexpr float kErx = 8.4506291151e-01f;

  const V one = hn::Set(d, 1.0f);
  const V a = hn::Abs(x);

  // |x| < 1.25: one rational with blended coefficients.
  const auto small = hn::Lt(a, hn::Set(d, 0.84375f));
  const V t = hn::IfThenElse(small, hn::Mul(a, a), hn::Sub(a, one));
  const V r_lo = hn::Div(Horner2(d, small, t, kPpSmall, kPa), Horner2(d, small, t, kQqSmall, kQa));
  const V y_lo = hn::IfThenElse(small, hn::MulAdd(a, r_lo, a), hn::Add(hn::Set(d, kErx), r_lo));

  // |x| >= 1.25 (clamped to [1.25, 4] so every lane stays finite). One exp instead of
  // msun's two: exp(-x^2 - 0.5625 + R/S) with -x^2 folded into an FMA, so the argument
  // carries one rounding, ulp(x^2) <= 2e-6 relative, which times erfc(x) <= 0.077 stays
  // below 2e-8 absolute.
  const V xc = hn::Min(hn::Max(a, hn::Set(d, 1.25f)), hn::Set(d, 4.0f));
  const V rcp = hn::Div(one, xc);
  const V s = hn::Mul(rcp, rcp);
  const auto mid = hn::Lt(xc, hn::Set(d, 1.0f / 0.35f));
  const V rs = hn::Div(Horner2(d, mid, s, kRa, kRb), Horner2(d, mid, s, kSa, kSb));
  const V e = hn::Exp(d, hn::NegMulAdd(xc, xc, hn::Sub(rs, hn::Set(d, 0.5625f))));
  const V y_hi = hn::NegMulAdd(e, rcp, one);

  const V y = hn::IfThenElse(hn::Lt(a, hn::Set(d, 1.25f)), y_lo, y_hi);
  return hn::CopySignToAbs(y, x);
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // HEED_KERNELS_SIMD_MATH_INL_H_
