// attention_forward_bf16 (AVX512_BF16) against two truths:
//  - attention_forward_bf16_ref: the same bf16 roundings, double sums, one softmax per row.
//    The kernel's online softmax rounds exp(x - running max) to bf16 where the reference
//    rounds exp(x - final max), so the two may differ by one bf16 rounding of some
//    probabilities (2^-9 relative): tolerance 2e-3 of max|ref|. With one key block (T <= 64)
//    the maxima agree and the tolerance is 1e-4.
//  - the f32 scalar attention (attention_forward_ref) given the masks the f32 engine uses
//    (HF's additive finfo.min): within 2e-2 of max|ref|, the precision the bf16 engine promises.
// The kernel reads q, k, v from token-major rows with strides (as in the fused QKV output).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "heed/base/error.h"
#include "heed/base/rng.h"
#include "heed/kernels/attention.h"
#include "heed/kernels/attention_bf16.h"

namespace heed::kernels {
namespace {

enum class Mask { kNone, kPadded, kAllMaskedBatch, kLeadingBlockMasked };

struct Case {
  std::string name;
  int64_t B = 1, H = 1, T = 1, D = 64;
  Mask mask = Mask::kNone;
  bool interleaved = true;  // q, k, v as the (B*T, 3*H*D) rows of a fused QKV GEMM
};

// Inputs in token-major layout; q, k, v point into one buffer.
struct Problem {
  TokenAttentionParams p;
  std::vector<float> buf, out, out_ref;
  std::vector<uint8_t> mask;
  const float *q = nullptr, *k = nullptr, *v = nullptr;

  explicit Problem(const Case& c) {
    const int64_t C = c.H * c.D, M = c.B * c.T;
    p = {.B = c.B, .H = c.H, .T = c.T, .D = c.D, .scale = 1.0f / std::sqrt(float(c.D))};
    Generator g(7);
    if (c.interleaved) {
      buf.resize(size_t(M * 3 * C));
      q = buf.data(), k = buf.data() + C, v = buf.data() + 2 * C;
      p.ldq = p.ldk = p.ldv = 3 * C;
    } else {  // three separate tensors, rows padded by 16 floats
      buf.resize(size_t(3 * M * (C + 16)));
      q = buf.data(), k = q + M * (C + 16), v = k + M * (C + 16);
      p.ldq = p.ldk = p.ldv = C + 16;
    }
    for (float& x : buf) x = g.normal();
    for (int64_t r = 0; r < M; ++r)  // queries twice as large as keys: sharper rows
      for (int64_t j = 0; j < C; ++j) buf[size_t((q - buf.data()) + r * p.ldq + j)] *= 2.0f;
    p.ldo = C + (c.interleaved ? 0 : 8);
    out.assign(size_t(M * p.ldo), -7.0f);
    out_ref = out;
    if (c.mask != Mask::kNone) {
      mask.assign(size_t(M), 1);
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t t = 0; t < c.T; ++t) {
          uint8_t& m = mask[size_t(b * c.T + t)];
          if (c.mask == Mask::kPadded) m = t < c.T - (b * 5) % c.T;  // batch b: last 5b keys off
          if (c.mask == Mask::kAllMaskedBatch) m = b != 1;
          if (c.mask == Mask::kLeadingBlockMasked) m = t >= 70 || t % 17 == 3;
        }
      p.key_mask = mask.data();
    }
  }

  // The f32 truth, with HF's additive mask (finfo.min on masked keys, as BertEngine's f32 path).
  std::vector<float> f32_reference() const {
    const int64_t B = p.B, H = p.H, T = p.T, D = p.D;
    std::vector<float> qh(size_t(B * H * T * D)), kh(qh.size()), vh(qh.size()), oh(qh.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < D; ++d) {
            const size_t o = size_t(((b * H + h) * T + t) * D + d);
            qh[o] = q[(b * T + t) * p.ldq + h * D + d];
            kh[o] = k[(b * T + t) * p.ldk + h * D + d];
            vh[o] = v[(b * T + t) * p.ldv + h * D + d];
          }
    std::vector<float> bias(size_t(B * T), 0.0f), lse(size_t(B * H * T));
    if (p.key_mask)
      for (size_t i = 0; i < bias.size(); ++i)
        if (!p.key_mask[i]) bias[i] = std::numeric_limits<float>::lowest();
    AttentionParams ap{.B = B, .H = H, .T = T, .S = T, .D = D, .scale = p.scale};
    ap.bias = bias.data();
    ap.bias_sb = T;
    attention_forward_ref(oh.data(), lse.data(), qh.data(), kh.data(), vh.data(), ap);
    std::vector<float> res(out.size(), -7.0f);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < D; ++d)
            res[size_t((b * T + t) * p.ldo + h * D + d)] = oh[size_t(((b * H + h) * T + t) * D + d)];
    return res;
  }
};

std::vector<Case> cases() {
  return {
      {"one_token", 1, 1, 1, 64},
      {"short_d16", 2, 3, 5, 16},
      {"one_block", 2, 4, 64, 64},
      {"two_blocks_padded_keys", 2, 2, 77, 64, Mask::kPadded},
      {"bert_base_s128", 1, 12, 128, 64, Mask::kPadded},
      {"mini_batch", 3, 4, 128, 64, Mask::kPadded, false},
      {"all_masked_batch", 3, 2, 40, 32, Mask::kAllMaskedBatch},
      {"all_masked_batch_multiblock", 2, 2, 150, 64, Mask::kAllMaskedBatch},
      {"leading_block_masked", 2, 2, 200, 64, Mask::kLeadingBlockMasked},
      {"d80_d_tail", 1, 2, 70, 80},
      {"d128", 1, 2, 130, 128, Mask::kPadded, false},
      {"s512", 1, 2, 512, 64, Mask::kPadded},
  };
}

float max_abs(const std::vector<float>& x) {
  float m = 0.0f;
  for (float e : x) m = std::max(m, std::abs(e));
  return m;
}

TEST(AttentionBf16, MatchesBf16ReferenceAndF32Attention) {
  if (!attention_bf16_supported(64)) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Problem pr(c);
    attention_forward_bf16(pr.out.data(), pr.q, pr.k, pr.v, pr.p);
    attention_forward_bf16_ref(pr.out_ref.data(), pr.q, pr.k, pr.v, pr.p);
    const std::vector<float> f32 = pr.f32_reference();
    const float scale = max_abs(pr.out_ref);
    const float tol_ref = (c.T <= 64 ? 1e-4f : 2e-3f) * scale, tol_f32 = 2e-2f * scale;
    ASSERT_GT(scale, 0.05f);
    int bad = 0;
    for (size_t i = 0; i < pr.out.size(); ++i) {
      const bool padding = (int64_t(i) % pr.p.ldo) >= pr.p.H * pr.p.D;
      if (padding) {  // columns past H*D are never written
        if (pr.out[i] != -7.0f && bad++ < 5) ADD_FAILURE() << "wrote padding column at " << i;
        continue;
      }
      if (std::abs(pr.out[i] - pr.out_ref[i]) > tol_ref && bad++ < 5)
        ADD_FAILURE() << "at " << i << ": " << pr.out[i] << " vs bf16 ref " << pr.out_ref[i];
      if (std::abs(pr.out[i] - f32[i]) > tol_f32 && bad++ < 5)
        ADD_FAILURE() << "at " << i << ": " << pr.out[i] << " vs f32 " << f32[i];
    }
    EXPECT_EQ(bad, 0);
  }
}

// The reference's roundings are real: bf16 attention differs from f32 attention by far more
// than the kernel differs from its reference (else the first test could not tell them apart).
TEST(AttentionBf16, ReferenceRoundsLikeBf16) {
  Problem pr({"r", 1, 2, 100, 64, Mask::kPadded});
  attention_forward_bf16_ref(pr.out_ref.data(), pr.q, pr.k, pr.v, pr.p);
  const std::vector<float> f32 = pr.f32_reference();
  float worst = 0.0f;
  for (size_t i = 0; i < f32.size(); ++i) worst = std::max(worst, std::abs(f32[i] - pr.out_ref[i]));
  EXPECT_GT(worst, 1e-3f * max_abs(f32));
}

TEST(AttentionBf16, BadShapesAreNamed) {
  std::vector<float> x(4096);
  TokenAttentionParams p{.B = 1, .H = 2, .T = 4, .D = 24, .scale = 1.0f};
  p.ldq = p.ldk = p.ldv = p.ldo = 48;
  EXPECT_FALSE(attention_bf16_supported(24));
  try {
    attention_forward_bf16(x.data(), x.data(), x.data(), x.data(), p);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head size 24"), std::string::npos) << e.what();
  }
  p.D = 32;
  p.ldk = 40;  // < H*D = 64
  try {
    attention_forward_bf16(x.data(), x.data(), x.data(), x.data(), p);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k 40"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace heed::kernels
