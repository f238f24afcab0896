// Scalar reference attention: materialises the T x S probabilities of one head, accumulates
// in double, and differentiates softmax explicitly. It defines the truth that the fused
// kernels in attention.cc are tested against (tests/kernels/test_attention.cc).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "heed/base/rng.h"
#include "heed/kernels/attention.h"

namespace heed::kernels {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Softmax probabilities P (T,S) of head (b,h) before dropout; lse (T) per row.
// A row whose keys are all masked gets P = 0 and lse = -inf.
void head_probs(std::vector<double>& P, std::vector<double>& lse, const float* q, const float* k,
                int64_t b, int64_t h, const AttentionParams& p) {
  const int64_t T = p.T, S = p.S, D = p.D;
  for (int64_t t = 0; t < T; ++t) {
    double* row = &P[size_t(t * S)];
    double mx = kNegInf;
    for (int64_t s = 0; s < S; ++s) {
      double x = 0.0;
      for (int64_t d = 0; d < D; ++d) x += double(q[t * D + d]) * double(k[s * D + d]);
      x *= double(p.scale);
      if (p.bias) x += double(p.bias[b * p.bias_sb + h * p.bias_sh + t * p.bias_st + s]);
      if (p.key_mask && p.key_mask[b * S + s] == 0) x = kNegInf;
      if (p.causal && s > t + (S - T)) x = kNegInf;
      row[s] = x;
      if (x > mx) mx = x;
    }
    if (mx == kNegInf) {
      for (int64_t s = 0; s < S; ++s) row[s] = 0.0;
      lse[size_t(t)] = kNegInf;
      continue;
    }
    double sum = 0.0;
    for (int64_t s = 0; s < S; ++s) sum += row[s] = std::exp(row[s] - mx);
    for (int64_t s = 0; s < S; ++s) row[s] /= sum;
    lse[size_t(t)] = mx + std::log(sum);
  }
}

// Dropout factors Z/(1-p) of head (b,h): 0 for a dropped element, 1/(1-p) for a kept one.
void head_dropout(std::vector<double>& Z, int64_t bh, const AttentionParams& p) {
  const int64_t T = p.T, S = p.S;
  const double inv_keep = 1.0 / (1.0 - double(p.dropout_p));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t s = 0; s < S; ++s) {
      const uint64_t idx = p.dropout_offset + uint64_t((bh * T + t) * S + s);
      const bool keep = philox_uniform(p.dropout_seed, idx) >= p.dropout_p;
      Z[size_t(t * S + s)] = keep ? inv_keep : 0.0;
    }
}

}  // namespace

void attention_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v,
                           const AttentionParams& p) {
  const int64_t T = p.T, S = p.S, D = p.D;
  std::vector<double> P(static_cast<size_t>(T * S)), row_lse(static_cast<size_t>(T)), Z;
  const bool dropout = p.dropout_p > 0.0f;
  if (dropout) Z.resize(size_t(T * S));
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h) {
      const int64_t bh = b * p.H + h;
      const float* qh = q + bh * T * D;
      const float* kh = k + bh * S * D;
      const float* vh = v + bh * S * D;
      head_probs(P, row_lse, qh, kh, b, h, p);
      if (dropout) {
        head_dropout(Z, bh, p);
        for (size_t i = 0; i < P.size(); ++i) P[i] *= Z[i];
      }
      std::vector<double> acc(static_cast<size_t>(D));
      for (int64_t t = 0; t < T; ++t) {
        lse[bh * T + t] = float(row_lse[size_t(t)]);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t s = 0; s < S; ++s)
          for (int64_t d = 0; d < D; ++d)
            acc[size_t(d)] += P[size_t(t * S + s)] * double(vh[s * D + d]);
        for (int64_t d = 0; d < D; ++d) out[(bh * T + t) * D + d] = float(acc[size_t(d)]);
      }
    }
}

// With A = P∘Z/(1-p) the probabilities after dropout and O = A V:
//   dV = A^T dO,  dA = dO V^T,  dP = dA∘Z/(1-p),
//   dX_ts = P_ts (dP_ts - sum_s' P_ts' dP_ts')       (softmax backward, X = pre-softmax scores)
//   dQ = scale dX K,  dK = scale dX^T Q.
// out and lse are not read: the reference recomputes everything from q, k, v.
void attention_backward_ref(float* dq, float* dk, float* dv, const float* dout, const float* q,
                            const float* k, const float* v, const float* out, const float* lse,
                            const AttentionParams& p) {
  const int64_t T = p.T, S = p.S, D = p.D;
  std::vector<double> P(static_cast<size_t>(T * S)), row_lse(static_cast<size_t>(T)),
      Z(size_t(T * S), 1.0), dP(static_cast<size_t>(T * S)), acc_sd(static_cast<size_t>(S * D));
  const bool dropout = p.dropout_p > 0.0f;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h) {
      const int64_t bh = b * p.H + h;
      const float* qh = q + bh * T * D;
      const float* kh = k + bh * S * D;
      const float* vh = v + bh * S * D;
      const float* doh = dout + bh * T * D;
      head_probs(P, row_lse, qh, kh, b, h, p);
      if (dropout) head_dropout(Z, bh, p);
      // dV = (P∘Z)^T dO, accumulated row by row of dO to stay cache friendly.
      std::fill(acc_sd.begin(), acc_sd.end(), 0.0);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = 0; s < S; ++s) {
          const double a = P[size_t(t * S + s)] * Z[size_t(t * S + s)];
          for (int64_t d = 0; d < D; ++d) acc_sd[size_t(s * D + d)] += a * double(doh[t * D + d]);
        }
      for (int64_t i = 0; i < S * D; ++i) dv[bh * S * D + i] += float(acc_sd[size_t(i)]);
      // dP = (dO V^T)∘Z, then the softmax backward turns it into dX in place.
      for (int64_t t = 0; t < T; ++t) {
        double dot = 0.0;
        for (int64_t s = 0; s < S; ++s) {
          double acc = 0.0;
          for (int64_t d = 0; d < D; ++d) acc += double(doh[t * D + d]) * double(vh[s * D + d]);
          const size_t i = size_t(t * S + s);
          dP[i] = acc * Z[i];
          dot += P[i] * dP[i];
        }
        for (int64_t s = 0; s < S; ++s) {
          const size_t i = size_t(t * S + s);
          dP[i] = P[i] * (dP[i] - dot) * double(p.scale);
        }
      }
      // dQ = scale dX K and dK = scale dX^T Q (scale already folded into dX).
      std::vector<double> acc_d(static_cast<size_t>(D));
      for (int64_t t = 0; t < T; ++t) {
        std::fill(acc_d.begin(), acc_d.end(), 0.0);
        for (int64_t s = 0; s < S; ++s)
          for (int64_t d = 0; d < D; ++d)
            acc_d[size_t(d)] += dP[size_t(t * S + s)] * double(kh[s * D + d]);
        for (int64_t d = 0; d < D; ++d) dq[(bh * T + t) * D + d] += float(acc_d[size_t(d)]);
      }
      std::fill(acc_sd.begin(), acc_sd.end(), 0.0);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = 0; s < S; ++s) {
          const double a = dP[size_t(t * S + s)];
          for (int64_t d = 0; d < D; ++d) acc_sd[size_t(s * D + d)] += a * double(qh[t * D + d]);
        }
      for (int64_t i = 0; i < S * D; ++i) dk[bh * S * D + i] += float(acc_sd[size_t(i)]);
    }
}

}  // namespace heed::kernels
