// Fused attention, FlashAttention-2 style (Dao 2023, Algorithms 1 and 2), with Highway
// dynamic dispatch: this file is compiled once per SIMD target (simd_targets.h: AVX-512,
// AVX2, EMU128) and the best one for the running CPU is chosen on the first call.
//
// Layout of the work. Each head is cut into blocks of kBr query rows and kBc keys. The
// forward gives each (head, query block) to one thread, which walks the key blocks with
// an online softmax (running max m, running sum l, output rescaled by exp(m_old - m_new)).
// The backward gives each (head, set of key blocks) to one thread, which owns dK and dV of
// those keys and walks every query block, recomputing P = exp(scale q k + bias - lse).
// Block products run through MatMulAcc, a register-tiled broadcast-FMA kernel; K and V are
// transposed once per call (Kt, Vt: (D, S) per head) so every product streams rows.
//
// Backward, and why D_t = rowsum(dO_t ∘ O_t) holds with dropout. Write P for the softmax
// probabilities, Z_ts ∈ {0, 1/(1-p)} for the dropout factor and O = (P∘Z) V. Then
//   dV = (P∘Z)^T dO,   dP_ts = Z_ts (dO_t · V_s),   dX_ts = P_ts (dP_ts - D_t),
// where the softmax backward needs D_t = Σ_s P_ts dP_ts = Σ_s P_ts Z_ts (dO_t · V_s)
//   = dO_t · Σ_s (P_ts Z_ts V_s) = dO_t · O_t.
// So the O saved by the forward (which already contains the dropout) gives D directly,
// and dQ = scale dX K, dK = scale dX^T Q (X = scale q k^T + bias is the score).
#include "heed/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "heed/base/parallel.h"
#include "heed/base/rng.h"
#include "heed/kernels/simd_targets.h"  // before foreach_target.h

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h must come before these.
#include "hwy/aligned_allocator.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Padded sizes are multiples of 16 floats, a whole number of vectors on every target.
constexpr int64_t kPad = 16;
constexpr int64_t kBr = 64;   // query rows per block
constexpr int64_t kBc = 128;  // keys per block (a multiple of kPad)
// Register tile of MatMulAcc: kMR rows x kNV vectors. AVX-512 has 32 registers, AVX2 16.
constexpr size_t kMR = 4;
constexpr size_t kNV = HWY_TARGET <= HWY_AVX3 ? 4 : 2;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

using Buffer = hwy::AlignedFreeUniquePtr<float[]>;
inline Buffer alloc(int64_t n) {
  Buffer b = hwy::AllocateAligned<float>(size_t(std::max<int64_t>(n, 1)));
  std::memset(b.get(), 0, size_t(std::max<int64_t>(n, 1)) * sizeof(float));
  return b;
}

// ---------------------------------------------------------------------------------------
// C (M x N) (+)= A (M x K) B (K x N). A(i,k) = A[i*ars + k*aks], so A may be read transposed;
// B and C are row-major with leading dimensions ldb, ldc; N is a multiple of kPad.

template <size_t MR, size_t NV>
HWY_INLINE void Tile(DF d, bool accumulate, int64_t K, const float* HWY_RESTRICT A, int64_t ars,
                     int64_t aks, const float* HWY_RESTRICT B, int64_t ldb, float* HWY_RESTRICT C,
                     int64_t ldc) {
  const size_t L = hn::Lanes(d);
  VF acc[MR][NV];
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < NV; ++v)
      acc[r][v] = accumulate ? hn::LoadU(d, C + int64_t(r) * ldc + v * L) : hn::Zero(d);
  for (int64_t k = 0; k < K; ++k) {
    const float* HWY_RESTRICT b = B + k * ldb;
    const float* HWY_RESTRICT a = A + k * aks;
    VF bv[NV];
    for (size_t v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, b + v * L);
    for (size_t r = 0; r < MR; ++r) {
      const VF av = hn::Set(d, a[int64_t(r) * ars]);
      for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < NV; ++v) hn::StoreU(acc[r][v], d, C + int64_t(r) * ldc + v * L);
}

template <size_t MR>
HWY_INLINE void TileRow(DF d, bool accumulate, int64_t N, int64_t K, const float* A, int64_t ars,
                        int64_t aks, const float* B, int64_t ldb, float* C, int64_t ldc) {
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t n = 0;
  for (; n + int64_t(kNV) * L <= N; n += int64_t(kNV) * L)
    Tile<MR, kNV>(d, accumulate, K, A, ars, aks, B + n, ldb, C + n, ldc);
  switch ((N - n) / L) {
    case 0:
      break;
    case 1:
      Tile<MR, 1>(d, accumulate, K, A, ars, aks, B + n, ldb, C + n, ldc);
      break;
    case 2:
      Tile<MR, (kNV > 2 ? 2 : 1)>(d, accumulate, K, A, ars, aks, B + n, ldb, C + n, ldc);
      if (kNV <= 2) Tile<MR, 1>(d, accumulate, K, A, ars, aks, B + n + L, ldb, C + n + L, ldc);
      break;
    default:  // 3 vectors, only when kNV == 4
      Tile<MR, (kNV > 3 ? 3 : 1)>(d, accumulate, K, A, ars, aks, B + n, ldb, C + n, ldc);
      break;
  }
}

void MatMulAcc(bool accumulate, int64_t M, int64_t N, int64_t K, const float* A, int64_t ars,
               int64_t aks, const float* B, int64_t ldb, float* C, int64_t ldc) {
  const DF d;
  int64_t i = 0;
  for (; i + int64_t(kMR) <= M; i += int64_t(kMR))
    TileRow<kMR>(d, accumulate, N, K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc);
  switch (M - i) {
    case 1:
      TileRow<1>(d, accumulate, N, K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc);
      break;
    case 2:
      TileRow<2>(d, accumulate, N, K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc);
      break;
    case 3:
      TileRow<3>(d, accumulate, N, K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------
// Row operations on one block row of ncols (padded) scores.

// x = s*scale + bias + kmask for the first n_valid columns, -inf after; returns max(x).
HWY_INLINE float PrepareRow(float* HWY_RESTRICT s, int64_t ncols, int64_t n_valid, float scale,
                            const float* HWY_RESTRICT bias, const float* HWY_RESTRICT kmask) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const VF vscale = hn::Set(d, scale);
  VF vmax = hn::Set(d, kNegInf);
  int64_t j = 0;
  for (; j + L <= n_valid; j += L) {
    VF x = hn::Mul(hn::LoadU(d, s + j), vscale);
    if (bias) x = hn::Add(x, hn::LoadU(d, bias + j));
    if (kmask) x = hn::Add(x, hn::LoadU(d, kmask + j));
    hn::StoreU(x, d, s + j);
    vmax = hn::Max(vmax, x);
  }
  float mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; j < n_valid; ++j) {
    float x = s[j] * scale;
    if (bias) x += bias[j];
    if (kmask) x += kmask[j];
    s[j] = x;
    mx = std::max(mx, x);
  }
  for (; j < ncols; ++j) s[j] = kNegInf;
  return mx;
}

// s = exp(s - m); returns the sum. Exp gives 0 for -inf.
HWY_INLINE float ExpRow(float* HWY_RESTRICT s, int64_t ncols, float m) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const VF vm = hn::Set(d, m);
  VF vsum = hn::Zero(d);
  for (int64_t j = 0; j < ncols; j += L) {
    const VF e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + j), vm));
    hn::StoreU(e, d, s + j);
    vsum = hn::Add(vsum, e);
  }
  return hn::GetLane(hn::SumOfLanes(d, vsum));
}

HWY_INLINE void ScaleRow(float* HWY_RESTRICT x, int64_t n, float a) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  const VF va = hn::Set(d, a);
  for (int64_t j = 0; j < n; j += L) hn::StoreU(hn::Mul(hn::LoadU(d, x + j), va), d, x + j);
}

// z[j] = Z/(1-p) for keys s0+j of row (bh, t): the dropout factor of the header's formula.
inline void DropoutRow(float* z, int64_t n, uint64_t first_index, const AttentionParams& p) {
  const float inv_keep = 1.0f / (1.0f - p.dropout_p);
  uint64_t block = ~uint64_t(0);
  std::array<uint32_t, 4> bits{};
  for (int64_t j = 0; j < n; ++j) {
    const uint64_t idx = first_index + uint64_t(j);
    if ((idx >> 2) != block) {
      block = idx >> 2;
      bits = philox4x32(p.dropout_seed, block);
    }
    z[j] = u32_to_unit(bits[idx & 3]) >= p.dropout_p ? inv_keep : 0.0f;
  }
}

inline float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int64_t n) {
  const DF d;
  const int64_t L = int64_t(hn::Lanes(d));
  VF acc = hn::Zero(d);
  int64_t j = 0;
  for (; j + L <= n; j += L) acc = hn::MulAdd(hn::LoadU(d, a + j), hn::LoadU(d, b + j), acc);
  float sum = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

// ---------------------------------------------------------------------------------------
// Per-call packing: K (and V for the backward) transposed to (D, Sp) per head, an additive
// key mask (B, Sp), and for a head dim that is not a multiple of kPad, zero-padded copies
// (rows of Dp floats) so that every product has N % kPad == 0.

struct Packed {
  int64_t Dp = 0, Sp = 0;
  Buffer kt, vt, kmask, qpad, kpad, vpad, dopad;
  const float* q = nullptr;  // (BH, T, ldd)
  const float* k = nullptr;  // (BH, S, ldd)
  const float* v = nullptr;  // (BH, S, ldd)
  const float* dout = nullptr;
  int64_t ldd = 0;  // D when D % kPad == 0 (no copy), else Dp
};

inline void PadRows(float* dst, const float* src, int64_t rows, int64_t D, int64_t Dp) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * Dp, src + r * D, size_t(D) * 4);
}

inline void Transpose(float* dst, int64_t ld_dst, const float* src, int64_t rows, int64_t D) {
  // dst[d * ld_dst + r] = src[r * D + d], in 16-row strips so that writes stay in cache.
  for (int64_t r0 = 0; r0 < rows; r0 += 16) {
    const int64_t r1 = std::min(rows, r0 + 16);
    for (int64_t dd = 0; dd < D; ++dd)
      for (int64_t r = r0; r < r1; ++r) dst[dd * ld_dst + r] = src[r * D + dd];
  }
}

Packed Pack(const float* q, const float* k, const float* v, const float* dout, bool need_vt,
            const AttentionParams& p) {
  Packed pk;
  const int64_t BH = p.B * p.H, T = p.T, S = p.S, D = p.D;
  pk.Dp = round_up(D, kPad);
  pk.Sp = round_up(S, kPad);
  const int64_t Dp = pk.Dp, Sp = pk.Sp;
  const bool pad = Dp != D;
  pk.ldd = pad ? Dp : D;
  pk.kt = alloc(BH * Dp * Sp);
  if (need_vt) pk.vt = alloc(BH * Dp * Sp);
  if (pad) {
    if (q) pk.qpad = alloc(BH * T * Dp);
    if (dout) pk.dopad = alloc(BH * T * Dp);
    pk.kpad = alloc(BH * S * Dp);
    if (v) pk.vpad = alloc(BH * S * Dp);
  }
  parallel_for(BH, S * D * (need_vt ? 2 : 1), [&](int64_t h0, int64_t h1) {
    for (int64_t bh = h0; bh < h1; ++bh) {
      Transpose(pk.kt.get() + bh * Dp * Sp, Sp, k + bh * S * D, S, D);
      if (need_vt) Transpose(pk.vt.get() + bh * Dp * Sp, Sp, v + bh * S * D, S, D);
      if (!pad) continue;
      if (q) PadRows(pk.qpad.get() + bh * T * Dp, q + bh * T * D, T, D, Dp);
      if (dout) PadRows(pk.dopad.get() + bh * T * Dp, dout + bh * T * D, T, D, Dp);
      PadRows(pk.kpad.get() + bh * S * Dp, k + bh * S * D, S, D, Dp);
      if (v) PadRows(pk.vpad.get() + bh * S * Dp, v + bh * S * D, S, D, Dp);
    }
  });
  pk.q = pad ? pk.qpad.get() : q;
  pk.k = pad ? pk.kpad.get() : k;
  pk.v = pad ? pk.vpad.get() : v;
  pk.dout = pad ? pk.dopad.get() : dout;
  if (p.key_mask) {
    pk.kmask = alloc(p.B * Sp);
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t s = 0; s < S; ++s)
        pk.kmask[size_t(b * Sp + s)] = p.key_mask[b * S + s] ? 0.0f : kNegInf;
  }
  return pk;
}

// Keys of block [s0, s0+n_keys) visible from query row t (causal is bottom-right aligned).
inline int64_t ValidKeys(int64_t t, int64_t s0, int64_t n_keys, const AttentionParams& p) {
  if (!p.causal) return n_keys;
  return std::clamp<int64_t>(t + (p.S - p.T) - s0 + 1, 0, n_keys);
}

inline const float* BiasRow(const AttentionParams& p, int64_t b, int64_t h, int64_t t, int64_t s0) {
  return p.bias ? p.bias + b * p.bias_sb + h * p.bias_sh + t * p.bias_st + s0 : nullptr;
}

// Spreads the expensive causal query blocks over threads: 0, n-1, 1, n-2, ...
inline int64_t Folded(int64_t i, int64_t n) { return i % 2 == 0 ? i / 2 : n - 1 - i / 2; }

// ---------------------------------------------------------------------------------------

void ForwardImpl(float* out, float* lse, const float* q, const float* k, const float* v,
                 const AttentionParams& p) {
  const int64_t H = p.H, T = p.T, S = p.S, D = p.D, BH = p.B * p.H;
  if (BH == 0 || T == 0) return;
  const Packed pk = Pack(q, k, v, nullptr, false, p);
  const int64_t Dp = pk.Dp, Sp = pk.Sp, ldd = pk.ldd;
  const int64_t nqb = (T + kBr - 1) / kBr;
  const bool dropout = p.dropout_p > 0.0f;
  parallel_for(BH * nqb, kBr * S * D, [&](int64_t i0, int64_t i1) {
    Buffer sc = alloc(kBr * kBc), acc = alloc(kBr * Dp), z = alloc(kBc);
    float m[kBr], l[kBr];
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t bh = item / nqb, b = bh / H, h = bh % H;
      const int64_t t0 = Folded(item % nqb, nqb) * kBr, nq = std::min(kBr, T - t0);
      const float* qb = pk.q + (bh * T + t0) * ldd;
      std::fill(m, m + nq, kNegInf);
      std::fill(l, l + nq, 0.0f);
      std::memset(acc.get(), 0, size_t(kBr * Dp) * sizeof(float));
      // Causal: the last query row of the block sees keys s <= t0 + nq - 1 + S - T.
      const int64_t s_end = p.causal ? std::clamp<int64_t>(t0 + nq + S - T, 0, S) : S;
      for (int64_t s0 = 0; s0 < s_end; s0 += kBc) {
        const int64_t nk = std::min(kBc, S - s0), nkp = std::min(kBc, Sp - s0);
        // Scores (nq, nkp) = Q_i K_j^T.
        MatMulAcc(false, nq, nkp, D, qb, ldd, 1, pk.kt.get() + bh * Dp * Sp + s0, Sp, sc.get(),
                  kBc);
        for (int64_t r = 0; r < nq; ++r) {
          const int64_t t = t0 + r;
          float* row = sc.get() + r * kBc;
          const int64_t nv = ValidKeys(t, s0, nk, p);
          const float mx = PrepareRow(row, nkp, nv, p.scale, BiasRow(p, b, h, t, s0),
                                      pk.kmask ? pk.kmask.get() + b * Sp + s0 : nullptr);
          const float m_new = std::max(m[r], mx);
          if (m_new == kNegInf) {  // nothing visible yet: P = 0, acc stays 0
            std::fill(row, row + nkp, 0.0f);
            continue;
          }
          const float alpha = std::exp(m[r] - m_new);  // 0 when m[r] = -inf
          l[r] = l[r] * alpha + ExpRow(row, nkp, m_new);
          m[r] = m_new;
          if (alpha != 1.0f) ScaleRow(acc.get() + r * Dp, Dp, alpha);
          // Dropout multiplies what reaches V, not the normaliser l.
          if (dropout) {
            DropoutRow(z.get(), nv, p.dropout_offset + uint64_t((bh * T + t) * S + s0), p);
            for (int64_t j = 0; j < nv; ++j) row[j] *= z[size_t(j)];
          }
        }
        // acc (nq, Dp) += P (nq, nk) V_j (nk, Dp).
        MatMulAcc(true, nq, Dp, nk, sc.get(), kBc, 1, pk.v + (bh * S + s0) * ldd, ldd, acc.get(),
                  Dp);
      }
      for (int64_t r = 0; r < nq; ++r) {
        const int64_t t = t0 + r;
        float* o = out + (bh * T + t) * D;
        if (l[r] == 0.0f) {  // every key masked
          std::fill(o, o + D, 0.0f);
          lse[bh * T + t] = kNegInf;
          continue;
        }
        const float inv = 1.0f / l[r];
        for (int64_t dd = 0; dd < D; ++dd) o[dd] = acc[size_t(r * Dp + dd)] * inv;
        lse[bh * T + t] = m[r] + std::log(l[r]);
      }
    }
  });
}

// probs (B,H,T,S) = exp(scale q k + bias + masks - lse), no dropout.
void ProbsImpl(float* probs, const float* q, const float* k, const float* lse,
               const AttentionParams& p) {
  const int64_t H = p.H, T = p.T, S = p.S, D = p.D, BH = p.B * p.H;
  if (BH == 0 || T == 0) return;
  const Packed pk = Pack(q, k, nullptr, nullptr, false, p);
  const int64_t Dp = pk.Dp, Sp = pk.Sp, ldd = pk.ldd;
  const int64_t nqb = (T + kBr - 1) / kBr;
  parallel_for(BH * nqb, kBr * S * D, [&](int64_t i0, int64_t i1) {
    Buffer sc = alloc(kBr * kBc);
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t bh = item / nqb, b = bh / H, h = bh % H;
      const int64_t t0 = (item % nqb) * kBr, nq = std::min(kBr, T - t0);
      const float* qb = pk.q + (bh * T + t0) * ldd;
      for (int64_t s0 = 0; s0 < S; s0 += kBc) {
        const int64_t nk = std::min(kBc, S - s0), nkp = std::min(kBc, Sp - s0);
        MatMulAcc(false, nq, nkp, D, qb, ldd, 1, pk.kt.get() + bh * Dp * Sp + s0, Sp, sc.get(),
                  kBc);
        for (int64_t r = 0; r < nq; ++r) {
          const int64_t t = t0 + r;
          float* row = sc.get() + r * kBc;
          float* dst = probs + (bh * T + t) * S + s0;
          const float m = lse[bh * T + t];
          if (m == kNegInf) {
            std::fill(dst, dst + nk, 0.0f);
            continue;
          }
          PrepareRow(row, nkp, ValidKeys(t, s0, nk, p), p.scale, BiasRow(p, b, h, t, s0),
                     pk.kmask ? pk.kmask.get() + b * Sp + s0 : nullptr);
          ExpRow(row, nkp, m);
          std::memcpy(dst, row, size_t(nk) * sizeof(float));
        }
      }
    }
  });
}

void BackwardImpl(float* dq, float* dk, float* dv, const float* dout, const float* q,
                  const float* k, const float* v, const float* out, const float* lse,
                  const AttentionParams& p) {
  const int64_t H = p.H, T = p.T, S = p.S, D = p.D, BH = p.B * p.H;
  if (BH == 0 || T == 0 || S == 0) return;
  const Packed pk = Pack(q, k, v, dout, true, p);
  const int64_t Dp = pk.Dp, Sp = pk.Sp, ldd = pk.ldd;
  const int64_t nkb = (S + kBc - 1) / kBc;
  const bool dropout = p.dropout_p > 0.0f;

  // Drow (BH, T) = rowsum(dO ∘ O): see the derivation at the top of the file.
  Buffer drow = alloc(BH * T);
  parallel_for(BH * T, D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) drow[size_t(r)] = Dot(dout + r * D, out + r * D, D);
  });

  // Each head's key blocks are dealt round-robin to `chunks` work items (round-robin keeps
  // causal work balanced); there are at least kMinItems items when the keys allow. A work
  // item owns dK, dV of its keys; its dQ goes to a private slot, summed in a fixed order
  // afterwards. The split does not look at the thread count, so neither do the results.
  constexpr int64_t kMinItems = 16;
  const int64_t chunks = std::clamp<int64_t>((kMinItems + BH - 1) / BH, 1, nkb);
  const bool private_dq = chunks > 1 || Dp != D;
  Buffer dq_slots = private_dq ? alloc(BH * chunks * T * Dp) : Buffer();
  const int64_t ld_dq = private_dq ? Dp : D;

  parallel_for(BH * chunks, T * S * D / chunks, [&](int64_t i0, int64_t i1) {
    Buffer sc = alloc(kBr * kBc), dp = alloc(kBr * kBc), pz = dropout ? alloc(kBr * kBc) : Buffer();
    Buffer dk_acc = alloc(kBc * Dp), dv_acc = alloc(kBc * Dp);
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t bh = item / chunks, chunk = item % chunks, b = bh / H, h = bh % H;
      float* dqh = private_dq ? dq_slots.get() + item * T * Dp : dq + bh * T * D;
      const float* qh = pk.q + bh * T * ldd;
      const float* doh = pk.dout + bh * T * ldd;
      const float* kth = pk.kt.get() + bh * Dp * Sp;
      const float* vth = pk.vt.get() + bh * Dp * Sp;
      for (int64_t kb = chunk; kb < nkb; kb += chunks) {
        const int64_t s0 = kb * kBc, nk = std::min(kBc, S - s0), nkp = std::min(kBc, Sp - s0);
        const float* kj = pk.k + (bh * S + s0) * ldd;
        const float* kmask = pk.kmask ? pk.kmask.get() + b * Sp + s0 : nullptr;
        std::memset(dk_acc.get(), 0, size_t(kBc * Dp) * sizeof(float));
        std::memset(dv_acc.get(), 0, size_t(kBc * Dp) * sizeof(float));
        // Causal: query t sees key s0 only when t >= s0 - (S - T).
        const int64_t t_begin = p.causal ? std::max<int64_t>(0, s0 - (S - T)) / kBr * kBr : 0;
        for (int64_t t0 = t_begin; t0 < T; t0 += kBr) {
          const int64_t nq = std::min(kBr, T - t0);
          const float* qi = qh + t0 * ldd;
          const float* doi = doh + t0 * ldd;
          // P (nq, nkp) = exp(scale Q_i K_j^T + bias + masks - lse).
          MatMulAcc(false, nq, nkp, D, qi, ldd, 1, kth + s0, Sp, sc.get(), kBc);
          // dP (nq, nkp) = dO_i V_j^T.
          MatMulAcc(false, nq, nkp, D, doi, ldd, 1, vth + s0, Sp, dp.get(), kBc);
          for (int64_t r = 0; r < nq; ++r) {
            const int64_t t = t0 + r;
            float* prow = sc.get() + r * kBc;
            float* dprow = dp.get() + r * kBc;
            const float m = lse[bh * T + t];
            const int64_t nv = ValidKeys(t, s0, nk, p);
            if (m == kNegInf || nv == 0) {  // row fully masked (or these keys hidden): P = 0
              std::fill(prow, prow + nkp, 0.0f);
              std::fill(dprow, dprow + nkp, 0.0f);
              if (dropout) std::fill(pz.get() + r * kBc, pz.get() + r * kBc + nkp, 0.0f);
              continue;
            }
            PrepareRow(prow, nkp, nv, p.scale, BiasRow(p, b, h, t, s0), kmask);
            ExpRow(prow, nkp, m);
            const float dt = drow[size_t(bh * T + t)];
            if (dropout) {
              float* pzrow = pz.get() + r * kBc;
              DropoutRow(pzrow, nv, p.dropout_offset + uint64_t((bh * T + t) * S + s0), p);
              for (int64_t j = 0; j < nv; ++j) {
                const float zf = pzrow[j];
                pzrow[j] = prow[j] * zf;
                dprow[j] = prow[j] * (dprow[j] * zf - dt) * p.scale;
              }
              std::fill(pzrow + nv, pzrow + nkp, 0.0f);
              std::fill(dprow + nv, dprow + nkp, 0.0f);
            } else {
              const DF d;
              const VF vdt = hn::Set(d, dt), vscale = hn::Set(d, p.scale);
              for (int64_t j = 0; j < nkp; j += int64_t(hn::Lanes(d))) {
                const VF pv = hn::LoadU(d, prow + j);
                const VF ds = hn::Mul(hn::Mul(pv, hn::Sub(hn::LoadU(d, dprow + j), vdt)), vscale);
                hn::StoreU(ds, d, dprow + j);
              }
            }
          }
          const float* pzp = dropout ? pz.get() : sc.get();
          // dV_j (nk, Dp) += (P∘Z)^T dO_i;  dK_j += dS^T Q_i;  dQ_i += dS K_j.
          MatMulAcc(true, nk, Dp, nq, pzp, 1, kBc, doi, ldd, dv_acc.get(), Dp);
          MatMulAcc(true, nk, Dp, nq, dp.get(), 1, kBc, qi, ldd, dk_acc.get(), Dp);
          MatMulAcc(true, nq, Dp, nk, dp.get(), kBc, 1, kj, ldd, dqh + t0 * ld_dq, ld_dq);
        }
        for (int64_t s = 0; s < nk; ++s)
          for (int64_t dd = 0; dd < D; ++dd) {
            dk[(bh * S + s0 + s) * D + dd] += dk_acc[size_t(s * Dp + dd)];
            dv[(bh * S + s0 + s) * D + dd] += dv_acc[size_t(s * Dp + dd)];
          }
      }
    }
  });

  if (private_dq) {
    parallel_for(BH * T, chunks * D, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bh = r / T, t = r % T;
        for (int64_t c = 0; c < chunks; ++c) {
          const float* src = dq_slots.get() + ((bh * chunks + c) * T + t) * Dp;
          for (int64_t dd = 0; dd < D; ++dd) dq[r * D + dd] += src[dd];
        }
      }
    });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace heed::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {

HWY_EXPORT(ForwardImpl);
HWY_EXPORT(BackwardImpl);
HWY_EXPORT(ProbsImpl);

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionParams& p) {
  HWY_DYNAMIC_DISPATCH(ForwardImpl)(out, lse, q, k, v, p);
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const AttentionParams& p) {
  HWY_DYNAMIC_DISPATCH(BackwardImpl)(dq, dk, dv, dout, q, k, v, out, lse, p);
}

void attention_probs(float* probs, const float* q, const float* k, const float* lse,
                     const AttentionParams& p) {
  HWY_DYNAMIC_DISPATCH(ProbsImpl)(probs, q, k, lse, p);
}

}  // namespace heed::kernels
#endif  // HWY_ONCE
