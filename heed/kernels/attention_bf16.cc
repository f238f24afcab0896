// bf16 inference attention (see attention_bf16.h), AVX512_BF16 intrinsics.
//
// Why raw intrinsics and not Highway like the other kernels: Debian's Highway (1.0.3) has
// no AVX3_ZEN4/SPR target, and its bf16 dot product (ReorderWidenMulAccumulate) is emulated
// with shifts and f32 FMAs there; vdpbf16ps does the same work in one instruction at twice
// the f32 FMA rate. So this file is compiled for that one instruction set (function target
// attributes) and chosen at run time (__builtin_cpu_supports); other CPUs use the f32
// kernel. For the same reason the softmax's exp is a local polynomial (ExpPs), not
// Highway's hn::Exp.
//
// Layout of the work. Per (sequence b, head h), once per call:
//   Kp: (D/2, Sp) u32, Kp[p][j] = bf16 pair (k[j][2p], k[j][2p+1])
//   Vp: (Sp/2, D) u32, Vp[i][d] = bf16 pair (v[2i][d], v[2i+1][d])
// (Sp = T rounded up to 16; padded keys are zero). Then each (b, h, block of kBr queries) is
// one work item: the query block is rounded to bf16 pairs (q*scale), and for each block of
// kBc keys
//   scores (nq, kBc) = Qb Kp            vdpbf16ps, broadcast one query pair, 16 keys a vector
//   online softmax in f32; P -> bf16 pairs along the keys
//   acc (nq, D) += Pb Vp                vdpbf16ps, broadcast one key pair of P, 16 dims a vector
// and at the end out = acc / l. Register tiles are kMR rows x up to 4 vectors (16 f32
// accumulators, of AVX-512's 32 registers).
#include "heed/kernels/attention_bf16.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_*()
// (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "heed/base/bf16.h"
#include "heed/base/error.h"
#include "heed/base/parallel.h"

#define HEED_TARGET_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,bmi,bmi2")))

namespace heed::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kBr = 64;  // queries per work item
constexpr int64_t kBc = 64;  // keys per block: 4 vectors of scores per row
constexpr int kMR = 4;       // rows per register tile

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

inline uint32_t pack_pair(float lo, float hi) {
  return uint32_t(float_to_bf16(lo).bits) | (uint32_t(float_to_bf16(hi).bits) << 16);
}

// exp(x) for x <= 0 (the softmax's x - max): 2^n * e^r with n = round(x log2 e) and
// |r| <= ln2/2, e^r by a degree-6 Taylor polynomial (relative error < 2e-7, far below the
// bf16 rounding that follows). x < -87 gives exactly 0 (so do -inf and masked keys).
HEED_TARGET_AVX512BF16 inline __m512 ExpPs(__m512 x) {
  const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);   // ln2 hi
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723212e-6f), r);  // ln2 lo
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(live, _mm512_scalef_ps(p, n));
}

HEED_TARGET_AVX512BF16 inline __m512bh LoadBh(const uint32_t* p) {
  return (__m512bh)_mm512_loadu_si512(p);
}
HEED_TARGET_AVX512BF16 inline __m512bh BroadcastBh(uint32_t pair) {
  return (__m512bh)_mm512_set1_epi32(int(pair));
}

// C (MR x 16*NV) (+)= A B: A(r, i) = a[r*lda + i] (u32 bf16 pairs), B(i, :) = b + i*ldb.
template <int MR, int NV>
HEED_TARGET_AVX512BF16 inline void DotTile(bool accumulate, int64_t pairs, const uint32_t* a,
                                           int64_t lda, const uint32_t* b, int64_t ldb, float* c,
                                           int64_t ldc) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t i = 0; i < pairs; ++i) {
    __m512bh bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = LoadBh(b + i * ldb + 16 * v);
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = BroadcastBh(a[r * lda + i]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

template <int MR>
HEED_TARGET_AVX512BF16 void DotRows(bool accumulate, int64_t ncols, int64_t pairs,
                                    const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
                                    float* c, int64_t ldc) {
  int64_t n = 0;
  for (; n + 64 <= ncols; n += 64)
    DotTile<MR, 4>(accumulate, pairs, a, lda, b + n, ldb, c + n, ldc);
  switch ((ncols - n) / 16) {
    case 1:
      DotTile<MR, 1>(accumulate, pairs, a, lda, b + n, ldb, c + n, ldc);
      break;
    case 2:
      DotTile<MR, 2>(accumulate, pairs, a, lda, b + n, ldb, c + n, ldc);
      break;
    case 3:
      DotTile<MR, 3>(accumulate, pairs, a, lda, b + n, ldb, c + n, ldc);
      break;
    default:
      break;
  }
}

// C (M x ncols) (+)= A (M x pairs, bf16 pairs) B (pairs x ncols); ncols % 16 == 0.
HEED_TARGET_AVX512BF16 void Dot(bool accumulate, int64_t M, int64_t ncols, int64_t pairs,
                                const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
                                float* c, int64_t ldc) {
  int64_t r = 0;
  for (; r + kMR <= M; r += kMR)
    DotRows<kMR>(accumulate, ncols, pairs, a + r * lda, lda, b, ldb, c + r * ldc, ldc);
  switch (M - r) {
    case 1:
      DotRows<1>(accumulate, ncols, pairs, a + r * lda, lda, b, ldb, c + r * ldc, ldc);
      break;
    case 2:
      DotRows<2>(accumulate, ncols, pairs, a + r * lda, lda, b, ldb, c + r * ldc, ldc);
      break;
    case 3:
      DotRows<3>(accumulate, ncols, pairs, a + r * lda, lda, b, ldb, c + r * ldc, ldc);
      break;
    default:
      break;
  }
}

// 16 floats -> 16 bf16 (RNE) stored at dst (8 u32 pairs).
HEED_TARGET_AVX512BF16 inline void StoreBf16(uint32_t* dst, __m512 x) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), (__m256i)_mm512_cvtneps_pbh(x));
}

struct Packed {
  int64_t Sp = 0;
  std::unique_ptr<uint32_t[]> kp, vp;  // (BH, D/2, Sp) and (BH, Sp/2, D)
  std::vector<float> kmask;            // (B, Sp): 0 attend, -inf not
  std::vector<uint8_t> uniform;        // (B): no key to attend: uniform attention
};

// Packs heads [i0, i1) of B*H into pk.kp and pk.vp.
HEED_TARGET_AVX512BF16 void PackHeads(Packed& pk, const float* k, const float* v,
                                      const TokenAttentionParams& p, int64_t i0, int64_t i1) {
  const int64_t H = p.H, T = p.T, D = p.D, P2 = D / 2, Sp = pk.Sp;
  std::vector<uint32_t> row(static_cast<size_t>(P2));
  for (int64_t bh = i0; bh < i1; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    uint32_t* kp = pk.kp.get() + bh * P2 * Sp;
    uint32_t* vp = pk.vp.get() + bh * (Sp / 2) * D;
    for (int64_t j = 0; j < T; ++j) {  // k row j -> column j of Kp
      const float* src = k + (b * T + j) * p.ldk + h * D;
      for (int64_t d = 0; d < D; d += 16) StoreBf16(row.data() + d / 2, _mm512_loadu_ps(src + d));
      for (int64_t i = 0; i < P2; ++i) kp[i * Sp + j] = row[size_t(i)];
    }
    for (int64_t i = 0; i < P2; ++i) std::fill(kp + i * Sp + T, kp + (i + 1) * Sp, 0u);
    for (int64_t i = 0; i < Sp / 2; ++i) {  // v rows 2i, 2i+1 -> row i of Vp
      const int64_t j0 = 2 * i, j1 = 2 * i + 1;
      uint32_t* dst = vp + i * D;
      for (int64_t d = 0; d < D; d += 16) {
        const __m512 x0 =
            j0 < T ? _mm512_loadu_ps(v + (b * T + j0) * p.ldv + h * D + d) : _mm512_setzero_ps();
        const __m512 x1 =
            j1 < T ? _mm512_loadu_ps(v + (b * T + j1) * p.ldv + h * D + d) : _mm512_setzero_ps();
        const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x0));
        const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x1));
        _mm512_storeu_si512(dst + d, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
      }
    }
  }
}

// Lambdas do not inherit a function's target attribute, so the parallel bodies below are
// target functions called from plain lambdas.
Packed Pack(const float* k, const float* v, const TokenAttentionParams& p) {
  const int64_t B = p.B, H = p.H, T = p.T, D = p.D, P2 = D / 2;
  Packed pk;
  pk.Sp = round_up(T, 16);
  const int64_t Sp = pk.Sp;
  pk.kp.reset(new uint32_t[size_t(B * H * P2 * Sp)]);
  pk.vp.reset(new uint32_t[size_t(B * H * (Sp / 2) * D)]);
  parallel_for(B * H, T * D * 4, [&](int64_t i0, int64_t i1) { PackHeads(pk, k, v, p, i0, i1); });
  pk.kmask.assign(size_t(B * Sp), kNegInf);
  pk.uniform.assign(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    bool any = false;
    for (int64_t j = 0; j < T; ++j) {
      const bool on = !p.key_mask || p.key_mask[b * T + j] != 0;
      pk.kmask[size_t(b * Sp + j)] = on ? 0.0f : kNegInf;
      any |= on;
    }
    if (!any) {  // HF: every score + finfo.min -> equal scores -> uniform over all T keys
      pk.uniform[size_t(b)] = 1;
      std::fill(pk.kmask.begin() + b * Sp, pk.kmask.begin() + b * Sp + T, 0.0f);
    }
  }
  return pk;
}

// Work items [i0, i1): (b, h, query block).
HEED_TARGET_AVX512BF16 void ForwardItems(float* out, const float* q, const Packed& pk,
                                         const TokenAttentionParams& p, int64_t i0, int64_t i1) {
  const int64_t H = p.H, T = p.T, D = p.D, P2 = D / 2, Sp = pk.Sp;
  const int64_t nqb = (T + kBr - 1) / kBr;
  std::vector<uint32_t> qb(size_t(kBr * P2)), pb(size_t(kBr * kBc / 2));
  std::vector<float> sc(size_t(kBr * kBc)), acc(size_t(kBr * D));
  float m[kBr], l[kBr];
  for (int64_t item = i0; item < i1; ++item) {
    const int64_t bh = item / nqb, b = bh / H, h = bh % H;
    const int64_t t0 = (item % nqb) * kBr, nq = std::min(kBr, T - t0);
    const bool uniform = pk.uniform[size_t(b)] != 0;
    const __m512 vscale = _mm512_set1_ps(p.scale);
    for (int64_t r = 0; r < nq; ++r) {
      const float* src = q + (b * T + t0 + r) * p.ldq + h * D;
      for (int64_t d = 0; d < D; d += 16)
        StoreBf16(qb.data() + r * P2 + d / 2, _mm512_mul_ps(_mm512_loadu_ps(src + d), vscale));
    }
    std::fill(m, m + nq, kNegInf);
    std::fill(l, l + nq, 0.0f);
    std::fill(acc.begin(), acc.end(), 0.0f);
    const uint32_t* kp = pk.kp.get() + bh * P2 * Sp;
    const uint32_t* vp = pk.vp.get() + bh * (Sp / 2) * D;
    for (int64_t s0 = 0; s0 < Sp; s0 += kBc) {
      const int64_t nkp = std::min(kBc, Sp - s0);  // a multiple of 16
      if (uniform)
        std::fill(sc.begin(), sc.end(), 0.0f);
      else
        Dot(false, nq, nkp, P2, qb.data(), P2, kp + s0, Sp, sc.data(), kBc);
      const float* km = pk.kmask.data() + b * Sp + s0;
      for (int64_t r = 0; r < nq; ++r) {
        float* row = sc.data() + r * kBc;
        uint32_t* prow = pb.data() + r * (kBc / 2);
        __m512 vmax = _mm512_set1_ps(kNegInf);
        for (int64_t j = 0; j < nkp; j += 16) {
          const __m512 x = _mm512_add_ps(_mm512_loadu_ps(row + j), _mm512_loadu_ps(km + j));
          _mm512_storeu_ps(row + j, x);
          vmax = _mm512_max_ps(vmax, x);
        }
        const float m_new = std::max(m[r], _mm512_reduce_max_ps(vmax));
        if (m_new == kNegInf) {  // no visible key yet: P = 0
          std::fill(prow, prow + nkp / 2, 0u);
          continue;
        }
        const __m512 vm = _mm512_set1_ps(m_new);
        __m512 vsum = _mm512_setzero_ps();
        for (int64_t j = 0; j < nkp; j += 16) {
          const __m512 e = ExpPs(_mm512_sub_ps(_mm512_loadu_ps(row + j), vm));
          StoreBf16(prow + j / 2, e);
          vsum = _mm512_add_ps(vsum, e);
        }
        const float alpha = std::exp(m[r] - m_new);  // 0 when m[r] = -inf
        l[r] = l[r] * alpha + _mm512_reduce_add_ps(vsum);
        m[r] = m_new;
        if (alpha != 1.0f) {
          const __m512 va = _mm512_set1_ps(alpha);
          float* a = acc.data() + r * D;
          for (int64_t d = 0; d < D; d += 16)
            _mm512_storeu_ps(a + d, _mm512_mul_ps(_mm512_loadu_ps(a + d), va));
        }
      }
      // acc (nq, D) += Pb (nq, nkp/2 pairs) Vp (rows s0/2 ..)
      Dot(true, nq, D, nkp / 2, pb.data(), kBc / 2, vp + (s0 / 2) * D, D, acc.data(), D);
    }
    for (int64_t r = 0; r < nq; ++r) {
      const __m512 inv = _mm512_set1_ps(1.0f / l[r]);  // l > 0: some key is always visible
      float* dst = out + (b * T + t0 + r) * p.ldo + h * D;
      for (int64_t d = 0; d < D; d += 16)
        _mm512_storeu_ps(dst + d, _mm512_mul_ps(_mm512_loadu_ps(acc.data() + r * D + d), inv));
    }
  }
}

void Forward(float* out, const float* q, const float* k, const float* v,
             const TokenAttentionParams& p) {
  if (p.B == 0 || p.H == 0 || p.T == 0) return;
  const Packed pk = Pack(k, v, p);
  const int64_t nqb = (p.T + kBr - 1) / kBr;
  parallel_for(p.B * p.H * nqb, kBr * p.T * p.D * 4,
               [&](int64_t i0, int64_t i1) { ForwardItems(out, q, pk, p, i0, i1); });
}

bool cpu_has_avx512bf16() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bf16");
  return has;
}

void check_params(const TokenAttentionParams& p, const char* who) {
  HEED_CHECK(p.B >= 0 && p.H >= 0 && p.T >= 0 && p.D > 0 && p.D % 2 == 0,
             "{}: bad shape B={} H={} T={} D={}", who, p.B, p.H, p.T, p.D);
  const int64_t C = p.H * p.D;
  HEED_CHECK(p.ldq >= C && p.ldk >= C && p.ldv >= C && p.ldo >= C,
             "{}: row strides q {} k {} v {} out {} must be at least H*D = {}", who, p.ldq, p.ldk,
             p.ldv, p.ldo, C);
}

}  // namespace

bool attention_bf16_supported(int64_t D) { return D > 0 && D % 16 == 0 && cpu_has_avx512bf16(); }

void attention_forward_bf16(float* out, const float* q, const float* k, const float* v,
                            const TokenAttentionParams& p) {
  check_params(p, "attention_forward_bf16");
  HEED_CHECK(attention_bf16_supported(p.D),
             "attention_forward_bf16: needs AVX512_BF16 and a head size that is a multiple of 16 "
             "(head size {}, AVX512_BF16 {})",
             p.D, cpu_has_avx512bf16() ? "present" : "absent");
  Forward(out, q, k, v, p);
}

void attention_forward_bf16_ref(float* out, const float* q, const float* k, const float* v,
                                const TokenAttentionParams& p) {
  check_params(p, "attention_forward_bf16_ref");
  const int64_t B = p.B, H = p.H, T = p.T, D = p.D;
  auto rb = [](float x) { return double(bf16_to_float(float_to_bf16(x))); };
  std::vector<double> s(static_cast<size_t>(T)), acc(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b) {
    bool any = false;
    for (int64_t j = 0; j < T; ++j) any |= !p.key_mask || p.key_mask[b * T + j] != 0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const float* qr = q + (b * T + t) * p.ldq + h * D;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < T; ++j) {
          const bool on = !any || !p.key_mask || p.key_mask[b * T + j] != 0;
          double x = -std::numeric_limits<double>::infinity();
          if (on && !any) x = 0.0;  // uniform
          if (on && any) {
            const float* kr = k + (b * T + j) * p.ldk + h * D;
            x = 0.0;
            for (int64_t d = 0; d < D; ++d) x += rb(qr[d] * p.scale) * rb(kr[d]);
          }
          s[size_t(j)] = x;
          mx = std::max(mx, x);
        }
        double l = 0.0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < T; ++j) {
          const double e = std::exp(s[size_t(j)] - mx);
          l += e;
          const double pe = rb(float(e));
          const float* vr = v + (b * T + j) * p.ldv + h * D;
          for (int64_t d = 0; d < D; ++d) acc[size_t(d)] += pe * rb(vr[d]);
        }
        float* o = out + (b * T + t) * p.ldo + h * D;
        for (int64_t d = 0; d < D; ++d) o[d] = float(acc[size_t(d)] / l);
      }
  }
}

}  // namespace heed::kernels
