// Pointwise activations: refs against hand values and finite differences; fast against
// ref on awkward sizes for every SIMD target; a dense sweep that bounds the vector erf.
// Tolerances: forward 1e-6 abs + 1e-5 rel (gelu, gelu_tanh, tanh), exact for relu;
// backward 1e-6 abs + 1e-5 rel.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "heed/kernels/activation.h"
#include "tests/kernels/rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::all_close;
using testing::randn;

using Fwd = void (*)(float*, const float*, int64_t);
using Bwd = void (*)(float*, const float*, const float*, int64_t);

// One row per activation: fast and ref kernels, the math in double for finite
// differences, and whether backward takes the forward output (tanh) instead of the input.
struct Activation {
  const char* name;
  Fwd fwd, fwd_ref;
  Bwd bwd, bwd_ref;
  double (*f)(double);
  bool bwd_uses_output;
};

double gelu_d(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_d(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
double relu_d(double x) { return x > 0 ? x : 0; }
double tanh_d(double x) { return std::tanh(x); }

const Activation kActivations[] = {
    {"gelu", gelu_forward, gelu_forward_ref, gelu_backward, gelu_backward_ref, gelu_d, false},
    {"gelu_tanh", gelu_tanh_forward, gelu_tanh_forward_ref, gelu_tanh_backward,
     gelu_tanh_backward_ref, gelu_tanh_d, false},
    {"relu", relu_forward, relu_forward_ref, relu_backward, relu_backward_ref, relu_d, false},
    {"tanh", tanh_forward, tanh_forward_ref, tanh_backward, tanh_backward_ref, tanh_d, true},
};

TEST(ActivationRef, HandValues) {
  const float x[4] = {1.0f, -1.0f, 0.0f, 3.0f};
  float y[4];
  gelu_forward_ref(y, x, 4);  // x * Phi(x)
  EXPECT_NEAR(y[0], 0.8413447460685429, 1e-7);
  EXPECT_NEAR(y[1], -0.15865525393145707, 1e-7);
  EXPECT_EQ(y[2], 0.0f);
  EXPECT_NEAR(y[3], 2.99595030590511, 1e-6);
  gelu_tanh_forward_ref(y, x, 4);
  EXPECT_NEAR(y[0], 0.8411919906082768, 1e-7);
  EXPECT_NEAR(y[1], -0.15880800939172324, 1e-7);
  relu_forward_ref(y, x, 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  tanh_forward_ref(y, x, 4);
  EXPECT_NEAR(y[0], 0.7615941559557649, 1e-7);
}

TEST(ActivationRef, BackwardMatchesFiniteDifferences) {
  for (const auto& a : kActivations) {
    SCOPED_TRACE(a.name);
    auto x = randn(64, 1, 2.0f);
    for (auto& v : x)  // keep relu's kink out of the difference stencil
      if (std::fabs(v) < 1e-3f) v = 0.5f;
    const auto dout = randn(64, 2);
    std::vector<float> y(64), dx(64, 0.0f);
    a.fwd_ref(y.data(), x.data(), 64);
    a.bwd_ref(dx.data(), a.bwd_uses_output ? y.data() : x.data(), dout.data(), 64);
    for (size_t i = 0; i < 64; ++i) {
      std::vector<double> xi = {double(x[i])};
      const double fd = testing::central_difference([&](auto& v) { return a.f(v[0]); }, xi, 0);
      EXPECT_NEAR(dx[i], dout[i] * fd, 1e-5 * (1 + std::fabs(dout[i]))) << "x = " << x[i];
    }
  }
}

TEST(Activation, FastMatchesRef) {
  testing::for_each_target([] {
    std::vector<int64_t> sizes = testing::awkward_sizes();
    sizes.push_back(100003);  // large enough to run on several threads
    for (const auto& a : kActivations) {
      for (const int64_t n : sizes) {
        SCOPED_TRACE(::testing::Message() << a.name << " n " << n);
        const auto x = randn(n, uint64_t(n), 2.5f), dout = randn(n, uint64_t(n) + 1);
        std::vector<float> y(static_cast<size_t>(n)), yr(static_cast<size_t>(n));
        a.fwd(y.data(), x.data(), n);
        a.fwd_ref(yr.data(), x.data(), n);
        EXPECT_TRUE(all_close(y, yr, 1e-6, 1e-5));
        auto dx = randn(n, uint64_t(n) + 2), dxr = dx;  // accumulate onto non-zero
        const float* saved = a.bwd_uses_output ? yr.data() : x.data();
        a.bwd(dx.data(), saved, dout.data(), n);
        a.bwd_ref(dxr.data(), saved, dout.data(), n);
        EXPECT_TRUE(all_close(dx, dxr, 1e-6, 1e-5));
      }
    }
  });
}

// Dense sweep over [-10, 10]: bounds the vector erf inside gelu. gelu = x/2 (1 + erf(x/sqrt2)),
// so 1e-6 abs at |x| <= 10 allows an erf error of ~2e-7 near 0 and less further out.
TEST(Activation, GeluDenseSweep) {
  testing::for_each_target([] {
    const int64_t n = 200001;
    std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n)),
        yr(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = -10.0f + 20.0f * float(i) / float(n - 1);
    gelu_forward(y.data(), x.data(), n);
    gelu_forward_ref(yr.data(), x.data(), n);
    double max_err = 0;
    for (int64_t i = 0; i < n; ++i)
      max_err = std::max(max_err, std::fabs(double(y[size_t(i)]) - yr[size_t(i)]) /
                                      std::max(1.0, std::fabs(double(x[size_t(i)]))));
    // Per unit |x| the error is half the erf error plus float rounding.
    EXPECT_LT(max_err, 2e-7);
    RecordProperty("gelu_max_err_per_unit_x", std::to_string(max_err));
    std::vector<float> dx(size_t(n), 0.0f), dxr(size_t(n), 0.0f), ones(size_t(n), 1.0f);
    gelu_backward(dx.data(), x.data(), ones.data(), n);
    gelu_backward_ref(dxr.data(), x.data(), ones.data(), n);
    EXPECT_TRUE(all_close(dx, dxr, 1e-6, 1e-6));
  });
}

TEST(Activation, ReluKeepsNaNAndZeroGradientAtZero) {
  const float x[3] = {NAN, 0.0f, -2.0f}, dout[3] = {1, 1, 1};
  float y[3], dx[3] = {0, 0, 0};
  relu_forward(y, x, 3);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[2], 0.0f);
  relu_backward(dx, x, dout, 3);
  EXPECT_EQ(dx[1], 0.0f);  // torch: threshold_backward gives 0 at x == 0
  EXPECT_EQ(dx[2], 0.0f);
}

}  // namespace
}  // namespace heed::kernels
