// Helpers shared by the row-wise kernel tests (softmax, layer_norm, activation,
// cross_entropy, adamw): random data, element-wise comparison, and a loop that runs
// a check once per SIMD target the CPU supports.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "heed/base/rng.h"

namespace heed::kernels::testing {

// The awkward sizes every kernel is checked on: 1, below/at/above a vector multiple.
inline const std::vector<int64_t>& awkward_sizes() {
  static const std::vector<int64_t> sizes = {1, 7, 63, 64, 65, 768, 1000};
  return sizes;
}

inline std::vector<float> randn(int64_t n, uint64_t seed, float scale = 1.0f) {
  Generator g(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = scale * g.normal();
  return v;
}

// Checks |actual - expected| <= atol + rtol * |expected| element-wise; NaN must match NaN
// and infinities must match exactly. Reports the first few failures.
inline ::testing::AssertionResult all_close(const float* actual, const float* expected, int64_t n,
                                            double atol, double rtol) {
  int64_t bad = 0;
  std::string msg;
  for (int64_t i = 0; i < n; ++i) {
    const double a = actual[i], e = expected[i];
    bool ok;
    if (std::isnan(e) || std::isnan(a)) {
      ok = std::isnan(e) && std::isnan(a);
    } else if (std::isinf(e) || std::isinf(a)) {
      ok = a == e;
    } else {
      ok = std::fabs(a - e) <= atol + rtol * std::fabs(e);
    }
    if (!ok && bad++ < 5)
      msg += "\n  [" + std::to_string(i) + "] got " + std::to_string(a) + " want " +
             std::to_string(e) + " (diff " + std::to_string(a - e) + ")";
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << n << " elements differ (atol " << atol
                                       << ", rtol " << rtol << "):" << msg;
}

inline ::testing::AssertionResult all_close(const std::vector<float>& actual,
                                            const std::vector<float>& expected, double atol,
                                            double rtol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << "sizes differ: " << actual.size() << " vs " << expected.size();
  return all_close(actual.data(), expected.data(), int64_t(actual.size()), atol, rtol);
}

// Runs body once per Highway target this CPU supports among AVX-512, AVX2 and the scalar
// fallback, by forcing run-time dispatch, so the AVX2 path users without AVX-512 get is
// tested on an AVX-512 machine too.
template <class F>
void for_each_target(F&& body) {
  const int64_t supported = hwy::SupportedTargets();
  for (const int64_t t : {int64_t(HWY_AVX3), int64_t(HWY_AVX2), int64_t(HWY_SCALAR)}) {
    if ((supported & t) == 0) continue;
    hwy::SetSupportedTargetsForTest(t);
    SCOPED_TRACE(std::string("target ") + hwy::TargetName(t));
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Central difference of a double-valued function of x at index i.
template <class F>
double central_difference(F&& f, std::vector<double>& x, size_t i, double h = 1e-5) {
  const double x0 = x[i];
  x[i] = x0 + h;
  const double fp = f(x);
  x[i] = x0 - h;
  const double fm = f(x);
  x[i] = x0;
  return (fp - fm) / (2 * h);
}

}  // namespace heed::kernels::testing
