// Fused log-softmax + NLL per row, matching torch.nn.functional.cross_entropy(
// reduction='none', ignore_index, label_smoothing). With smoothing, torch adds
// ls * (-sum_v log p_v / V) = ls * (lse - mean(x)) to (1 - ls) * nll
// (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing).
// Fast path: per row a max pass and an exp-sum pass (plus a sum(x) pass with label
// smoothing), parallel over rows.
#include "heed/kernels/cross_entropy.h"

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// foreach_target.h must come first, then highway.h, then the -inl headers.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/cross_entropy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "heed/kernels/simd_math_inl.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

void CrossEntropyRows(float* HWY_RESTRICT losses, float* HWY_RESTRICT lse,
                      const float* HWY_RESTRICT logits, const int64_t* HWY_RESTRICT targets,
                      int64_t rows, int64_t V, int64_t ignore_index, float label_smoothing) {
  const hn::ScalableTag<float> d;
  const size_t n = size_t(V);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * V;
    // Pass 1: max; pass 2: sum(exp(x - max)); pass 3 (label smoothing only): sum(x).
    const float mx = RowMax(d, x, n);
    const float l = float(double(mx) + std::log(RowExpSum(d, nullptr, x, n, mx)));
    lse[r] = l;
    const int64_t t = targets[r];
    if (t == ignore_index) {
      losses[r] = 0.0f;
      continue;
    }
    float loss = (1.0f - label_smoothing) * (l - x[t]);
    // Skipped when ls == 0 so a -inf logit does not turn 0 * inf into NaN.
    if (label_smoothing != 0.0f)
      loss += label_smoothing * (l - float(RowPlainSum(d, x, n) / double(V)));
    losses[r] = loss;
  }
}

// dlogits += dloss * (exp(x - lse) - ls / V), and -= dloss * (1 - ls) at the target.
void CrossEntropyBackwardRows(float* HWY_RESTRICT dlogits, const float* HWY_RESTRICT dloss,
                              const float* HWY_RESTRICT logits, const float* HWY_RESTRICT lse,
                              const int64_t* HWY_RESTRICT targets, int64_t rows, int64_t V,
                              int64_t ignore_index, float label_smoothing) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(V);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets[r];
    if (t == ignore_index) continue;
    const float* x = logits + r * V;
    float* dx = dlogits + r * V;
    const float g = dloss[r];
    const auto vg = hn::Set(d, g), vlse = hn::Set(d, lse[r]);
    const auto vsmooth = hn::Set(d, g * label_smoothing / float(V));
    size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto p = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vlse));
      const auto dxi = hn::Add(hn::LoadU(d, dx + i), hn::MulSub(vg, p, vsmooth));
      hn::StoreU(dxi, d, dx + i);
    }
    if (i < n) {
      const size_t m = n - i;
      const auto p = hn::Exp(d, hn::Sub(LoadTail(d, x + i, m, neg_inf), vlse));
      StoreTail(d, hn::Add(LoadTail(d, dx + i, m, 0.0f), hn::MulSub(vg, p, vsmooth)), dx + i, m);
    }
    dx[t] -= g * (1.0f - label_smoothing);
  }
}


// In place: x <- dloss * (softmax(x) - ls / V), minus dloss * (1 - ls) at the target;
// rows with the ignore index become 0. x and the gradient share memory, so no restrict.
void CrossEntropyGradInPlaceRows(float* x_rows, const float* HWY_RESTRICT dloss,
                                 const float* HWY_RESTRICT lse,
                                 const int64_t* HWY_RESTRICT targets, int64_t rows, int64_t V,
                                 int64_t ignore_index, float label_smoothing) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(V);
  for (int64_t r = 0; r < rows; ++r) {
    float* x = x_rows + r * V;
    const int64_t t = targets[r];
    if (t == ignore_index) {
      std::fill(x, x + n, 0.0f);
      continue;
    }
    const float g = dloss[r];
    const auto vg = hn::Set(d, g), vlse = hn::Set(d, lse[r]);
    const auto vsmooth = hn::Set(d, g * label_smoothing / float(V));
    size_t i = 0;
    for (; i + N <= n; i += N)
      hn::StoreU(hn::MulSub(vg, hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vlse)), vsmooth), d, x + i);
    if (i < n) {
      const size_t m = n - i;
      const auto p = hn::Exp(d, hn::Sub(LoadTail(d, x + i, m, 0.0f), vlse));
      StoreTail(d, hn::MulSub(vg, p, vsmooth), x + i, m);
    }
    x[t] -= g * (1.0f - label_smoothing);
  }
}
}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "heed/base/parallel.h"

namespace heed::kernels {

HWY_EXPORT(CrossEntropyRows);
HWY_EXPORT(CrossEntropyBackwardRows);
HWY_EXPORT(CrossEntropyGradInPlaceRows);

void cross_entropy_forward(float* losses, float* lse, const float* logits, const int64_t* targets,
                           int64_t N, int64_t V, int64_t ignore_index, float label_smoothing) {
  parallel_for(N, V * 8, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(CrossEntropyRows)
    (losses + r0, lse + r0, logits + r0 * V, targets + r0, r1 - r0, V, ignore_index,
     label_smoothing);
  });
}

void cross_entropy_backward(float* dlogits, const float* dloss, const float* logits,
                            const float* lse, const int64_t* targets, int64_t N, int64_t V,
                            int64_t ignore_index, float label_smoothing) {
  parallel_for(N, V * 8, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(CrossEntropyBackwardRows)
    (dlogits + r0 * V, dloss + r0, logits + r0 * V, lse + r0, targets + r0, r1 - r0, V,
     ignore_index, label_smoothing);
  });
}

void cross_entropy_grad_inplace(float* logits, const float* dloss, const float* lse,
                                const int64_t* targets, int64_t N, int64_t V, int64_t ignore_index,
                                float label_smoothing) {
  parallel_for(N, V * 8, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(CrossEntropyGradInPlaceRows)
    (logits + r0 * V, dloss + r0, lse + r0, targets + r0, r1 - r0, V, ignore_index,
     label_smoothing);
  });
}
// ---- Scalar references: plain loops, double accumulation. ----

void cross_entropy_forward_ref(float* losses, float* lse, const float* logits,
                               const int64_t* targets, int64_t N, int64_t V, int64_t ignore_index,
                               float label_smoothing) {
  for (int64_t r = 0; r < N; ++r) {
    const float* x = logits + r * V;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, x[v]);
    double sum_exp = 0.0, sum_x = 0.0;
    for (int64_t v = 0; v < V; ++v) {
      sum_exp += std::exp(double(x[v]) - double(mx));
      sum_x += x[v];
    }
    const double l = double(mx) + std::log(sum_exp);
    lse[r] = float(l);
    const int64_t t = targets[r];
    if (t == ignore_index) {
      losses[r] = 0.0f;
      continue;
    }
    const double ls = label_smoothing;
    double loss = (1.0 - ls) * (l - double(x[t]));
    if (ls != 0.0) loss += ls * (l - sum_x / double(V));
    losses[r] = float(loss);
  }
}

void cross_entropy_backward_ref(float* dlogits, const float* dloss, const float* logits,
                                const float* lse, const int64_t* targets, int64_t N, int64_t V,
                                int64_t ignore_index, float label_smoothing) {
  for (int64_t r = 0; r < N; ++r) {
    const int64_t t = targets[r];
    if (t == ignore_index) continue;
    const double ls = label_smoothing;
    for (int64_t v = 0; v < V; ++v) {
      const double p = std::exp(double(logits[r * V + v]) - double(lse[r]));
      const double target = (v == t ? 1.0 - ls : 0.0) + ls / double(V);
      dlogits[r * V + v] += float(double(dloss[r]) * (p - target));
    }
  }
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
