// Fused attention (attention.cc) against the scalar reference (attention_ref.cc), and the
// reference against finite differences and a hand-computed example.
//
// Tolerance: |fast - ref| <= kTol * (|ref| + max|ref|) elementwise, kTol = 1e-5 (2e-5 for
// the T = S = 2048 case), i.e. relative to the element plus an absolute floor relative to
// the largest entry of the tensor (entries that cancel to ~0 cannot be matched relatively).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "heed/base/parallel.h"
#include "heed/base/rng.h"
#include "heed/kernels/attention.h"
#include "hwy/targets.h"

namespace heed::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

enum class Mask { kNone, kPadded, kAllMaskedBatch };
enum class Bias { kNone, kFull, kShared /* (T,S) broadcast over B,H */, kKeys /* (B,S) */ };

struct Case {
  std::string name;
  int64_t B = 1, H = 1, T = 1, S = 1, D = 64;
  bool causal = false;
  Mask mask = Mask::kNone;
  Bias bias = Bias::kNone;
  float dropout = 0.0f;
  float tol = 1e-5f;
};

void fill_normal(std::vector<float>& x, uint64_t seed, float stddev = 1.0f) {
  Generator g(seed);
  for (float& v : x) v = stddev * g.normal();
}

// Inputs and parameters of one case; vectors own what params point to.
struct Problem {
  AttentionParams p;
  std::vector<float> q, k, v, dout, bias;
  std::vector<uint8_t> key_mask;

  explicit Problem(const Case& c) {
    p = {.B = c.B, .H = c.H, .T = c.T, .S = c.S, .D = c.D};
    p.scale = 1.0f / std::sqrt(float(c.D));
    p.causal = c.causal;
    q.resize(size_t(c.B * c.H * c.T * c.D));
    k.resize(size_t(c.B * c.H * c.S * c.D));
    v.resize(k.size());
    dout.resize(q.size());
    // Queries twice as large as keys: sharper softmax rows than plain N(0,1) scores.
    fill_normal(q, 1, 2.0f);
    fill_normal(k, 2);
    fill_normal(v, 3);
    fill_normal(dout, 4);
    if (c.mask != Mask::kNone) {
      key_mask.assign(size_t(c.B * c.S), 1);
      for (int64_t b = 0; b < c.B; ++b) {
        // Batch b pads its last b*S/3 keys; batch 1 masks all keys in kAllMaskedBatch.
        int64_t keep = c.S - b * c.S / 3;
        if (c.mask == Mask::kAllMaskedBatch && b == 1) keep = 0;
        for (int64_t s = std::max<int64_t>(keep, 0); s < c.S; ++s)
          key_mask[size_t(b * c.S + s)] = 0;
      }
      p.key_mask = key_mask.data();
    }
    switch (c.bias) {
      case Bias::kNone:
        break;
      case Bias::kFull:
        bias.resize(size_t(c.B * c.H * c.T * c.S));
        p.bias_sb = c.H * c.T * c.S, p.bias_sh = c.T * c.S, p.bias_st = c.S;
        break;
      case Bias::kShared:
        bias.resize(size_t(c.T * c.S));
        p.bias_st = c.S;
        break;
      case Bias::kKeys:
        bias.resize(size_t(c.B * c.S));
        p.bias_sb = c.S;
        break;
    }
    if (!bias.empty()) {
      fill_normal(bias, 5);
      // A few -inf entries, as an additive mask has.
      for (size_t i = 7; i < bias.size(); i += 11) bias[i] = -kInf;
      p.bias = bias.data();
    }
    p.dropout_p = c.dropout;
    p.dropout_seed = 1234;
    p.dropout_offset = 8;
  }
};

// |a - b| <= tol * (|b| + max|b|); infinities must match exactly.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float scale = 0.0f;
  for (float w : want)
    if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float g = got[i], w = want[i];
    const bool ok = std::isinf(w) ? g == w : std::abs(g - w) <= tol * (std::abs(w) + scale);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: fast " << g << " vs ref " << w << " (max|ref| "
                    << scale << ")";
  }
}

// The SIMD targets to exercise: the best one and AVX2 (what users without AVX-512 get),
// plus the portable EMU128 fallback when `portable`.
std::vector<int64_t> targets_to_test(bool portable) {
  std::vector<int64_t> out;
  for (int64_t t : {int64_t(HWY_AVX3), int64_t(HWY_AVX2), int64_t(HWY_EMU128)}) {
    if ((hwy::SupportedTargets() & t) == 0) continue;
    if (t == HWY_EMU128 && !portable) continue;
    out.push_back(t);
  }
  return out;
}

struct TargetGuard {
  explicit TargetGuard(int64_t t) { hwy::SetSupportedTargetsForTest(t); }
  ~TargetGuard() { hwy::SetSupportedTargetsForTest(0); }
};

void check_case(const Case& c, bool all_targets) {
  SCOPED_TRACE(c.name);
  Problem pr(c);
  const AttentionParams& p = pr.p;
  const size_t nq = pr.q.size(), nk = pr.k.size(), nlse = size_t(c.B * c.H * c.T);

  std::vector<float> out_ref(nq), lse_ref(nlse);
  attention_forward_ref(out_ref.data(), lse_ref.data(), pr.q.data(), pr.k.data(), pr.v.data(), p);
  // Backward accumulates: start every gradient from the same non-zero values.
  std::vector<float> dq0(nq), dk0(nk), dv0(nk);
  fill_normal(dq0, 6), fill_normal(dk0, 7), fill_normal(dv0, 8);
  std::vector<float> dq_ref = dq0, dk_ref = dk0, dv_ref = dv0;
  attention_backward_ref(dq_ref.data(), dk_ref.data(), dv_ref.data(), pr.dout.data(), pr.q.data(),
                         pr.k.data(), pr.v.data(), out_ref.data(), lse_ref.data(), p);

  for (int64_t target : targets_to_test(all_targets)) {
    SCOPED_TRACE(hwy::TargetName(target));
    TargetGuard guard(target);
    std::vector<float> out(nq, 7.0f), lse(nlse, 7.0f);
    attention_forward(out.data(), lse.data(), pr.q.data(), pr.k.data(), pr.v.data(), p);
    expect_close(out, out_ref, c.tol, "out");
    expect_close(lse, lse_ref, c.tol, "lse");

    std::vector<float> dq = dq0, dk = dk0, dv = dv0;
    attention_backward(dq.data(), dk.data(), dv.data(), pr.dout.data(), pr.q.data(), pr.k.data(),
                       pr.v.data(), out.data(), lse.data(), p);
    expect_close(dq, dq_ref, c.tol, "dq");
    expect_close(dk, dk_ref, c.tol, "dk");
    expect_close(dv, dv_ref, c.tol, "dv");
  }
}

std::vector<Case> table() {
  std::vector<Case> cases;
  // Head dims, including ones that are not a multiple of the vector width.
  for (int64_t D : {16, 32, 64, 128, 7, 65})
    cases.push_back({.name = fmt::format("D{}", D), .B = 2, .H = 2, .T = 65, .S = 63, .D = D});
  // Every pair of lengths, self and cross attention.
  for (int64_t T : {1, 7, 63, 65, 128, 257})
    for (int64_t S : {1, 7, 63, 65, 128, 257})
      cases.push_back({.name = fmt::format("T{}_S{}", T, S), .T = T, .S = S, .D = 32});
  // Causal, bottom-right aligned; T > S leaves the first T - S rows fully masked.
  for (auto [T, S] :
       {std::pair{65, 65}, {128, 128}, {257, 257}, {7, 65}, {65, 7}, {128, 257}, {257, 128}})
    cases.push_back({.name = fmt::format("causal_T{}_S{}", T, S),
                     .B = 1,
                     .H = 2,
                     .T = T,
                     .S = S,
                     .D = 64,
                     .causal = true});
  cases.push_back(
      {.name = "key_mask", .B = 3, .H = 2, .T = 65, .S = 129, .D = 64, .mask = Mask::kPadded});
  cases.push_back({.name = "key_mask_all_masked_batch",
                   .B = 2,
                   .H = 2,
                   .T = 33,
                   .S = 70,
                   .D = 16,
                   .mask = Mask::kAllMaskedBatch});
  cases.push_back(
      {.name = "bias_full", .B = 2, .H = 3, .T = 63, .S = 65, .D = 32, .bias = Bias::kFull});
  cases.push_back(
      {.name = "bias_shared", .B = 2, .H = 3, .T = 63, .S = 65, .D = 64, .bias = Bias::kShared});
  cases.push_back({.name = "bias_keys_mask_causal",
                   .B = 3,
                   .H = 2,
                   .T = 70,
                   .S = 70,
                   .D = 65,
                   .causal = true,
                   .mask = Mask::kPadded,
                   .bias = Bias::kKeys});
  cases.push_back({.name = "dropout", .B = 2, .H = 2, .T = 65, .S = 130, .D = 64, .dropout = 0.1f});
  cases.push_back({.name = "dropout_causal_mask_bias",
                   .B = 3,
                   .H = 2,
                   .T = 128,
                   .S = 128,
                   .D = 7,
                   .causal = true,
                   .mask = Mask::kPadded,
                   .bias = Bias::kFull,
                   .dropout = 0.1f});
  return cases;
}

TEST(Attention, FastMatchesReferenceTable) {
  for (const Case& c : table()) check_case(c, /*all_targets=*/true);
}

TEST(Attention, FastMatchesReferenceLong) {
  check_case({.name = "T2048", .T = 2048, .S = 2048, .D = 64, .tol = 2e-5f}, false);
  check_case({.name = "T1024_causal_dropout",
              .T = 1024,
              .S = 1024,
              .D = 64,
              .causal = true,
              .dropout = 0.1f,
              .tol = 2e-5f},
             false);
}

TEST(Attention, FullyMaskedRowGivesZeroAndMinusInf) {
  Case c{
      .name = "all_masked", .B = 2, .H = 1, .T = 5, .S = 9, .D = 16, .mask = Mask::kAllMaskedBatch};
  Problem pr(c);
  std::vector<float> out(pr.q.size(), 7.0f), lse(size_t(c.B * c.T), 7.0f);
  attention_forward(out.data(), lse.data(), pr.q.data(), pr.k.data(), pr.v.data(), pr.p);
  for (int64_t t = 0; t < c.T; ++t) {
    EXPECT_EQ(lse[size_t(c.T + t)], -kInf);
    for (int64_t d = 0; d < c.D; ++d) EXPECT_EQ(out[size_t((c.T + t) * c.D + d)], 0.0f);
  }
  std::vector<float> dq(pr.q.size()), dk(pr.k.size()), dv(pr.v.size());
  attention_backward(dq.data(), dk.data(), dv.data(), pr.dout.data(), pr.q.data(), pr.k.data(),
                     pr.v.data(), out.data(), lse.data(), pr.p);
  for (size_t i = pr.q.size() / 2; i < pr.q.size(); ++i) EXPECT_EQ(dq[i], 0.0f);
  for (size_t i = pr.k.size() / 2; i < pr.k.size(); ++i) EXPECT_EQ(dk[i] + dv[i], 0.0f);
}

TEST(Attention, BackwardAccumulates) {
  Problem pr({.name = "acc", .B = 1, .H = 2, .T = 20, .S = 30, .D = 16});
  const AttentionParams& p = pr.p;
  std::vector<float> out(pr.q.size()), lse(size_t(p.H * p.T));
  attention_forward(out.data(), lse.data(), pr.q.data(), pr.k.data(), pr.v.data(), p);
  std::vector<float> dq0(pr.q.size()), dk0(pr.k.size()), dv0(pr.v.size());
  attention_backward(dq0.data(), dk0.data(), dv0.data(), pr.dout.data(), pr.q.data(), pr.k.data(),
                     pr.v.data(), out.data(), lse.data(), p);
  std::vector<float> dq(pr.q.size(), 1.5f), dk(pr.k.size(), -2.0f), dv(pr.v.size(), 3.0f);
  attention_backward(dq.data(), dk.data(), dv.data(), pr.dout.data(), pr.q.data(), pr.k.data(),
                     pr.v.data(), out.data(), lse.data(), p);
  for (size_t i = 0; i < dq.size(); ++i) EXPECT_NEAR(dq[i], 1.5f + dq0[i], 1e-5f);
  for (size_t i = 0; i < dk.size(); ++i) EXPECT_NEAR(dk[i], -2.0f + dk0[i], 1e-5f);
  for (size_t i = 0; i < dv.size(); ++i) EXPECT_NEAR(dv[i], 3.0f + dv0[i], 1e-5f);
}

TEST(Attention, ResultsDoNotDependOnThreadCount) {
  Problem pr({.name = "threads",
              .B = 1,
              .H = 2,
              .T = 300,
              .S = 260,
              .D = 64,
              .causal = true,
              .dropout = 0.1f});
  const AttentionParams& p = pr.p;
  auto run = [&](int threads) {
    const int saved = num_threads();
    set_num_threads(threads);
    std::vector<float> out(pr.q.size()), lse(size_t(p.H * p.T));
    attention_forward(out.data(), lse.data(), pr.q.data(), pr.k.data(), pr.v.data(), p);
    std::vector<float> grads(pr.q.size() + 2 * pr.k.size());
    float* dq = grads.data();
    float* dk = dq + pr.q.size();
    float* dv = dk + pr.k.size();
    attention_backward(dq, dk, dv, pr.dout.data(), pr.q.data(), pr.k.data(), pr.v.data(),
                       out.data(), lse.data(), p);
    set_num_threads(saved);
    out.insert(out.end(), grads.begin(), grads.end());
    return out;
  };
  EXPECT_EQ(run(1), run(2));
}

// probs = exp(scores - lse) with masked entries 0: rows sum to 1 and probs V == out.
TEST(Attention, ProbsMatchForward) {
  for (const Case& c : {Case{.name = "probs_mask_bias_causal",
                       .B = 2,
                       .H = 2,
                       .T = 70,
                       .S = 67,
                       .D = 65,
                       .causal = true,
                       .mask = Mask::kAllMaskedBatch,
                       .bias = Bias::kShared},
                        Case{.name = "probs_plain", .B = 1, .H = 3, .T = 33, .S = 129, .D = 32}}) {
    SCOPED_TRACE(c.name);
    Problem pr(c);
    const AttentionParams& p = pr.p;
    const int64_t BH = c.B * c.H, T = c.T, S = c.S, D = c.D;
    std::vector<float> out(pr.q.size()), lse(size_t(BH * T));
    attention_forward_ref(out.data(), lse.data(), pr.q.data(), pr.k.data(), pr.v.data(), p);
    std::vector<float> probs(size_t(BH * T * S), 7.0f);
    attention_probs(probs.data(), pr.q.data(), pr.k.data(), lse.data(), p);
    std::vector<float> pv(out.size());
    for (int64_t bh = 0; bh < BH; ++bh)
      for (int64_t t = 0; t < T; ++t) {
        double sum = 0.0;
        for (int64_t s = 0; s < S; ++s) {
          const float pr_ts = probs[size_t((bh * T + t) * S + s)];
          const bool masked =
              (p.key_mask && !p.key_mask[(bh / c.H) * S + s]) || (p.causal && s > t + S - T);
          if (masked) {
            EXPECT_EQ(pr_ts, 0.0f);
          }
          sum += pr_ts;
          for (int64_t d = 0; d < D; ++d)
            pv[size_t((bh * T + t) * D + d)] += pr_ts * pr.v[size_t((bh * S + s) * D + d)];
        }
        EXPECT_NEAR(sum, std::isinf(lse[size_t(bh * T + t)]) ? 0.0 : 1.0, 1e-5);
      }
    expect_close(pv, out, 1e-5f, "probs @ v");
  }
}

// T = 1, S = 2, D = 1, q = 1, k = (1, 2), v = (3, 5), scale 1, dout = 1:
//   p = (1, e) / (1 + e), out = (3 + 5e) / (1 + e), lse = 1 + log(1 + e),
//   dv = p, dX_s = p_s (v_s - out), dq = Σ dX_s k_s, dk_s = dX_s q.
TEST(Attention, HandComputedExample) {
  const double e = std::exp(1.0);
  const double p0 = 1.0 / (1.0 + e), p1 = e / (1.0 + e);
  const double o = 3.0 * p0 + 5.0 * p1;
  const double dx0 = p0 * (3.0 - o), dx1 = p1 * (5.0 - o);
  const float q[] = {1.0f}, k[] = {1.0f, 2.0f}, v[] = {3.0f, 5.0f}, dout[] = {1.0f};
  const AttentionParams p{.B = 1, .H = 1, .T = 1, .S = 2, .D = 1, .scale = 1.0f};
  using Fwd =
      void (*)(float*, float*, const float*, const float*, const float*, const AttentionParams&);
  using Bwd = void (*)(float*, float*, float*, const float*, const float*, const float*,
                       const float*, const float*, const float*, const AttentionParams&);
  for (auto [fwd, bwd] : {std::pair<Fwd, Bwd>{attention_forward_ref, attention_backward_ref},
                          {attention_forward, attention_backward}}) {
    float out = 0.0f, lse = 0.0f, dq = 0.0f, dk[2] = {}, dv[2] = {};
    fwd(&out, &lse, q, k, v, p);
    EXPECT_NEAR(out, o, 1e-6);
    EXPECT_NEAR(lse, 1.0 + std::log(1.0 + e), 1e-6);
    bwd(&dq, dk, dv, dout, q, k, v, &out, &lse, p);
    EXPECT_NEAR(dv[0], p0, 1e-6);
    EXPECT_NEAR(dv[1], p1, 1e-6);
    EXPECT_NEAR(dq, dx0 * 1.0 + dx1 * 2.0, 1e-6);
    EXPECT_NEAR(dk[0], dx0, 1e-6);
    EXPECT_NEAR(dk[1], dx1, 1e-6);
  }
}

// The reference backward against central differences of the reference forward's
// loss L = Σ dout ∘ out (evaluated in double from the float outputs), on tiny heads with
// every feature on: bias, key mask, causal with T != S, dropout.
TEST(Attention, ReferenceMatchesFiniteDifferences) {
  for (float dropout : {0.0f, 0.3f}) {
    SCOPED_TRACE(dropout);
    Problem pr({.name = "fd",
                .B = 2,
                .H = 1,
                .T = 4,
                .S = 5,
                .D = 3,
                .causal = true,
                .mask = Mask::kPadded,
                .bias = Bias::kFull,
                .dropout = dropout});
    const AttentionParams& p = pr.p;
    std::vector<float> out(pr.q.size()), lse(size_t(p.B * p.T));
    auto loss = [&]() {
      attention_forward_ref(out.data(), lse.data(), pr.q.data(), pr.k.data(), pr.v.data(), p);
      double l = 0.0;
      for (size_t i = 0; i < out.size(); ++i) l += double(out[i]) * double(pr.dout[i]);
      return l;
    };
    loss();
    std::vector<float> dq(pr.q.size()), dk(pr.k.size()), dv(pr.v.size());
    attention_backward_ref(dq.data(), dk.data(), dv.data(), pr.dout.data(), pr.q.data(),
                           pr.k.data(), pr.v.data(), out.data(), lse.data(), p);
    const float h = 1.0f / 128.0f;
    for (auto [x, g, name] : {std::tuple{&pr.q, &dq, "dq"}, {&pr.k, &dk, "dk"}, {&pr.v, &dv, "dv"}})
      for (size_t i = 0; i < x->size(); ++i) {
        const float x0 = (*x)[i];
        (*x)[i] = x0 + h;
        const double lp = loss();
        const double xp = (*x)[i];
        (*x)[i] = x0 - h;
        const double lm = loss();
        const double xm = (*x)[i];
        (*x)[i] = x0;
        const double fd = (lp - lm) / (xp - xm);
        EXPECT_NEAR((*g)[i], fd, 2e-3 * (1.0 + std::abs(fd))) << name << "[" << i << "]";
      }
  }
}

}  // namespace
}  // namespace heed::kernels
