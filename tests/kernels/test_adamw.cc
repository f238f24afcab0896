// adamw_update: ref against steps computed by hand; fast against ref on awkward sizes for
// every SIMD target, over several steps. Fast and ref round the same float ops in the same
// order (no FMA), so they must agree bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "heed/kernels/adamw.h"
#include "tests/kernels/rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::randn;

// Bias corrections as torch computes them: from the double betas, rounded to float once.
AdamWHyper hyper(int step, float lr = 1e-3f, float wd = 0.01f) {
  const double b1 = 0.9, b2 = 0.999;
  return {.lr = lr,
          .beta1 = float(b1),
          .beta2 = float(b2),
          .eps = 1e-8f,
          .weight_decay = wd,
          .bias_correction1 = float(1.0 - std::pow(b1, step)),
          .bias_correction2 = float(1.0 - std::pow(b2, step))};
}

TEST(AdamWRef, OneStepByHand) {
  // p = 1, g = 0.5, lr 0.1, wd 0.01, step 1 (bc1 = 0.1, bc2 = 0.001):
  //   p = 1 * (1 - 0.1 * 0.01) = 0.999;  m = 0.1 * 0.5 = 0.05;  v = 0.001 * 0.25 = 0.00025
  //   denom = sqrt(0.00025) / sqrt(0.001) + 1e-8 = 0.50000001;  step_size = 0.1 / 0.1 = 1
  //   p = 0.999 - 0.05 / 0.50000001 = 0.899000002
  float p = 1.0f, m = 0.0f, v = 0.0f;
  const float g = 0.5f;
  adamw_update_ref(&p, &m, &v, &g, 1, hyper(1, 0.1f, 0.01f));
  EXPECT_NEAR(m, 0.05, 1e-8);
  EXPECT_NEAR(v, 0.00025, 1e-10);
  EXPECT_NEAR(p, 0.899000002, 1e-7);
  // Step 2 with g = -1: p = 0.899000002 * 0.999 = 0.898101002;  m = 0.045 - 0.1 = -0.055;
  //   v = 0.00024975 + 0.001 = 0.00124975;  bc1 = 0.19, bc2 = 0.001999
  //   denom = sqrt(0.00124975 / 0.001999) + 1e-8 = 0.790692...;  p += (0.1 / 0.19) * 0.055 / denom
  const float g2 = -1.0f;
  adamw_update_ref(&p, &m, &v, &g2, 1, hyper(2, 0.1f, 0.01f));
  const double denom = std::sqrt(0.00124975) / std::sqrt(0.001999) + 1e-8;
  EXPECT_NEAR(m, -0.055, 1e-8);
  EXPECT_NEAR(v, 0.00124975, 1e-9);
  EXPECT_NEAR(p, 0.899000002 * 0.999 + (0.1 / 0.19) * 0.055 / denom, 2e-7);
}

// Betas arrive as float; 1 - beta must still be torch's 1 - 0.999 (computed in double,
// then rounded to float), not 1 - 0.999f, which is 1.3e-5 off.
TEST(AdamWRef, OneMinusBetaAsTorchComputesIt) {
  float p = 0.0f, m = 0.0f, v = 0.0f;
  const float g = 1.0f;
  adamw_update_ref(&p, &m, &v, &g, 1, hyper(1));
  EXPECT_EQ(m, float(1.0 - 0.9));
  EXPECT_EQ(v, float(1.0 - 0.999));
}

TEST(AdamWRef, ZeroGradientOnlyDecays) {
  float p = 2.0f, m = 0.0f, v = 0.0f;
  const float g = 0.0f;
  adamw_update_ref(&p, &m, &v, &g, 1, hyper(1, 0.5f, 0.1f));
  EXPECT_FLOAT_EQ(p, 2.0f * (1 - 0.05f));
}

TEST(AdamW, FastMatchesRefOverSteps) {
  testing::for_each_target([] {
    std::vector<int64_t> sizes = testing::awkward_sizes();
    sizes.push_back(100003);  // several threads
    for (const int64_t n : sizes) {
      SCOPED_TRACE(::testing::Message() << "n " << n);
      auto p = randn(n, uint64_t(n)), pr = p;
      std::vector<float> m(size_t(n), 0.0f), v(size_t(n), 0.0f), mr = m, vr = v;
      for (int step = 1; step <= 5; ++step) {
        const auto g = randn(n, uint64_t(n) * 7 + uint64_t(step), 0.1f);
        adamw_update(p.data(), m.data(), v.data(), g.data(), n, hyper(step));
        adamw_update_ref(pr.data(), mr.data(), vr.data(), g.data(), n, hyper(step));
        EXPECT_EQ(p, pr);
        EXPECT_EQ(m, mr);
        EXPECT_EQ(v, vr);
      }
    }
  });
}

}  // namespace
}  // namespace heed::kernels
