// LayerNorm over the last dimension, as torch.nn.functional.layer_norm: biased variance
// (divide by C), rstd = 1 / sqrt(var + eps). The fast path computes mean and variance in
// two passes (no E[x^2] - E[x]^2 cancellation). Backward, per row (xhat = (x - mean) rstd,
// g = dout * weight):
//   dinp += rstd * (g - mean(g) - xhat * mean(g * xhat))
//   dweight += dout * xhat;  dbias += dout   (summed over rows)
#include "heed/kernels/layer_norm.h"

#include "heed/kernels/simd_targets.h"  // must precede foreach_target.h

// foreach_target.h must come first, then highway.h, then the -inl headers.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/layer_norm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "heed/kernels/simd_math_inl.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

void LayerNormRows(float* HWY_RESTRICT out, float* HWY_RESTRICT mean, float* HWY_RESTRICT rstd,
                   const float* HWY_RESTRICT inp, const float* HWY_RESTRICT weight,
                   const float* HWY_RESTRICT bias, int64_t rows, int64_t cols, float eps) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    float* y = out + r * cols;
    auto s0 = hn::Zero(d), s1 = hn::Zero(d);
    size_t i = 0;
    for (; i + 2 * N <= n; i += 2 * N) {
      s0 = hn::Add(s0, hn::LoadU(d, x + i));
      s1 = hn::Add(s1, hn::LoadU(d, x + i + N));
    }
    for (; i + N <= n; i += N) s0 = hn::Add(s0, hn::LoadU(d, x + i));
    if (i < n) s0 = hn::Add(s0, LoadTail(d, x + i, n - i, 0.0f));
    const float mu = ReduceSum(d, hn::Add(s0, s1)) / float(cols);
    const auto vmu = hn::Set(d, mu);

    s0 = hn::Zero(d), s1 = hn::Zero(d);
    i = 0;
    for (; i + 2 * N <= n; i += 2 * N) {
      const auto c0 = hn::Sub(hn::LoadU(d, x + i), vmu);
      const auto c1 = hn::Sub(hn::LoadU(d, x + i + N), vmu);
      s0 = hn::MulAdd(c0, c0, s0);
      s1 = hn::MulAdd(c1, c1, s1);
    }
    for (; i + N <= n; i += N) {
      const auto c0 = hn::Sub(hn::LoadU(d, x + i), vmu);
      s0 = hn::MulAdd(c0, c0, s0);
    }
    if (i < n) {  // pad with mu so the padding adds 0
      const auto c0 = hn::Sub(LoadTail(d, x + i, n - i, mu), vmu);
      s0 = hn::MulAdd(c0, c0, s0);
    }
    const float var = ReduceSum(d, hn::Add(s0, s1)) / float(cols);
    const float rs = 1.0f / std::sqrt(var + eps);
    mean[r] = mu;
    rstd[r] = rs;

    const auto vrs = hn::Set(d, rs);
    i = 0;
    for (; i + N <= n; i += N) {
      auto v = hn::Mul(hn::Sub(hn::LoadU(d, x + i), vmu), vrs);
      if (weight) v = hn::Mul(v, hn::LoadU(d, weight + i));
      if (bias) v = hn::Add(v, hn::LoadU(d, bias + i));
      hn::StoreU(v, d, y + i);
    }
    for (; i < n; ++i) {
      float v = (x[i] - mu) * rs;
      if (weight) v *= weight[i];
      if (bias) v += bias[i];
      y[i] = v;
    }
  }
}

// Rows [0, rows) of one block; dweight/dbias (if non-null) accumulate this block's sums.
void LayerNormBackwardRows(float* HWY_RESTRICT dinp, float* HWY_RESTRICT dweight,
                           float* HWY_RESTRICT dbias, const float* HWY_RESTRICT dout,
                           const float* HWY_RESTRICT inp, const float* HWY_RESTRICT weight,
                           const float* HWY_RESTRICT mean, const float* HWY_RESTRICT rstd,
                           int64_t rows, int64_t cols) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), n = size_t(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    const float* dy = dout + r * cols;
    const auto vmu = hn::Set(d, mean[r]);
    const auto vrs = hn::Set(d, rstd[r]);

    // Each step handles lanes [i, i + N) of the row; tails go through padded vectors
    // (dout padded with 0, so padding lanes contribute nothing).
    const auto load = [&](const float* p, size_t i, float fill) {
      return i + N <= n ? hn::LoadU(d, p + i) : LoadTail(d, p + i, n - i, fill);
    };
    if (dinp) {
      auto sg = hn::Zero(d), sgx = hn::Zero(d);
      for (size_t i = 0; i < n; i += N) {
        const auto xhat = hn::Mul(hn::Sub(load(x, i, 0.0f), vmu), vrs);
        const auto g =
            weight ? hn::Mul(load(dy, i, 0.0f), load(weight, i, 0.0f)) : load(dy, i, 0.0f);
        sg = hn::Add(sg, g);
        sgx = hn::MulAdd(g, xhat, sgx);
      }
      const auto mg = hn::Set(d, ReduceSum(d, sg) / float(cols));
      const auto mgx = hn::Set(d, ReduceSum(d, sgx) / float(cols));
      float* dx = dinp + r * cols;
      for (size_t i = 0; i < n; i += N) {
        const auto xhat = hn::Mul(hn::Sub(load(x, i, 0.0f), vmu), vrs);
        const auto g =
            weight ? hn::Mul(load(dy, i, 0.0f), load(weight, i, 0.0f)) : load(dy, i, 0.0f);
        // rstd * (g - mg - xhat * mgx)
        const auto t = hn::Mul(vrs, hn::Sub(hn::NegMulAdd(xhat, mgx, g), mg));
        if (i + N <= n) {
          hn::StoreU(hn::Add(hn::LoadU(d, dx + i), t), d, dx + i);
        } else {
          StoreTail(d, hn::Add(LoadTail(d, dx + i, n - i, 0.0f), t), dx + i, n - i);
        }
      }
    }
    if (dweight || dbias) {
      for (size_t i = 0; i < n; i += N) {
        const auto g = load(dy, i, 0.0f);
        if (i + N <= n) {
          if (dweight) {
            const auto xhat = hn::Mul(hn::Sub(hn::LoadU(d, x + i), vmu), vrs);
            hn::StoreU(hn::MulAdd(g, xhat, hn::LoadU(d, dweight + i)), d, dweight + i);
          }
          if (dbias) hn::StoreU(hn::Add(g, hn::LoadU(d, dbias + i)), d, dbias + i);
        } else {
          const size_t m = n - i;
          if (dweight) {
            const auto xhat = hn::Mul(hn::Sub(LoadTail(d, x + i, m, 0.0f), vmu), vrs);
            StoreTail(d, hn::MulAdd(g, xhat, LoadTail(d, dweight + i, m, 0.0f)), dweight + i, m);
          }
          if (dbias) StoreTail(d, hn::Add(g, LoadTail(d, dbias + i, m, 0.0f)), dbias + i, m);
        }
      }
    }
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "heed/base/parallel.h"

namespace heed::kernels {

HWY_EXPORT(LayerNormRows);
HWY_EXPORT(LayerNormBackwardRows);

void layer_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                        const float* bias, int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, cols * 3, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(LayerNormRows)
    (out + r0 * cols, mean + r0, rstd + r0, inp + r0 * cols, weight, bias, r1 - r0, cols, eps);
  });
}

// dweight/dbias are sums over rows. Rows are cut into a fixed number of blocks (not one
// per thread), each block sums into its own partial buffer, and the partials are added in
// block order: no races, and the result is bit-identical for any thread count.
constexpr int64_t kParamGradBlocks = 32;

void layer_norm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                         const float* inp, const float* weight, const float* mean,
                         const float* rstd, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  if (!dweight && !dbias) {
    parallel_for(rows, cols * 4, [&](int64_t r0, int64_t r1) {
      const int64_t o = r0 * cols;
      HWY_DYNAMIC_DISPATCH(LayerNormBackwardRows)
      (dinp + o, nullptr, nullptr, dout + o, inp + o, weight, mean + r0, rstd + r0, r1 - r0, cols);
    });
    return;
  }
  const int64_t blocks = std::min(rows, kParamGradBlocks);
  // Scratch for the per-block partial sums (blocks x cols each); the only allocation in
  // the row-wise kernels, small next to the activations.
  std::vector<float> dw_part(dweight ? size_t(blocks * cols) : 0, 0.0f);
  std::vector<float> db_part(dbias ? size_t(blocks * cols) : 0, 0.0f);
  const int64_t rows_per_block = rows / blocks * cols * 6;
  parallel_for(blocks, rows_per_block, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
      const int64_t o = r0 * cols;
      HWY_DYNAMIC_DISPATCH(LayerNormBackwardRows)
      (dinp ? dinp + o : nullptr, dweight ? dw_part.data() + b * cols : nullptr,
       dbias ? db_part.data() + b * cols : nullptr, dout + o, inp + o, weight, mean + r0, rstd + r0,
       r1 - r0, cols);
    }
  });
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t j = 0; j < cols; ++j) {
      if (dweight) dweight[j] += dw_part[size_t(b * cols + j)];
      if (dbias) dbias[j] += db_part[size_t(b * cols + j)];
    }
  }
}

// ---- Scalar references: plain loops, double accumulation. ----

void layer_norm_forward_ref(float* out, float* mean, float* rstd, const float* inp,
                            const float* weight, const float* bias, int64_t rows, int64_t cols,
                            float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    double mu = 0.0;
    for (int64_t i = 0; i < cols; ++i) mu += x[i];
    mu /= double(cols);
    double var = 0.0;
    for (int64_t i = 0; i < cols; ++i) var += (x[i] - mu) * (x[i] - mu);
    var /= double(cols);  // biased, as PyTorch
    const double rs = 1.0 / std::sqrt(var + double(eps));
    for (int64_t i = 0; i < cols; ++i) {
      double v = (x[i] - mu) * rs;
      if (weight) v *= weight[i];
      if (bias) v += bias[i];
      out[r * cols + i] = float(v);
    }
    mean[r] = float(mu);
    rstd[r] = float(rs);
  }
}

void layer_norm_backward_ref(float* dinp, float* dweight, float* dbias, const float* dout,
                             const float* inp, const float* weight, const float* mean,
                             const float* rstd, int64_t rows, int64_t cols) {
  std::vector<double> dw(size_t(std::max<int64_t>(cols, 0)), 0.0), db(dw.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * cols;
    const float* dy = dout + r * cols;
    const double mu = mean[r], rs = rstd[r];
    double sg = 0.0, sgx = 0.0;
    for (int64_t i = 0; i < cols; ++i) {
      const double xhat = (x[i] - mu) * rs;
      const double g = double(dy[i]) * (weight ? weight[i] : 1.0f);
      sg += g;
      sgx += g * xhat;
    }
    for (int64_t i = 0; i < cols; ++i) {
      const double xhat = (x[i] - mu) * rs;
      const double g = double(dy[i]) * (weight ? weight[i] : 1.0f);
      if (dinp)
        dinp[r * cols + i] += float(rs * (g - sg / double(cols) - xhat * sgx / double(cols)));
      dw[size_t(i)] += double(dy[i]) * xhat;
      db[size_t(i)] += dy[i];
    }
  }
  for (int64_t i = 0; i < cols; ++i) {
    if (dweight) dweight[i] += float(dw[size_t(i)]);
    if (dbias) dbias[i] += float(db[size_t(i)]);
  }
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
