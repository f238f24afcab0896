// softmax / log_softmax: refs against hand values and finite differences; fast kernels
// against refs on awkward sizes for every SIMD target; edge cases (+-100, -inf rows).
// Tolerances: softmax 1e-6 abs + 1e-5 rel; log_softmax 1e-5 abs + 1e-6 rel (values are
// ~ -log(cols)); backward 1e-6 abs + 1e-5 rel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "heed/kernels/softmax.h"
#include "tests/kernels/rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::all_close;
using testing::randn;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Shape {
  int64_t rows, cols;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (int64_t rows : {1, 7, 65})
    for (int64_t cols : testing::awkward_sizes()) s.push_back({rows, cols});
  s.push_back({3, 30522});  // a BERT-vocab-wide row
  return s;
}

TEST(SoftmaxRef, HandValues) {
  const float x[3] = {1, 2, 3};
  float y[3];
  softmax_forward_ref(y, x, 1, 3);
  EXPECT_NEAR(y[0], 0.09003057317038046, 1e-7);
  EXPECT_NEAR(y[1], 0.24472847105479764, 1e-7);
  EXPECT_NEAR(y[2], 0.6652409557748219, 1e-7);
  log_softmax_forward_ref(y, x, 1, 3);  // x - log(e + e^2 + e^3)
  EXPECT_NEAR(y[0], -2.40760596444438, 1e-6);
  EXPECT_NEAR(y[1], -1.40760596444438, 1e-6);
  EXPECT_NEAR(y[2], -0.40760596444438, 1e-6);
}

// Double-precision forward, written independently of the kernels, for finite differences.
std::vector<double> softmax_double(const std::vector<double>& x, bool log) {
  double mx = x[0];
  for (double v : x) mx = std::max(mx, v);
  double s = 0;
  for (double v : x) s += std::exp(v - mx);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = log ? x[i] - mx - std::log(s) : std::exp(x[i] - mx) / s;
  return y;
}

TEST(SoftmaxRef, BackwardMatchesFiniteDifferences) {
  for (const bool log : {false, true}) {
    SCOPED_TRACE(log ? "log_softmax" : "softmax");
    const int64_t C = 9;
    const auto xf = randn(C, 1), w = randn(C, 2);
    std::vector<float> y(C), dx(C, 0.0f);
    if (log) {
      log_softmax_forward_ref(y.data(), xf.data(), 1, C);
      log_softmax_backward_ref(dx.data(), y.data(), w.data(), 1, C);
    } else {
      softmax_forward_ref(y.data(), xf.data(), 1, C);
      softmax_backward_ref(dx.data(), y.data(), w.data(), 1, C);
    }
    std::vector<double> x(xf.begin(), xf.end());
    const auto loss = [&](const std::vector<double>& xx) {  // sum_i w_i y_i
      const auto yy = softmax_double(xx, log);
      double s = 0;
      for (int64_t i = 0; i < C; ++i) s += w[size_t(i)] * yy[size_t(i)];
      return s;
    };
    for (int64_t i = 0; i < C; ++i)
      EXPECT_NEAR(dx[size_t(i)], testing::central_difference(loss, x, size_t(i)), 1e-5) << i;
  }
}

TEST(Softmax, ForwardMatchesRef) {
  testing::for_each_target([] {
    for (const auto [rows, cols] : shapes()) {
      SCOPED_TRACE(::testing::Message() << "rows " << rows << " cols " << cols);
      const auto x = randn(rows * cols, uint64_t(rows * 1000 + cols), 3.0f);
      std::vector<float> got(x.size()), want(x.size());
      softmax_forward(got.data(), x.data(), rows, cols);
      softmax_forward_ref(want.data(), x.data(), rows, cols);
      EXPECT_TRUE(all_close(got, want, 1e-6, 1e-5));
      log_softmax_forward(got.data(), x.data(), rows, cols);
      log_softmax_forward_ref(want.data(), x.data(), rows, cols);
      EXPECT_TRUE(all_close(got, want, 1e-5, 1e-6));
    }
  });
}

TEST(Softmax, BackwardMatchesRefAndAccumulates) {
  testing::for_each_target([] {
    for (const auto [rows, cols] : shapes()) {
      SCOPED_TRACE(::testing::Message() << "rows " << rows << " cols " << cols);
      const int64_t n = rows * cols;
      const auto x = randn(n, uint64_t(n) + 1), dout = randn(n, uint64_t(n) + 2);
      const auto dinp0 = randn(n, uint64_t(n) + 3);  // backward must add to this
      std::vector<float> y(static_cast<size_t>(n));
      for (const bool log : {false, true}) {
        SCOPED_TRACE(log ? "log_softmax" : "softmax");
        auto got = dinp0, want = dinp0;
        if (log) {
          log_softmax_forward_ref(y.data(), x.data(), rows, cols);
          log_softmax_backward(got.data(), y.data(), dout.data(), rows, cols);
          log_softmax_backward_ref(want.data(), y.data(), dout.data(), rows, cols);
        } else {
          softmax_forward_ref(y.data(), x.data(), rows, cols);
          softmax_backward(got.data(), y.data(), dout.data(), rows, cols);
          softmax_backward_ref(want.data(), y.data(), dout.data(), rows, cols);
        }
        EXPECT_TRUE(all_close(got, want, 1e-6, 1e-5));
        // Accumulation: the ref from zero plus dinp0 equals the ref from dinp0.
        std::vector<float> from_zero(size_t(n), 0.0f);
        if (log) {
          log_softmax_backward_ref(from_zero.data(), y.data(), dout.data(), rows, cols);
        } else {
          softmax_backward_ref(from_zero.data(), y.data(), dout.data(), rows, cols);
        }
        for (size_t i = 0; i < from_zero.size(); ++i) from_zero[i] += dinp0[i];
        EXPECT_TRUE(all_close(want, from_zero, 1e-6, 1e-6));
      }
    }
  });
}

TEST(Softmax, LargeMagnitudesDoNotOverflow) {
  testing::for_each_target([] {
    const std::vector<float> x = {100, -100, 0, 100, 99, -99, 50, 100, 100, -100, 1,  2,
                                  3,   4,    5, 6,   7,  8,   9,  10,  11,  12,   13, -100};
    const int64_t C = int64_t(x.size());
    std::vector<float> got(x.size()), want(x.size());
    softmax_forward(got.data(), x.data(), 1, C);
    softmax_forward_ref(want.data(), x.data(), 1, C);
    EXPECT_TRUE(all_close(got, want, 1e-7, 1e-5));
    double sum = 0;
    for (float v : got) {
      EXPECT_TRUE(std::isfinite(v));
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    // Four entries tie at 100; 99 is e^-1 of them.
    EXPECT_NEAR(got[0], 1.0 / (4 + std::exp(-1.0)), 1e-6);
    log_softmax_forward(got.data(), x.data(), 1, C);
    log_softmax_forward_ref(want.data(), x.data(), 1, C);
    EXPECT_TRUE(all_close(got, want, 1e-5, 1e-6));
    EXPECT_NEAR(got[1], -200 - std::log(4 + std::exp(-1.0)), 1e-4);
  });
}

TEST(Softmax, NegativeInfinityEntries) {
  testing::for_each_target([] {
    for (const int64_t C : {5, 37}) {
      std::vector<float> x = randn(2 * C, 9);
      x[0] = x[3] = -kInf;                                       // row 0: two masked entries
      for (int64_t i = 0; i < C; ++i) x[size_t(C + i)] = -kInf;  // row 1: all masked
      std::vector<float> got(x.size()), want(x.size());
      softmax_forward(got.data(), x.data(), 2, C);
      softmax_forward_ref(want.data(), x.data(), 2, C);
      EXPECT_TRUE(all_close(got, want, 1e-6, 1e-5));
      EXPECT_EQ(got[0], 0.0f);
      EXPECT_EQ(got[3], 0.0f);
      EXPECT_TRUE(std::isnan(got[size_t(C)]));  // as torch.softmax of an all -inf row
      log_softmax_forward(got.data(), x.data(), 2, C);
      log_softmax_forward_ref(want.data(), x.data(), 2, C);
      EXPECT_TRUE(all_close(got, want, 1e-5, 1e-6));
      EXPECT_EQ(got[0], -kInf);
      // Backward of row 0 through the masked entries stays finite and gives them 0.
      const auto dout = randn(C, 10);
      std::vector<float> y(static_cast<size_t>(C)), g(size_t(C), 0.0f), gr(size_t(C), 0.0f);
      softmax_forward(y.data(), x.data(), 1, C);
      softmax_backward(g.data(), y.data(), dout.data(), 1, C);
      softmax_backward_ref(gr.data(), y.data(), dout.data(), 1, C);
      EXPECT_TRUE(all_close(g, gr, 1e-6, 1e-5));
      EXPECT_EQ(g[0], 0.0f);
      log_softmax_forward(y.data(), x.data(), 1, C);
      std::fill(g.begin(), g.end(), 0.0f);
      std::fill(gr.begin(), gr.end(), 0.0f);
      log_softmax_backward(g.data(), y.data(), dout.data(), 1, C);
      log_softmax_backward_ref(gr.data(), y.data(), dout.data(), 1, C);
      EXPECT_TRUE(all_close(g, gr, 1e-6, 1e-5));
      EXPECT_EQ(g[0], dout[0]);
    }
  });
}

}  // namespace
}  // namespace heed::kernels
