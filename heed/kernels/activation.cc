// Pointwise activations with the formulas PyTorch uses (aten/src/ATen/native/cpu/
// Activation.cpp): exact GELU via erf (BERT), tanh GELU (HF "gelu_new"), ReLU, tanh.
// Fast path: Highway, dispatched at run time, parallel over chunks of n.
#include "heed/kernels/activation.h"

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// foreach_target.h must come first, then highway.h, then the -inl headers.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/activation.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "heed/kernels/simd_math_inl.h"
// clang-format on

#include <cmath>

#ifndef HEED_KERNELS_ACTIVATION_CONSTANTS_
#define HEED_KERNELS_ACTIVATION_CONSTANTS_  // this file is re-included once per target
namespace heed::kernels {
// 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi) and the cubic coefficient of the tanh GELU.
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluCubic = 0.044715;
}  // namespace heed::kernels
#endif

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

// out[i] = f(inp[i]).
template <class D, class F>
HWY_INLINE void Map(D d, float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, size_t n, F f) {
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(f(hn::LoadU(d, inp + i)), d, out + i);
  if (i < n) StoreTail(d, f(LoadTail(d, inp + i, n - i, 0.0f)), out + i, n - i);
}

// dinp[i] += f(a[i], dout[i]).
template <class D, class F>
HWY_INLINE void MapAcc(D d, float* HWY_RESTRICT dinp, const float* HWY_RESTRICT a,
                       const float* HWY_RESTRICT dout, size_t n, F f) {
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = f(hn::LoadU(d, a + i), hn::LoadU(d, dout + i));
    hn::StoreU(hn::Add(hn::LoadU(d, dinp + i), g), d, dinp + i);
  }
  if (i < n) {
    const size_t m = n - i;
    const auto g = f(LoadTail(d, a + i, m, 0.0f), LoadTail(d, dout + i, m, 0.0f));
    StoreTail(d, hn::Add(LoadTail(d, dinp + i, m, 0.0f), g), dinp + i, m);
  }
}

void GeluForward(float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f);
  const auto k = hn::Set(d, float(kSqrtHalf));
  Map(d, out, inp, size_t(n), [&](auto x) {  // x * 0.5 * (1 + erf(x / sqrt(2)))
    return hn::Mul(hn::Mul(x, half), hn::Add(one, Erf(d, hn::Mul(x, k))));
  });
}

void GeluBackward(float* HWY_RESTRICT dinp, const float* HWY_RESTRICT inp,
                  const float* HWY_RESTRICT dout, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f);
  const auto k = hn::Set(d, float(kSqrtHalf)), kpdf = hn::Set(d, float(kInvSqrt2Pi));
  MapAcc(d, dinp, inp, dout, size_t(n), [&](auto x, auto dy) {
    // 0.5 (1 + erf(x / sqrt(2))) + x exp(-x^2 / 2) / sqrt(2 pi)
    const auto cdf = hn::Mul(half, hn::Add(one, Erf(d, hn::Mul(x, k))));
    const auto pdf = hn::Mul(kpdf, hn::Exp(d, hn::Mul(hn::Neg(half), hn::Mul(x, x))));
    return hn::Mul(dy, hn::MulAdd(x, pdf, cdf));
  });
}

// 0.5 x (1 + tanh(u)) is evaluated as x * sigmoid(2u) = x / (1 + exp(-2u)), the same
// function without the cancellation in 1 + tanh(u) for u << 0 (at x = -5 the tanh form
// loses all but a few bits in float). Likewise 1 - tanh(u)^2 = 4 s (1 - s), 1 - s = e s.
// u = beta (x + kappa x^3); exp's argument is capped at 80 so e stays finite.
template <class D>
HWY_INLINE void GeluTanhParts(D d, hn::Vec<D> x, hn::Vec<D>& s, hn::Vec<D>& es) {
  const auto one = hn::Set(d, 1.0f);
  const auto minus_two_beta = hn::Set(d, float(-2.0 * kSqrt2OverPi));
  const auto kappa = hn::Set(d, float(kGeluCubic));
  const auto arg = hn::Mul(minus_two_beta, hn::MulAdd(kappa, hn::Mul(hn::Mul(x, x), x), x));
  const auto e = hn::Exp(d, hn::Min(arg, hn::Set(d, 80.0f)));  // exp(-2u)
  s = hn::Div(one, hn::Add(one, e));                           // sigmoid(2u) = (1 + t) / 2
  es = hn::Mul(e, s);                                          // 1 - s = (1 - t) / 2
}

void GeluTanhForward(float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, int64_t n) {
  const hn::ScalableTag<float> d;
  Map(d, out, inp, size_t(n), [&](auto x) {
    hn::Vec<decltype(d)> s, es;
    GeluTanhParts(d, x, s, es);
    return hn::Mul(x, s);
  });
}

void GeluTanhBackward(float* HWY_RESTRICT dinp, const float* HWY_RESTRICT inp,
                      const float* HWY_RESTRICT dout, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto one = hn::Set(d, 1.0f);
  const auto two_beta = hn::Set(d, float(2.0 * kSqrt2OverPi));
  const auto kappa3 = hn::Set(d, float(3.0 * kGeluCubic));
  MapAcc(d, dinp, inp, dout, size_t(n), [&](auto x, auto dy) {
    // 0.5 (1 + t) + 0.5 x (1 - t^2) beta (1 + 3 kappa x^2)
    //   = s + 2 x s (1 - s) beta (1 + 3 kappa x^2)
    hn::Vec<decltype(d)> s, es;
    GeluTanhParts(d, x, s, es);
    const auto right = hn::Mul(hn::Mul(hn::Mul(x, s), es),
                               hn::Mul(two_beta, hn::MulAdd(kappa3, hn::Mul(x, x), one)));
    return hn::Mul(dy, hn::Add(s, right));
  });
}

void ReluForward(float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, int64_t n) {
  const hn::ScalableTag<float> d;
  // x < 0 ? 0 : x keeps NaN as NaN, as torch.relu does.
  Map(d, out, inp, size_t(n),
      [&](auto x) { return hn::IfThenZeroElse(hn::Lt(x, hn::Zero(d)), x); });
}

void ReluBackward(float* HWY_RESTRICT dinp, const float* HWY_RESTRICT inp,
                  const float* HWY_RESTRICT dout, int64_t n) {
  const hn::ScalableTag<float> d;
  MapAcc(d, dinp, inp, dout, size_t(n),
         [&](auto x, auto dy) { return hn::IfThenElseZero(hn::Gt(x, hn::Zero(d)), dy); });
}

void TanhForward(float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, int64_t n) {
  const hn::ScalableTag<float> d;
  Map(d, out, inp, size_t(n), [&](auto x) { return hn::Tanh(d, x); });
}

void TanhBackward(float* HWY_RESTRICT dinp, const float* HWY_RESTRICT out,
                  const float* HWY_RESTRICT dout, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto one = hn::Set(d, 1.0f);
  MapAcc(d, dinp, out, dout, size_t(n),
         [&](auto y, auto dy) { return hn::Mul(dy, hn::NegMulAdd(y, y, one)); });
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "heed/base/parallel.h"

namespace heed::kernels {

HWY_EXPORT(GeluForward);
HWY_EXPORT(GeluBackward);
HWY_EXPORT(GeluTanhForward);
HWY_EXPORT(GeluTanhBackward);
HWY_EXPORT(ReluForward);
HWY_EXPORT(ReluBackward);
HWY_EXPORT(TanhForward);
HWY_EXPORT(TanhBackward);

// Work per element in parallel_for's units: ~1 for a copy, more for erf/exp/tanh.
constexpr int64_t kCheapCost = 1, kTranscendentalCost = 16;

void gelu_forward(float* out, const float* inp, int64_t n) {
  parallel_for(n, kTranscendentalCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(GeluForward)(out + b, inp + b, e - b);
  });
}
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  parallel_for(n, kTranscendentalCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(GeluBackward)(dinp + b, inp + b, dout + b, e - b);
  });
}
void gelu_tanh_forward(float* out, const float* inp, int64_t n) {
  parallel_for(n, kTranscendentalCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(GeluTanhForward)(out + b, inp + b, e - b);
  });
}
void gelu_tanh_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  parallel_for(n, kTranscendentalCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(GeluTanhBackward)(dinp + b, inp + b, dout + b, e - b);
  });
}
void relu_forward(float* out, const float* inp, int64_t n) {
  parallel_for(n, kCheapCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(ReluForward)(out + b, inp + b, e - b);
  });
}
void relu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  parallel_for(n, kCheapCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(ReluBackward)(dinp + b, inp + b, dout + b, e - b);
  });
}
void tanh_forward(float* out, const float* inp, int64_t n) {
  parallel_for(n, kTranscendentalCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(TanhForward)(out + b, inp + b, e - b);
  });
}
void tanh_backward(float* dinp, const float* out, const float* dout, int64_t n) {
  parallel_for(n, kCheapCost, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(TanhBackward)(dinp + b, out + b, dout + b, e - b);
  });
}

// ---- Scalar references: the formulas evaluated in double. ----

void gelu_forward_ref(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    out[i] = float(x * 0.5 * (1.0 + std::erf(x * kSqrtHalf)));
  }
}
void gelu_backward_ref(float* dinp, const float* inp, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    const double cdf = 0.5 * (1.0 + std::erf(x * kSqrtHalf));
    const double pdf = std::exp(-0.5 * x * x) * kInvSqrt2Pi;
    dinp[i] += float(double(dout[i]) * (cdf + x * pdf));
  }
}
void gelu_tanh_forward_ref(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    out[i] = float(0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x))));
  }
}
void gelu_tanh_backward_ref(float* dinp, const float* inp, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    const double t = std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
    const double left = 0.5 * (1.0 + t);
    const double right = 0.5 * x * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluCubic * x * x);
    dinp[i] += float(double(dout[i]) * (left + right));
  }
}
void relu_forward_ref(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}
void relu_backward_ref(float* dinp, const float* inp, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}
void tanh_forward_ref(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = float(std::tanh(double(inp[i])));
}
void tanh_backward_ref(float* dinp, const float* out, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double y = out[i];
    dinp[i] += float(double(dout[i]) * (1.0 - y * y));
  }
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
