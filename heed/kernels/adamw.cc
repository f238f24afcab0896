// AdamW, in the exact operation order of torch 1.13 torch/optim/adamw.py
// (_single_tensor_adamw, the default for-loop path):
//   param.mul_(1 - lr * weight_decay)
//   exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
//   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//   step_size = lr / bias_correction1
//   bias_correction2_sqrt = math.sqrt(bias_correction2)
//   denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
//   param.addcdiv_(exp_avg, denom, value=-step_size)
// i.e. p += (-lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). Python computes the scalars
// (1 - lr*wd, 1 - beta, lr / bc1, sqrt(bc2)) in double and the tensor ops round them to
// float; we do the same once, in adamw_scalars, for both paths. Each tensor op rounds to
// float in the order ATen's CPU kernels evaluate it (add: a + alpha*b; addcmul:
// a + (value*t1)*t2; addcdiv: a + (value*t1)/t2). Neither path fuses multiply-adds, so
// the fast kernel is bit-identical to the reference. (ATen's own vectorised add may use
// an FMA, so agreement with torch itself is to ~1 ulp.)
#include "heed/kernels/adamw.h"

// GCC contracts a * b + c into an FMA by default in C++ (even with -std=c++20) when the
// target has one, i.e. in the AVX2/AVX-512 code but not in the baseline-x86-64 reference;
// turn that off here so both paths round every op like torch.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// foreach_target.h must come first, then highway.h, then the -inl headers.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/adamw.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "heed/kernels/simd_math_inl.h"
// clang-format on

#include <charconv>
#include <cmath>
#include <cstdlib>

#ifndef HEED_KERNELS_ADAMW_SCALARS_
#define HEED_KERNELS_ADAMW_SCALARS_  // this file is re-included once per target
namespace heed::kernels {
struct AdamWScalars {
  float decay;  // 1 - lr * weight_decay
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float step_size;  // lr / bias_correction1
  float bc2_sqrt;   // sqrt(bias_correction2)
  float eps;
};
// The shortest decimal that rounds to f (what Python prints), read back as a double.
// Betas arrive as float, and 1 - 0.999f = 0.00099998713 is 1.3e-5 away from the
// 1 - 0.999 torch computes in double; recovering the decimal the user wrote removes that.
inline double as_typed_decimal(float f) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf) - 1, f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}
inline AdamWScalars adamw_scalars(const AdamWHyper& h) {
  return {
      .decay = float(1.0 - double(h.lr) * double(h.weight_decay)),
      .beta1 = h.beta1,
      .one_minus_beta1 = float(1.0 - as_typed_decimal(h.beta1)),
      .beta2 = h.beta2,
      .one_minus_beta2 = float(1.0 - as_typed_decimal(h.beta2)),
      .step_size = float(double(h.lr) / double(h.bias_correction1)),
      .bc2_sqrt = float(std::sqrt(double(h.bias_correction2))),
      .eps = h.eps,
  };
}
}  // namespace heed::kernels
#endif

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

void AdamWUpdate(float* HWY_RESTRICT param, float* HWY_RESTRICT m, float* HWY_RESTRICT v,
                 const float* HWY_RESTRICT grad, int64_t count, const AdamWScalars& s) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(count);
  const auto decay = hn::Set(d, s.decay);
  const auto b1 = hn::Set(d, s.beta1), omb1 = hn::Set(d, s.one_minus_beta1);
  const auto b2 = hn::Set(d, s.beta2), omb2 = hn::Set(d, s.one_minus_beta2);
  const auto neg_step = hn::Set(d, -s.step_size), bc2s = hn::Set(d, s.bc2_sqrt);
  const auto eps = hn::Set(d, s.eps);
  const auto step = [&](auto p, auto mi, auto vi, auto g, auto& p_out, auto& m_out, auto& v_out) {
    // No MulAdd: each op rounds separately, as in the reference (and torch).
    p = hn::Mul(p, decay);
    mi = hn::Add(hn::Mul(mi, b1), hn::Mul(omb1, g));
    vi = hn::Add(hn::Mul(vi, b2), hn::Mul(hn::Mul(omb2, g), g));
    const auto denom = hn::Add(hn::Div(hn::Sqrt(vi), bc2s), eps);
    p_out = hn::Add(p, hn::Div(hn::Mul(neg_step, mi), denom));
    m_out = mi;
    v_out = vi;
  };
  size_t i = 0;
  for (; i + N <= n; i += N) {
    auto p = hn::LoadU(d, param + i), mi = hn::LoadU(d, m + i), vi = hn::LoadU(d, v + i);
    step(p, mi, vi, hn::LoadU(d, grad + i), p, mi, vi);
    hn::StoreU(p, d, param + i);
    hn::StoreU(mi, d, m + i);
    hn::StoreU(vi, d, v + i);
  }
  if (i < n) {
    const size_t k = n - i;
    auto p = LoadTail(d, param + i, k, 0.0f), mi = LoadTail(d, m + i, k, 0.0f);
    auto vi = LoadTail(d, v + i, k, 0.0f);
    step(p, mi, vi, LoadTail(d, grad + i, k, 0.0f), p, mi, vi);
    StoreTail(d, p, param + i, k);
    StoreTail(d, mi, m + i, k);
    StoreTail(d, vi, v + i, k);
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "heed/base/parallel.h"

namespace heed::kernels {

HWY_EXPORT(AdamWUpdate);

void adamw_update(float* param, float* m, float* v, const float* grad, int64_t n,
                  const AdamWHyper& h) {
  const AdamWScalars s = adamw_scalars(h);
  parallel_for(n, 4, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(AdamWUpdate)(param + b, m + b, v + b, grad + b, e - b, s);
  });
}

// Reference: torch's tensor ops one at a time, each rounded to float.
void adamw_update_ref(float* param, float* m, float* v, const float* grad, int64_t n,
                      const AdamWHyper& h) {
  const AdamWScalars s = adamw_scalars(h);
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    param[i] = param[i] * s.decay;
    m[i] = m[i] * s.beta1;
    m[i] = m[i] + s.one_minus_beta1 * g;
    v[i] = v[i] * s.beta2;
    v[i] = v[i] + s.one_minus_beta2 * g * g;
    const float denom = std::sqrt(v[i]) / s.bc2_sqrt + s.eps;
    param[i] = param[i] + (-s.step_size) * m[i] / denom;
  }
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
