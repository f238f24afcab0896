// The SIMD dropout mask against its scalar reference (philox_uniform per element), bit for
// bit, on every Highway target this CPU has, at awkward sizes and offsets, in place too.
#include <gtest/gtest.h>

#include "heed/kernels/dropout.h"
#include "tests/kernels/rowwise_test_util.h"

namespace heed::kernels {
namespace {

TEST(DropoutKernel, MatchesScalarReferenceBitForBit) {
  testing::for_each_target([] {
    std::vector<int64_t> sizes = testing::awkward_sizes();
    sizes.push_back(100003);  // several threads, chunk edges off the 4-element blocks
    for (const int64_t n : sizes)
      for (const uint64_t offset : {uint64_t(0), uint64_t(4), uint64_t(1), uint64_t(4099)})
        for (const float p : {0.1f, 0.5f}) {
          SCOPED_TRACE(::testing::Message() << "n " << n << " offset " << offset << " p " << p);
          const auto x = testing::randn(n, uint64_t(n));
          std::vector<float> y(x.size()), yr(x.size());
          dropout_apply(y.data(), x.data(), n, p, 0x1234567890abcdefull, offset);
          dropout_apply_ref(yr.data(), x.data(), n, p, 0x1234567890abcdefull, offset);
          ASSERT_EQ(y, yr);
          std::vector<float> inplace = x;
          dropout_apply(inplace.data(), inplace.data(), n, p, 0x1234567890abcdefull, offset);
          ASSERT_EQ(inplace, yr);
        }
  });
}

TEST(DropoutKernel, DropsAboutPOfTheElements) {
  const int64_t n = 1 << 20;
  std::vector<float> x(static_cast<size_t>(n), 1.0f), y(static_cast<size_t>(n));
  dropout_apply(y.data(), x.data(), n, 0.3f, 42, 0);
  int64_t zeros = 0;
  for (float v : y) {
    zeros += v == 0.0f;
    ASSERT_TRUE(v == 0.0f || v == 1.0f / 0.7f);
  }
  EXPECT_NEAR(double(zeros) / double(n), 0.3, 0.003);  // ~6 sigma
}

}  // namespace
}  // namespace heed::kernels
