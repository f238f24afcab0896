// Fused scaled-dot-product attention, FlashAttention-2 style (Dao 2023):
//   out = softmax(scale * q k^T + bias + mask) v, with optional dropout on the probabilities.
// q (B,H,T,D), k and v (B,H,S,D), out (B,H,T,D), all contiguous. The forward keeps an
// online softmax per query row and saves only lse (B,H,T) = log-sum-exp of the scores;
// the backward recomputes probabilities block by block. No T x S buffer is allocated,
// so memory is O(T*D) per head.
#pragma once

#include <cstdint>

namespace heed::kernels {

struct AttentionParams {
  int64_t B = 0, H = 0, T = 0, S = 0, D = 0;
  float scale = 1.0f;  // usually 1/sqrt(D)
  bool causal = false;  // query t may see key s only when s <= t + (S - T) (bottom-right aligned, as when T == S)
  // Optional key-padding mask (B,S): 1 = attend, 0 = masked out (HF attention_mask semantics).
  const uint8_t* key_mask = nullptr;
  // Optional additive float mask/bias, read as bias[b*bias_sb + h*bias_sh + t*bias_st + s]
  // (a stride of 0 broadcasts that dimension; s is always contiguous).
  const float* bias = nullptr;
  int64_t bias_sb = 0, bias_sh = 0, bias_st = 0;
  // Dropout on the probabilities. The keep decision for element (b,h,t,s) is
  //   philox_uniform(dropout_seed, dropout_offset + ((b*H + h)*T + t)*S + s) >= dropout_p
  // (heed/base/rng.h), kept values scaled by 1/(1-p). Forward and backward agree.
  float dropout_p = 0.0f;
  uint64_t dropout_seed = 0, dropout_offset = 0;
};

// A query row whose keys are all masked gets out = 0 and lse = -inf (PyTorch gives NaN).
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionParams& p);
// dq += , dk += , dv += . Needs out and lse from the forward.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const AttentionParams& p);
// Materialises the (post-dropout-free) probabilities (B,H,T,S) from q, k and lse, for
// visualisation. Dropout is never applied here.
void attention_probs(float* probs, const float* q, const float* k, const float* lse,
                     const AttentionParams& p);

// Plain reference: materialises the T x S score matrix, scalar loops.
void attention_forward_ref(float* out, float* lse, const float* q, const float* k,
                           const float* v, const AttentionParams& p);
void attention_backward_ref(float* dq, float* dk, float* dv, const float* dout, const float* q,
                            const float* k, const float* v, const float* out, const float* lse,
                            const AttentionParams& p);

}  // namespace heed::kernels
