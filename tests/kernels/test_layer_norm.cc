// layer_norm: ref against a hand-computed row and finite differences; fast against ref on
// awkward sizes for every SIMD target, with and without affine parameters; accumulation;
// dweight/dbias bit-identical across thread counts.
// Tolerances: out 1e-5 abs + 1e-5 rel; mean/rstd 1e-5 rel; dinp 1e-5 abs + 1e-5 rel;
// dweight/dbias (sums over rows) 1e-5 * sqrt(rows) abs + 1e-5 rel.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "heed/base/parallel.h"
#include "heed/kernels/layer_norm.h"
#include "tests/kernels/rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::all_close;
using testing::randn;

TEST(LayerNormRef, HandValues) {
  // Row [1, 2, 3, 4]: mean 2.5, biased var 1.25, rstd 1/sqrt(1.25) (eps 0).
  const float x[4] = {1, 2, 3, 4};
  const float w[4] = {1, -1, 0.5f, 2}, b[4] = {0, 1, 0, -1};
  float y[4], mean, rstd;
  layer_norm_forward_ref(y, &mean, &rstd, x, nullptr, nullptr, 1, 4, 0.0f);
  EXPECT_FLOAT_EQ(mean, 2.5f);
  EXPECT_NEAR(rstd, 0.894427190999916, 1e-7);
  EXPECT_NEAR(y[0], -1.3416407864998738, 1e-6);
  EXPECT_NEAR(y[1], -0.4472135954999579, 1e-6);
  EXPECT_NEAR(y[2], 0.4472135954999579, 1e-6);
  EXPECT_NEAR(y[3], 1.3416407864998738, 1e-6);
  layer_norm_forward_ref(y, &mean, &rstd, x, w, b, 1, 4, 0.0f);
  EXPECT_NEAR(y[0], -1.3416407864998738, 1e-6);
  EXPECT_NEAR(y[1], 1 + 0.4472135954999579, 1e-6);
  EXPECT_NEAR(y[2], 0.5 * 0.4472135954999579, 1e-6);
  EXPECT_NEAR(y[3], 2 * 1.3416407864998738 - 1, 1e-6);
  // eps enters under the square root: var + eps.
  layer_norm_forward_ref(y, &mean, &rstd, x, nullptr, nullptr, 1, 4, 0.75f);
  EXPECT_NEAR(rstd, 1 / std::sqrt(2.0), 1e-7);
}

// Independent double forward: sum_i w_i * layer_norm(x)_i.
double ln_loss(const std::vector<double>& x, const std::vector<double>& g,
               const std::vector<double>& b, const std::vector<float>& dout, double eps) {
  const size_t C = x.size();
  double mu = 0, var = 0;
  for (double v : x) mu += v;
  mu /= double(C);
  for (double v : x) var += (v - mu) * (v - mu);
  var /= double(C);
  double s = 0;
  for (size_t i = 0; i < C; ++i) s += dout[i] * ((x[i] - mu) / std::sqrt(var + eps) * g[i] + b[i]);
  return s;
}

TEST(LayerNormRef, BackwardMatchesFiniteDifferences) {
  const int64_t C = 11;
  const float eps = 1e-5f;
  const auto xf = randn(C, 1), wf = randn(C, 2), bf = randn(C, 3), dout = randn(C, 4);
  std::vector<float> y(C), dx(C, 0.0f), dw(C, 0.0f), db(C, 0.0f);
  float mean, rstd;
  layer_norm_forward_ref(y.data(), &mean, &rstd, xf.data(), wf.data(), bf.data(), 1, C, eps);
  layer_norm_backward_ref(dx.data(), dw.data(), db.data(), dout.data(), xf.data(), wf.data(), &mean,
                          &rstd, 1, C);
  std::vector<double> x(xf.begin(), xf.end()), w(wf.begin(), wf.end()), b(bf.begin(), bf.end());
  for (size_t i = 0; i < size_t(C); ++i) {
    EXPECT_NEAR(
        dx[i],
        testing::central_difference([&](auto& v) { return ln_loss(v, w, b, dout, eps); }, x, i),
        1e-5);
    EXPECT_NEAR(
        dw[i],
        testing::central_difference([&](auto& v) { return ln_loss(x, v, b, dout, eps); }, w, i),
        1e-5);
    EXPECT_NEAR(
        db[i],
        testing::central_difference([&](auto& v) { return ln_loss(x, w, v, dout, eps); }, b, i),
        1e-5);
  }
}

TEST(LayerNorm, ForwardBackwardMatchRef) {
  testing::for_each_target([] {
    for (const int64_t rows : {1, 7, 65}) {
      for (const int64_t cols : testing::awkward_sizes()) {
        for (const bool affine : {true, false}) {
          SCOPED_TRACE(::testing::Message() << "rows " << rows << " cols " << cols
                                            << (affine ? " affine" : " no affine"));
          const int64_t n = rows * cols;
          const uint64_t seed = uint64_t(n * 10 + affine);
          // Offset mean and scale like real activations; the two-pass variance handles it.
          auto x = randn(n, seed, 2.0f);
          for (auto& v : x) v += 3.0f;
          const auto wv = randn(cols, seed + 1), bv = randn(cols, seed + 2);
          const float* w = affine ? wv.data() : nullptr;
          const float* b = affine ? bv.data() : nullptr;
          std::vector<float> y(static_cast<size_t>(n)), yr(static_cast<size_t>(n)),
              mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
          std::vector<float> meanr(static_cast<size_t>(rows)), rstdr(static_cast<size_t>(rows));
          layer_norm_forward(y.data(), mean.data(), rstd.data(), x.data(), w, b, rows, cols, 1e-5f);
          layer_norm_forward_ref(yr.data(), meanr.data(), rstdr.data(), x.data(), w, b, rows, cols,
                                 1e-5f);
          EXPECT_TRUE(all_close(y, yr, 1e-5, 1e-5));
          EXPECT_TRUE(all_close(mean, meanr, 1e-6, 1e-5));
          EXPECT_TRUE(all_close(rstd, rstdr, 0, 1e-5));

          // Backward accumulates into non-zero buffers.
          const auto dout = randn(n, seed + 3);
          auto dx = randn(n, seed + 4), dxr = dx;
          auto dw = randn(cols, seed + 5), dwr = dw;
          auto db = randn(cols, seed + 6), dbr = db;
          layer_norm_backward(dx.data(), affine ? dw.data() : nullptr, affine ? db.data() : nullptr,
                              dout.data(), x.data(), w, meanr.data(), rstdr.data(), rows, cols);
          layer_norm_backward_ref(dxr.data(), affine ? dwr.data() : nullptr,
                                  affine ? dbr.data() : nullptr, dout.data(), x.data(), w,
                                  meanr.data(), rstdr.data(), rows, cols);
          EXPECT_TRUE(all_close(dx, dxr, 1e-5, 1e-5));
          const double atol = 1e-5 * std::sqrt(double(rows));
          EXPECT_TRUE(all_close(dw, dwr, atol, 1e-5));
          EXPECT_TRUE(all_close(db, dbr, atol, 1e-5));
        }
      }
    }
  });
}

TEST(LayerNorm, BackwardAccumulatesAndSkipsNullOutputs) {
  const int64_t rows = 9, cols = 70;
  const auto x = randn(rows * cols, 1), w = randn(cols, 2), dout = randn(rows * cols, 3);
  std::vector<float> y(x.size()), mean(rows), rstd(rows);
  layer_norm_forward_ref(y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, rows,
                         cols, 1e-5f);
  // Two calls from zero equal twice one call (the kernel adds, it does not assign).
  std::vector<float> once(x.size(), 0.0f), twice(x.size(), 0.0f), dw1(cols, 0.0f), dw2(cols, 0.0f);
  layer_norm_backward(once.data(), dw1.data(), nullptr, dout.data(), x.data(), w.data(),
                      mean.data(), rstd.data(), rows, cols);
  for (int k = 0; k < 2; ++k)
    layer_norm_backward(twice.data(), dw2.data(), nullptr, dout.data(), x.data(), w.data(),
                        mean.data(), rstd.data(), rows, cols);
  for (auto& v : once) v *= 2;
  for (auto& v : dw1) v *= 2;
  EXPECT_TRUE(all_close(twice, once, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(dw2, dw1, 1e-6, 1e-6));
  // Only parameter gradients (dinp null).
  std::vector<float> dw3(cols, 0.0f), db3(cols, 0.0f), dw3r(cols, 0.0f), db3r(cols, 0.0f);
  layer_norm_backward(nullptr, dw3.data(), db3.data(), dout.data(), x.data(), w.data(), mean.data(),
                      rstd.data(), rows, cols);
  layer_norm_backward_ref(nullptr, dw3r.data(), db3r.data(), dout.data(), x.data(), w.data(),
                          mean.data(), rstd.data(), rows, cols);
  EXPECT_TRUE(all_close(dw3, dw3r, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(db3, db3r, 1e-5, 1e-5));
}

TEST(LayerNorm, ParamGradsIdenticalForAnyThreadCount) {
  const int64_t rows = 1000, cols = 768;
  const auto x = randn(rows * cols, 11), w = randn(cols, 12), dout = randn(rows * cols, 13);
  std::vector<float> y(x.size()), mean(rows), rstd(rows);
  layer_norm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, rows, cols,
                     1e-5f);
  const int saved = num_threads();
  std::vector<std::vector<float>> dws;
  for (const int nt : {1, 2, 3}) {
    set_num_threads(nt);
    std::vector<float> dw(cols, 0.0f), db(cols, 0.0f);
    layer_norm_backward(nullptr, dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(),
                        rstd.data(), rows, cols);
    dw.insert(dw.end(), db.begin(), db.end());
    dws.push_back(dw);
  }
  set_num_threads(saved);
  EXPECT_EQ(dws[0], dws[1]);
  EXPECT_EQ(dws[0], dws[2]);
}

}  // namespace
}  // namespace heed::kernels
