// gemm_bf16 (oneDNN bf16 matmul, cached per shape) against the scalar reference on the same
// bf16 operands, for every transpose combination, leading dimensions wider than the
// matrix, alpha/beta, and sizes off the vector and block widths.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "heed/base/bf16.h"
#include "heed/kernels/gemm_bf16.h"
#include "rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::all_close;
using testing::randn;

std::vector<uint16_t> to_bits(const std::vector<float>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = float_to_bf16(v[i]).bits;
  return r;
}

struct Case {
  int64_t M, N, K;
};

TEST(GemmBf16, MatchesReferenceForEveryTransposeAndStride) {
  const std::vector<Case> cases = {{1, 1, 1}, {7, 63, 65}, {65, 64, 7}, {128, 256, 256},
                                   {33, 1000, 64}, {256, 96, 300}};
  int seed = 1;
  for (const Case c : cases)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (const auto& [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 1.0f}}) {
          SCOPED_TRACE(::testing::Message() << "M=" << c.M << " N=" << c.N << " K=" << c.K
                                            << " ta=" << ta << " tb=" << tb << " beta=" << beta);
          // Stored shapes with 3 spare columns each, so ld != the logical width.
          const int64_t ar = ta ? c.K : c.M, ac = ta ? c.M : c.K;
          const int64_t br = tb ? c.N : c.K, bc = tb ? c.K : c.N;
          const int64_t lda = ac + 3, ldb = bc + 3, ldc = c.N + 3;
          const auto a = to_bits(randn(ar * lda, seed++));
          const auto b = to_bits(randn(br * ldb, seed++));
          const auto c0 = randn(c.M * ldc, seed++);
          auto got = c0, want = c0;
          gemm_bf16(ta, tb, c.M, c.N, c.K, alpha, a.data(), lda, b.data(), ldb, beta, got.data(),
                    ldc);
          gemm_bf16_ref(ta, tb, c.M, c.N, c.K, alpha, a.data(), lda, b.data(), ldb, beta,
                        want.data(), ldc);
          // Products of bf16 values are exact in f32; only the summation order differs.
          EXPECT_TRUE(all_close(got, want, 1e-4, 1e-4));
          // Run again: the cached primitive gives the same result.
          auto again = c0;
          gemm_bf16(ta, tb, c.M, c.N, c.K, alpha, a.data(), lda, b.data(), ldb, beta,
                    again.data(), ldc);
          EXPECT_EQ(again, got);
        }
}

TEST(GemmBf16, EmptyInnerDimensionScalesC) {
  std::vector<float> c = {1.0f, 2.0f, 3.0f, 4.0f};
  gemm_bf16(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 0}));
}

// ctest also runs this suite with ONEDNN_MAX_CPU_ISA=AVX2 (tests/CMakeLists.txt), where
// oneDNN has no fast bf16 matmul: then the widened-sgemm fallback must be the path taken.
TEST(GemmBf16, FallsBackToSgemmWithoutAvx512) {
  const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  std::printf("gemm_bf16 native: %s\n", gemm_bf16_native() ? "yes" : "no (f32 fallback)");
  if (isa && std::string(isa) == "AVX2") {
    EXPECT_FALSE(gemm_bf16_native());
  }
}

}  // namespace
}  // namespace heed::kernels
