// ops::linear under Autocast(BF16): forward and all three gradients equal the f32 formulas
// applied to the bf16-rounded operands (x, W, and the incoming gradient), bias gradient in
// f32; the scope nests and restores; outside a scope linear is untouched f32.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "heed/autograd/engine.h"
#include "heed/base/bf16.h"
#include "heed/base/rng.h"
#include "heed/kernels/gemm.h"
#include "heed/ops/autocast.h"
#include "heed/ops/ops.h"

namespace heed {
namespace {

std::vector<float> rounded(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_to_float(float_to_bf16(v[i]));
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / (1.0 + std::fabs(want[i])));
  EXPECT_LE(worst, tol) << what;
}

TEST(Autocast, ScopesNestAndRestore) {
  EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::F32);
  {
    ops::Autocast a;
    EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::BF16);
    {
      ops::Autocast b(ops::MatmulPrecision::F32);
      EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::F32);
    }
    EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::BF16);
  }
  EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::F32);
}

TEST(Autocast, LinearIsF32MathOnBf16RoundedOperands) {
  const int64_t B = 3, T = 43, in = 65, out = 37, N = B * T;
  Generator gen(7);
  // x arrives as a transposed (non-contiguous) view, as attention outputs often do.
  const Tensor xt = Tensor::randn(Shape{B, in, T}, gen);
  const Tensor w = Tensor::randn(Shape{out, in}, gen, 0.0f, 0.2f).set_requires_grad(true);
  const Tensor b = Tensor::randn(Shape{out}, gen).set_requires_grad(true);
  const Tensor g = Tensor::randn(Shape{B, T, out}, gen);
  Tensor xleaf = xt.clone().set_requires_grad(true);
  Tensor y;
  {
    ops::Autocast bf16;
    y = ops::linear(ops::transpose(xleaf, 1, 2), w, b);
  }
  EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::F32);
  autograd::backward(y, g);  // outside the scope: the node keeps its precision

  const std::vector<float> x = ops::transpose(xt, 1, 2).contiguous().to_vector();
  const auto xr = rounded(x), wr = rounded(w.to_vector()), gr = rounded(g.to_vector());
  const auto bv = b.to_vector(), gv = g.to_vector();
  std::vector<float> want_y(size_t(N * out)), want_dx(size_t(N * in)), want_dw(size_t(out * in));
  for (int64_t r = 0; r < N; ++r)
    for (int64_t j = 0; j < out; ++j) want_y[size_t(r * out + j)] = bv[size_t(j)];
  kernels::gemm_ref(false, true, N, out, in, 1.0f, xr.data(), in, wr.data(), in, 1.0f,
                    want_y.data(), out);
  kernels::gemm_ref(false, false, N, in, out, 1.0f, gr.data(), out, wr.data(), in, 0.0f,
                    want_dx.data(), in);
  kernels::gemm_ref(true, false, out, in, N, 1.0f, gr.data(), out, xr.data(), in, 0.0f,
                    want_dw.data(), in);
  std::vector<float> want_db(size_t(out), 0.0f);
  for (int64_t r = 0; r < N; ++r)
    for (int64_t j = 0; j < out; ++j) want_db[size_t(j)] += gv[size_t(r * out + j)];

  expect_close(y.to_vector(), want_y, 1e-5, "y");
  // xleaf is (B, in, T); its gradient is dx (B, T, in) transposed back.
  expect_close(ops::transpose(xleaf.grad(), 1, 2).contiguous().to_vector(), want_dx, 1e-5, "dx");
  expect_close(w.grad().to_vector(), want_dw, 1e-5, "dW");
  expect_close(b.grad().to_vector(), want_db, 1e-5, "db");

  // And bf16 is a rounding away from f32, not a different function.
  const Tensor yf = ops::linear(ops::transpose(xt, 1, 2), w.detach(), b.detach());
  expect_close(y.to_vector(), yf.to_vector(), 3e-2, "y vs f32");
}

TEST(Autocast, OutsideAScopeLinearIsExactF32) {
  Generator gen(3);
  const Tensor x = Tensor::randn(Shape{5, 9}, gen), w = Tensor::randn(Shape{4, 9}, gen);
  const auto xv = x.to_vector(), wv = w.to_vector();
  std::vector<float> want(20);
  kernels::gemm_ref(false, true, 5, 4, 9, 1.0f, xv.data(), 9, wv.data(), 9, 0.0f, want.data(), 4);
  // Not rounded: the f32 result differs from the bf16 one by far more than 1e-6.
  expect_close(ops::linear(x, w).to_vector(), want, 1e-6, "f32");
}

}  // namespace
}  // namespace heed
