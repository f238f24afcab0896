// Row-wise softmax / log-softmax. Fast path: Highway, dispatched at run time, parallel
// over rows. Subtract the row max before exp (expf overflows above ~88.7), as
// torch.softmax does; a row that is all -inf gives NaN, as in PyTorch.
#include "heed/kernels/softmax.h"

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// foreach_target.h must come first, then highway.h, then the -inl headers.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/softmax.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "heed/kernels/simd_math_inl.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void SoftmaxRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, int64_t rows,
                 int64_t cols) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    float* y = out + r * cols;
    const double sum = RowExpSum(d, y, x, n, RowMax(d, x, n));
    const auto inv = hn::Set(d, float(1.0 / sum));
    size_t i = 0;
    for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, y + i), inv), d, y + i);
    for (; i < n; ++i) y[i] *= hn::GetLane(inv);
  }
}

void LogSoftmaxRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT inp, int64_t rows,
                    int64_t cols) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    float* y = out + r * cols;
    const float mx = RowMax(d, x, n);
    const float lse = float(double(mx) + std::log(RowExpSum(d, nullptr, x, n, mx)));
    const auto vlse = hn::Set(d, lse);
    size_t i = 0;
    for (; i + N <= n; i += N) hn::StoreU(hn::Sub(hn::LoadU(d, x + i), vlse), d, y + i);
    for (; i < n; ++i) y[i] = x[i] - lse;
  }
}

// dinp += out * (dout - sum(dout * out))
void SoftmaxBackwardRows(float* HWY_RESTRICT dinp, const float* HWY_RESTRICT out,
                         const float* HWY_RESTRICT dout, int64_t rows, int64_t cols) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* y = out + r * cols;
    const float* dy = dout + r * cols;
    float* dx = dinp + r * cols;
    const float dot = float(RowDot(d, dy, y, n));
    const auto vdot = hn::Set(d, dot);
    size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto g = hn::Mul(hn::LoadU(d, y + i), hn::Sub(hn::LoadU(d, dy + i), vdot));
      hn::StoreU(hn::Add(hn::LoadU(d, dx + i), g), d, dx + i);
    }
    for (; i < n; ++i) dx[i] += y[i] * (dy[i] - dot);
  }
}

// dinp += dout - exp(out) * sum(dout)
void LogSoftmaxBackwardRows(float* HWY_RESTRICT dinp, const float* HWY_RESTRICT out,
                            const float* HWY_RESTRICT dout, int64_t rows, int64_t cols) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* y = out + r * cols;
    const float* dy = dout + r * cols;
    float* dx = dinp + r * cols;
    const auto vs = hn::Set(d, float(RowPlainSum(d, dy, n)));
    size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto g = hn::NegMulAdd(hn::Exp(d, hn::LoadU(d, y + i)), vs, hn::LoadU(d, dy + i));
      hn::StoreU(hn::Add(hn::LoadU(d, dx + i), g), d, dx + i);
    }
    if (i < n) {
      const size_t m = n - i;
      const auto g = hn::NegMulAdd(hn::Exp(d, LoadTail(d, y + i, m, kNegInf)), vs,
                                   LoadTail(d, dy + i, m, 0.0f));
      StoreTail(d, hn::Add(LoadTail(d, dx + i, m, 0.0f), g), dx + i, m);
    }
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "heed/base/parallel.h"

namespace heed::kernels {

HWY_EXPORT(SoftmaxRows);
HWY_EXPORT(LogSoftmaxRows);
HWY_EXPORT(SoftmaxBackwardRows);
HWY_EXPORT(LogSoftmaxBackwardRows);

// Work per element, in parallel_for's units (~1 for a load/store, more for exp).
constexpr int64_t kExpCost = 8;

void softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols) {
  parallel_for(rows, cols * kExpCost, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(SoftmaxRows)(out + r0 * cols, inp + r0 * cols, r1 - r0, cols);
  });
}

void log_softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols) {
  parallel_for(rows, cols * kExpCost, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(LogSoftmaxRows)(out + r0 * cols, inp + r0 * cols, r1 - r0, cols);
  });
}

void softmax_backward(float* dinp, const float* out, const float* dout, int64_t rows,
                      int64_t cols) {
  parallel_for(rows, cols * 2, [&](int64_t r0, int64_t r1) {
    const int64_t o = r0 * cols;
    HWY_DYNAMIC_DISPATCH(SoftmaxBackwardRows)(dinp + o, out + o, dout + o, r1 - r0, cols);
  });
}

void log_softmax_backward(float* dinp, const float* out, const float* dout, int64_t rows,
                          int64_t cols) {
  parallel_for(rows, cols * kExpCost, [&](int64_t r0, int64_t r1) {
    const int64_t o = r0 * cols;
    HWY_DYNAMIC_DISPATCH(LogSoftmaxBackwardRows)(dinp + o, out + o, dout + o, r1 - r0, cols);
  });
}

// ---- Scalar references: plain loops, double accumulation. ----

void softmax_forward_ref(float* out, const float* inp, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    float* y = out + r * cols;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < cols; ++i) mx = std::max(mx, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) sum += std::exp(double(x[i]) - double(mx));
    for (int64_t i = 0; i < cols; ++i) y[i] = float(std::exp(double(x[i]) - double(mx)) / sum);
  }
}

void log_softmax_forward_ref(float* out, const float* inp, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    float* y = out + r * cols;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < cols; ++i) mx = std::max(mx, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) sum += std::exp(double(x[i]) - double(mx));
    const double lse = double(mx) + std::log(sum);
    for (int64_t i = 0; i < cols; ++i) y[i] = float(double(x[i]) - lse);
  }
}

void softmax_backward_ref(float* dinp, const float* out, const float* dout, int64_t rows,
                          int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* y = out + r * cols;
    const float* dy = dout + r * cols;
    float* dx = dinp + r * cols;
    double dot = 0.0;
    for (int64_t i = 0; i < cols; ++i) dot += double(dy[i]) * double(y[i]);
    for (int64_t i = 0; i < cols; ++i) dx[i] += float(double(y[i]) * (double(dy[i]) - dot));
  }
}

void log_softmax_backward_ref(float* dinp, const float* out, const float* dout, int64_t rows,
                              int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* y = out + r * cols;
    const float* dy = dout + r * cols;
    float* dx = dinp + r * cols;
    double sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) sum += dy[i];
    for (int64_t i = 0; i < cols; ++i) dx[i] += float(double(dy[i]) - std::exp(double(y[i])) * sum);
  }
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
