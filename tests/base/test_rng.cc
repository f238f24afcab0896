#include "heed/base/rng.h"

#include <gtest/gtest.h>

#include "heed/base/bf16.h"
#include "heed/base/error.h"

namespace heed {

// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32_10).
TEST(Philox, KnownAnswerZero) {
  auto r = philox4x32(0, 0);
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

TEST(Generator, DeterministicAndStateful) {
  Generator a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u32(), b.next_u32());
  Generator c(42);
  c.set_state(42, a.offset());
  EXPECT_EQ(c.next_u32(), a.next_u32());
  Generator d(43);
  EXPECT_NE(Generator(42).next_u32(), d.next_u32());
}

TEST(Generator, UniformMoments) {
  Generator g(7);
  double s = 0, s2 = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float u = g.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    s += u;
    s2 += double(u) * u;
  }
  EXPECT_NEAR(s / n, 0.5, 0.01);
  EXPECT_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.005);
}

TEST(BF16, RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even -> 1.0
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
}

TEST(F16, Conversions) {
  for (float f : {0.0f, 1.0f, -1.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(f16_to_float(float_to_f16(f)), f) << f;
  }
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
}

TEST(Error, CheckThrowsWithMessage) {
  try {
    HEED_CHECK(1 == 2, "op: shapes {} and {} differ", 3, 4);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "op: shapes 3 and 4 differ");
  }
}

}  // namespace heed
