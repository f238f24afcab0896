// Inference self-attention with bf16 products, for BertEngine's bf16 and int8 modes:
//   out = softmax(scale q k^T + key mask) v,
// with q*scale, k, v and the probabilities rounded to bf16 (round to nearest even) and every
// product summed in f32 by AVX512_BF16's vdpbf16ps. The softmax itself (running max, sums,
// rescaling) stays in f32. Like attention_forward it is FlashAttention-style: an online
// softmax over blocks of keys, no T x T buffer, and no lse (no backward).
//
// Token-major layouts. Token (b, t), head h is read at row b*T + t, columns h*D .. h*D+D-1,
// of q, k and v with row strides ldq, ldk, ldv: exactly the rows the fused QKV GEMM writes.
// out is written the same way (stride ldo), the layout the output projection reads. So the
// engine needs no split into (B, H, T, D) and no merge back.
//
// Masking: key_mask (B, T), 1 = attend, null = all. A sequence with no key to attend gets
// uniform attention over all T keys, as HF's additive finfo.min mask gives it
// (models::bert_attention_mask; BertEngine's f32 path does the same).
#pragma once

#include <cstdint>

namespace heed::kernels {

struct TokenAttentionParams {
  int64_t B = 0, H = 0, T = 0, D = 0;          // T queries and T keys per sequence
  float scale = 1.0f;                          // usually 1/sqrt(D)
  const uint8_t* key_mask = nullptr;           // (B, T)
  int64_t ldq = 0, ldk = 0, ldv = 0, ldo = 0;  // row strides in floats
};

// True when attention_forward_bf16 can run here: the CPU has AVX512_BF16 (Zen 4+, Cooper
// Lake, Sapphire Rapids) and D is a positive multiple of 16. Otherwise use the f32 kernel.
bool attention_bf16_supported(int64_t D);

// Throws (HEED_CHECK) when !attention_bf16_supported(p.D) or a stride is too small.
void attention_forward_bf16(float* out, const float* q, const float* k, const float* v,
                            const TokenAttentionParams& p);

// The truth for tests: the same bf16 roundings of q*scale, k, v and the probabilities,
// scores and sums in double, one softmax over the whole row (no blocks).
void attention_forward_bf16_ref(float* out, const float* q, const float* k, const float* v,
                                const TokenAttentionParams& p);

}  // namespace heed::kernels
