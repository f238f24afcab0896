// PackedLinear (oneDNN matmul with packed weights) against gemm_ref on awkward sizes, in
// f32 (bias, GELU, residual accumulate), bf16 (against the reference on bf16-rounded
// operands) and int8 (against the reference on the dequantized operands); and the
// inference row-wise kernels against their scalar twins on every SIMD target.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "heed/base/bf16.h"
#include "heed/base/error.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/infer_rowwise.h"
#include "heed/kernels/packed_linear.h"
#include "rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::all_close;
using testing::randn;

struct Size {
  int64_t M, N, K;
};
const std::vector<Size> kSizes = {{1, 1, 1},   {7, 63, 65},  {65, 64, 7},
                                  {1, 768, 768}, {33, 1000, 64}, {128, 96, 300}};

double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

// want (M, N) = act(x W^T + b) [+ base]
std::vector<float> reference(const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& b, const std::vector<float>* base, Size s,
                             bool gelu) {
  std::vector<float> y(size_t(s.M * s.N));
  gemm_ref(false, true, s.M, s.N, s.K, 1.0f, x.data(), s.K, w.data(), s.K, 0.0f, y.data(), s.N);
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = 0; j < s.N; ++j) {
      float& v = y[size_t(i * s.N + j)];
      v += b[size_t(j)];
      if (gelu) v = float(gelu_ref(v));
      if (base) v += (*base)[size_t(i * s.N + j)];
    }
  return y;
}

std::vector<float> round_bf16(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_to_float(float_to_bf16(v[i]));
  return r;
}

TEST(PackedLinear, F32MatchesReferenceWithBiasGeluAndAccumulate) {
  for (const Size s : kSizes) {
    SCOPED_TRACE(::testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K);
    const auto x = randn(s.M * s.K, 1), w = randn(s.N * s.K, 2, 0.1f), b = randn(s.N, 3);
    const auto base = randn(s.M * s.N, 4);
    PackedLinear plain(w.data(), b.data(), {.in = s.K, .out = s.N});
    PackedLinear gelu(w.data(), b.data(), {.in = s.K, .out = s.N, .act = LinearAct::Gelu});
    PackedLinear acc(w.data(), b.data(), {.in = s.K, .out = s.N, .accumulate = true});
    std::vector<float> y(size_t(s.M * s.N));
    plain.forward(y.data(), x.data(), s.M);
    EXPECT_TRUE(all_close(y, reference(x, w, b, nullptr, s, false), 1e-4, 1e-4));
    gelu.forward(y.data(), x.data(), s.M);
    EXPECT_TRUE(all_close(y, reference(x, w, b, nullptr, s, true), 1e-4, 1e-4));
    y = base;
    acc.forward(y.data(), x.data(), s.M);
    EXPECT_TRUE(all_close(y, reference(x, w, b, &base, s, false), 1e-4, 1e-4));
    // A second M reuses the packed weights (a new primitive).
    if (s.M > 1) {
      plain.forward(y.data(), x.data(), s.M - 1);
      const auto want = reference(x, w, b, nullptr, s, false);
      EXPECT_TRUE(all_close(y.data(), want.data(), (s.M - 1) * s.N, 1e-4, 1e-4));
    }
  }
}

TEST(PackedLinear, Bf16MatchesReferenceOnRoundedOperands) {
  for (const Size s : kSizes) {
    SCOPED_TRACE(::testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K);
    const auto x = randn(s.M * s.K, 5), w = randn(s.N * s.K, 6, 0.1f), b = randn(s.N, 7);
    std::vector<uint16_t> xb(x.size());
    f32_to_bf16(xb.data(), x.data(), int64_t(x.size()));
    const auto want = reference(round_bf16(x), round_bf16(w), b, nullptr, s, true);
    PackedLinear f32out(w.data(), b.data(),
                        {.in = s.K, .out = s.N, .precision = LinearPrecision::BF16,
                         .act = LinearAct::Gelu});
    std::vector<float> y(size_t(s.M * s.N));
    f32out.forward(y.data(), xb.data(), s.M);
    EXPECT_TRUE(all_close(y, want, 1e-4, 1e-4));
    PackedLinear b16out(w.data(), b.data(),
                        {.in = s.K, .out = s.N, .precision = LinearPrecision::BF16,
                         .act = LinearAct::Gelu, .bf16_out = true});
    std::vector<uint16_t> yb(size_t(s.M * s.N));
    b16out.forward(yb.data(), xb.data(), s.M);
    for (size_t i = 0; i < yb.size(); ++i) y[i] = bf16_to_float(bf16{yb[i]});
    EXPECT_TRUE(all_close(y, want, 1e-3, 8e-3));  // bf16 output: 8 mantissa bits
  }
}

TEST(PackedLinear, Int8MatchesReferenceOnDequantizedOperands) {
  for (const Size s : kSizes) {
    SCOPED_TRACE(::testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K);
    auto x = randn(s.M * s.K, 8);
    for (size_t i = 0; i < x.size(); i += 3) x[i] = std::fabs(x[i]) + 0.5f;  // skewed rows
    const auto w = randn(s.N * s.K, 9, 0.1f), b = randn(s.N, 10);
    for (const bool gelu : {false, true}) {
      PackedLinear lin(w.data(), b.data(),
                       {.in = s.K, .out = s.N, .precision = LinearPrecision::Int8,
                        .act = gelu ? LinearAct::Gelu : LinearAct::None});
      std::vector<uint8_t> q(x.size());
      std::vector<float> xs(size_t(s.M));
      std::vector<int32_t> xz(size_t(s.M)), acc(size_t(s.M * s.N));
      quantize_rows_u8(q.data(), xs.data(), xz.data(), x.data(), s.M, s.K);
      std::vector<float> y(size_t(s.M * s.N));
      lin.forward_int8(y.data(), q.data(), xs.data(), xz.data(), acc.data(), s.M);
      // The same computation on the dequantized operands, in f32.
      std::vector<int8_t> wq(w.size());
      std::vector<float> ws(size_t(s.N));
      lin.int8_weights(wq.data(), ws.data());
      std::vector<float> xd(x.size()), wd(w.size());
      for (int64_t i = 0; i < s.M * s.K; ++i)
        xd[size_t(i)] = float(int32_t(q[size_t(i)]) - xz[size_t(i / s.K)]) * xs[size_t(i / s.K)];
      for (int64_t i = 0; i < s.N * s.K; ++i) wd[size_t(i)] = float(wq[size_t(i)]) * ws[size_t(i / s.K)];
      EXPECT_TRUE(all_close(y, reference(xd, wd, b, nullptr, s, gelu), 1e-4, 1e-4));
    }
  }
}

TEST(InferRowwise, MatchScalarTwinsOnEveryTarget) {
  testing::for_each_target([] {
    for (const int64_t cols : testing::awkward_sizes()) {
      SCOPED_TRACE(::testing::Message() << "cols=" << cols);
      const int64_t rows = 5;
      auto x = randn(rows * cols, 11, 3.0f);
      x[0] = 1.0f / 3.0f;  // a tie-free value; rounding is checked bit-exactly below
      const auto w = randn(cols, 12), b = randn(cols, 13);
      // LayerNorm in place with a bf16 copy.
      auto a = x, r = x;
      std::vector<uint16_t> ab(x.size()), rb(x.size());
      layer_norm_inplace_forward(a.data(), ab.data(), w.data(), b.data(), rows, cols, 1e-12f);
      layer_norm_inplace_forward_ref(r.data(), rb.data(), w.data(), b.data(), rows, cols, 1e-12f);
      EXPECT_TRUE(all_close(a, r, 1e-5, 1e-5));
      int64_t off = 0;  // bf16 of nearly equal floats may differ by one ulp
      for (size_t i = 0; i < ab.size(); ++i) off += std::abs(int(ab[i]) - int(rb[i])) > 1;
      EXPECT_EQ(off, 0);
      // f32 -> bf16 is bit-exact.
      std::vector<uint16_t> c1(x.size()), c2(x.size());
      f32_to_bf16(c1.data(), x.data(), int64_t(x.size()));
      f32_to_bf16_ref(c2.data(), x.data(), int64_t(x.size()));
      EXPECT_EQ(c1, c2);
      // u8 quantization is exact too (same rounding, half to even).
      std::vector<uint8_t> q1(x.size()), q2(x.size());
      std::vector<float> s1(static_cast<size_t>(rows)), s2(static_cast<size_t>(rows));
      std::vector<int32_t> z1(static_cast<size_t>(rows)), z2(static_cast<size_t>(rows));
      quantize_rows_u8(q1.data(), s1.data(), z1.data(), x.data(), rows, cols);
      quantize_rows_u8_ref(q2.data(), s2.data(), z2.data(), x.data(), rows, cols);
      EXPECT_EQ(s1, s2);
      EXPECT_EQ(z1, z2);
      int64_t qoff = 0;
      for (size_t i = 0; i < q1.size(); ++i) qoff += std::abs(int(q1[i]) - int(q2[i])) > 1;
      EXPECT_EQ(qoff, 0);
      // The int8 epilogue (fast GELU within 1e-6 of erf GELU).
      std::vector<int32_t> acc(x.size()), colsum(static_cast<size_t>(cols));
      for (size_t i = 0; i < acc.size(); ++i) acc[i] = int32_t(i * 7919 % 20001) - 10000;
      for (int64_t j = 0; j < cols; ++j) colsum[size_t(j)] = int32_t(j % 13) - 6;
      std::vector<float> cs(size_t(cols), 1e-4f), rs(size_t(rows), 2e-2f);
      std::vector<int32_t> rz(size_t(rows), 3);
      for (const bool gelu : {false, true})
        for (const bool accumulate : {false, true}) {
          auto o1 = x, o2 = x;
          int8_epilogue(o1.data(), acc.data(), rs.data(), rz.data(), cs.data(), colsum.data(),
                        b.data(), rows, cols, gelu, accumulate);
          int8_epilogue_ref(o2.data(), acc.data(), rs.data(), rz.data(), cs.data(),
                            colsum.data(), b.data(), rows, cols, gelu, accumulate);
          EXPECT_TRUE(all_close(o1, o2, 2e-6, 1e-5));
        }
      // The fused epilogue + quantization equals the two fast kernels in sequence, bit for bit.
      for (const bool gelu : {false, true})
        for (const float* bias : {static_cast<const float*>(nullptr), b.data()}) {
          std::vector<float> y(x.size()), fs(static_cast<size_t>(rows)), us(static_cast<size_t>(rows));
          std::vector<int32_t> fz(static_cast<size_t>(rows)), uz(static_cast<size_t>(rows));
          std::vector<uint8_t> fq(x.size()), uq(x.size());
          int8_epilogue(y.data(), acc.data(), rs.data(), rz.data(), cs.data(), colsum.data(),
                        bias, rows, cols, gelu, false);
          quantize_rows_u8(uq.data(), us.data(), uz.data(), y.data(), rows, cols);
          int8_epilogue_quantize(fq.data(), fs.data(), fz.data(), acc.data(), rs.data(),
                                 rz.data(), cs.data(), colsum.data(), bias, rows, cols, gelu);
          EXPECT_EQ(fq, uq);
          EXPECT_EQ(fs, us);
          EXPECT_EQ(fz, uz);
        }
    }
  });
}

TEST(PackedLinear, Int8QuantizedOutputEqualsForwardThenQuantize) {
  for (const Size s : kSizes) {
    SCOPED_TRACE(::testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K);
    const auto x = randn(s.M * s.K, 14), w = randn(s.N * s.K, 15, 0.1f), b = randn(s.N, 16);
    PackedLinear lin(w.data(), b.data(),
                     {.in = s.K, .out = s.N, .precision = LinearPrecision::Int8,
                      .act = LinearAct::Gelu});
    std::vector<uint8_t> q(x.size()), q1(size_t(s.M * s.N)), q2(q1.size());
    std::vector<float> xs(size_t(s.M)), s1(size_t(s.M)), s2(size_t(s.M)), y(q1.size());
    std::vector<int32_t> xz(size_t(s.M)), z1(size_t(s.M)), z2(size_t(s.M)), acc(q1.size());
    quantize_rows_u8(q.data(), xs.data(), xz.data(), x.data(), s.M, s.K);
    lin.forward_int8(y.data(), q.data(), xs.data(), xz.data(), acc.data(), s.M);
    quantize_rows_u8(q1.data(), s1.data(), z1.data(), y.data(), s.M, s.N);
    lin.forward_int8_quantized(q2.data(), s2.data(), z2.data(), q.data(), xs.data(), xz.data(),
                               acc.data(), s.M);
    EXPECT_EQ(q1, q2);
    EXPECT_EQ(s1, s2);
    EXPECT_EQ(z1, z2);
  }
  const auto w = randn(8 * 4, 17);
  PackedLinear acc_lin(w.data(), nullptr,
                       {.in = 4, .out = 8, .precision = LinearPrecision::Int8, .accumulate = true});
  std::vector<uint8_t> q(8);
  std::vector<float> sc(1);
  std::vector<int32_t> z(1), a(8);
  EXPECT_THROW(acc_lin.forward_int8_quantized(q.data(), sc.data(), z.data(), q.data(), sc.data(),
                                              z.data(), a.data(), 1),
               Error);
}

}  // namespace
}  // namespace heed::kernels
