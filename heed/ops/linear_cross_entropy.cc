#include "heed/ops/linear_cross_entropy.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "heed/autograd/node.h"
#include "heed/base/parallel.h"
#include "heed/kernels/cross_entropy.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/gemm_bf16.h"
#include "heed/kernels/infer_rowwise.h"
#include "heed/ops/autocast.h"
#include "heed/ops/elementwise.h"

namespace heed::ops {

using autograd::Node;

namespace {

// The gradients were computed in the forward for an upstream gradient of 1.
struct LinearCrossEntropyBackward : Node {
  Tensor dx, dw, db;
  const char* name() const override { return "linear_cross_entropy"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const float s = g[0].item();
    auto scaled = [s](const Tensor& t) { return !t.defined() || s == 1.0f ? t : scale(t, s); };
    return {scaled(dx), scaled(dw), scaled(db)};
  }
};

// About 32 MB of f32 logits per chunk, in whole rows (at least 16, at most all).
int64_t auto_chunk_rows(int64_t N, int64_t V) {
  const int64_t rows = (int64_t(32) << 20) / (std::max<int64_t>(V, 1) * int64_t(sizeof(float)));
  return std::clamp<int64_t>(rows, 16, std::max<int64_t>(N, 1));
}

void to_bf16(uint16_t* out, const float* in, int64_t n) { kernels::f32_to_bf16(out, in, n); }

}  // namespace

Tensor linear_cross_entropy(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& targets, const CrossEntropyOptions& opt,
                            int64_t chunk_rows) {
  HEED_CHECK(x.dtype() == DType::F32 && weight.dtype() == DType::F32 &&
                 (!bias.defined() || bias.dtype() == DType::F32),
             "linear_cross_entropy: x, weight and bias must be f32, got {}, {}, {}", x.dtype(),
             weight.dtype(), bias.defined() ? bias.dtype() : DType::F32);
  HEED_CHECK(x.ndim() >= 1, "linear_cross_entropy: x needs a feature dim, got {}", x.shape());
  const int64_t H = x.size(-1);
  HEED_CHECK(weight.ndim() == 2 && weight.size(1) == H,
             "linear_cross_entropy: weight {} does not match x {} (expected (V, {}))",
             weight.shape(), x.shape(), H);
  const int64_t V = weight.size(0);
  HEED_CHECK(!bias.defined() || bias.shape() == Shape{V},
             "linear_cross_entropy: bias {} does not match weight {}", bias.defined() ? bias.shape() : Shape{},
             weight.shape());
  const Shape tshape(std::vector<int64_t>(x.shape().begin(), x.shape().end() - 1));
  HEED_CHECK(targets.shape() == tshape,
             "linear_cross_entropy: targets shape {} does not match x {} (expected {})",
             targets.shape(), x.shape(), tshape);
  HEED_CHECK(opt.reduction != Reduction::None,
             "linear_cross_entropy: reduction None is not supported (use linear + cross_entropy)");
  HEED_CHECK(chunk_rows >= 0, "linear_cross_entropy: chunk_rows must be >= 0, got {}", chunk_rows);

  const int64_t N = tshape.numel();
  const Tensor xc = x.contiguous(), wc = weight.contiguous();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const CrossEntropyTargets ct = cross_entropy_targets("linear_cross_entropy", targets, V, opt);
  const int64_t* pt = ct.targets.data<int64_t>();
  const std::vector<float>& w = ct.weight;
  const double wsum = ct.weight_sum;
  std::vector<float> row_scale(static_cast<size_t>(N));  // d(reduced loss)/d(row loss)
  const double denom = opt.reduction == Reduction::Mean ? wsum : 1.0;  // 0/0 = NaN, as torch
  for (int64_t i = 0; i < N; ++i) row_scale[size_t(i)] = float(w[size_t(i)] / denom);

  const bool gx = autograd::needs_grad({x}), gw = autograd::needs_grad({weight});
  const bool gb = bc.defined() && autograd::needs_grad({bias});
  const bool grad = gx || gw || gb;
  Tensor dx = gx ? Tensor::empty(x.shape()) : Tensor();
  Tensor dw = gw ? Tensor::empty(Shape{V, H}) : Tensor();
  Tensor db = gb ? Tensor::zeros(Shape{V}) : Tensor();

  const bool bf16 = matmul_precision() == MatmulPrecision::BF16;
  const float* px = xc.data<float>();
  const float* pw = wc.data<float>();
  std::vector<uint16_t> wb, xb, lb;  // bf16 copies: weight, the chunk's x and gradient
  if (bf16) {
    wb.resize(size_t(V * H));
    to_bf16(wb.data(), pw, V * H);
  }

  const int64_t R = chunk_rows > 0 ? std::min(chunk_rows, std::max<int64_t>(N, 1))
                                   : auto_chunk_rows(N, V);
  Tensor buf = Tensor::empty(Shape{std::min(R, std::max<int64_t>(N, 1)), V});
  float* L = buf.data<float>();
  std::vector<float> losses(static_cast<size_t>(N)), lse(static_cast<size_t>(N));
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t rows = std::min(R, N - r0);
    const float* xr = px + r0 * H;
    // logits = x_rows @ W^T + b
    float beta = 0.0f;
    if (bc.defined()) {
      const float* pb = bc.data<float>();
      parallel_for(rows, V, [&](int64_t a, int64_t b) {
        for (int64_t r = a; r < b; ++r) std::memcpy(L + r * V, pb, size_t(V) * sizeof(float));
      });
      beta = 1.0f;
    }
    if (bf16) {
      xb.resize(size_t(rows * H));
      to_bf16(xb.data(), xr, rows * H);
      kernels::gemm_bf16(false, true, rows, V, H, 1.0f, xb.data(), H, wb.data(), H, beta, L, V);
    } else {
      kernels::gemm(false, true, rows, V, H, 1.0f, xr, H, pw, H, beta, L, V);
    }
    kernels::cross_entropy_forward(losses.data() + r0, lse.data() + r0, L, pt + r0, rows, V,
                                   opt.ignore_index, opt.label_smoothing);
    if (!grad) continue;
    // The chunk's dlogits over its logits, then its share of each gradient.
    kernels::cross_entropy_grad_inplace(L, row_scale.data() + r0, lse.data() + r0, pt + r0, rows,
                                        V, opt.ignore_index, opt.label_smoothing);
    if (bf16) {
      lb.resize(size_t(rows * V));
      to_bf16(lb.data(), L, rows * V);
    }
    if (gx) {  // dx_rows = dl @ W
      float* out = dx.data<float>() + r0 * H;
      if (bf16) kernels::gemm_bf16(false, false, rows, H, V, 1.0f, lb.data(), V, wb.data(), H, 0.0f, out, H);
      else kernels::gemm(false, false, rows, H, V, 1.0f, L, V, pw, H, 0.0f, out, H);
    }
    if (gw) {  // dW += dl^T @ x_rows
      const float b = r0 == 0 ? 0.0f : 1.0f;
      if (bf16) kernels::gemm_bf16(true, false, V, H, rows, 1.0f, lb.data(), V, xb.data(), H, b, dw.data<float>(), H);
      else kernels::gemm(true, false, V, H, rows, 1.0f, L, V, xr, H, b, dw.data<float>(), H);
    }
    if (gb) {  // db += column sums of dl
      float* pdb = db.data<float>();
      parallel_for(V, rows, [&](int64_t v0, int64_t v1) {
        for (int64_t r = 0; r < rows; ++r) {
          const float* lr = L + r * V;
          for (int64_t v = v0; v < v1; ++v) pdb[v] += lr[v];
        }
      });
    }
  }
  if (gw && N == 0) dw = Tensor::zeros(Shape{V, H});

  double acc = 0.0;
  for (int64_t i = 0; i < N; ++i) acc += double(losses[size_t(i)]) * w[size_t(i)];
  Tensor out = Tensor::scalar(float(acc / denom));
  if (grad) {
    auto n = std::make_shared<LinearCrossEntropyBackward>();
    n->dx = std::move(dx);
    n->dw = std::move(dw);
    n->db = std::move(db);
    autograd::connect(n, {x, weight, bias}, {&out});
  }
  return out;
}

}  // namespace heed::ops
