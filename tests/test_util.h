// Shared test helpers: closeness checks with informative failures, golden loading.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "heed/tensor/tensor.h"

namespace heed::testing {

// |a - b| <= atol + rtol * |b| elementwise; reports the worst element.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double rtol,
                                            double atol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure()
           << "shapes differ: " << fmt::format("{}", a.shape()) << " vs "
           << fmt::format("{}", b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double worst = 0.0;
  size_t wi = 0;
  bool ok = true;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(double(va[i]) - double(vb[i]));
    const double lim = atol + rtol * std::abs(double(vb[i]));
    if (!(d <= lim)) ok = false;
    const double excess = std::isnan(d) ? 1e30 : d - lim;
    if (i == 0 || excess > worst) {
      worst = excess;
      wi = i;
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << wi << ": " << va[wi] << " vs " << vb[wi]
                                       << " (rtol " << rtol << ", atol " << atol << ")";
}

inline std::string golden_path(const std::string& name) {
  return std::string(HEED_GOLDEN_DIR) + "/" + name;
}

}  // namespace heed::testing
