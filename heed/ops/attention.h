// scaled_dot_product_attention: softmax(q k^T * scale + mask) v as one fused op
// (FlashAttention-2 style kernel; no T x S buffer in forward or backward).
#pragma once

#include "heed/base/rng.h"
#include "heed/tensor/tensor.h"

namespace heed::ops {

struct AttentionOptions {
  // Either a key-padding mask (B, S) of integers/bools, 1 = attend, 0 = padding
  // (HF attention_mask), or an additive f32 mask broadcastable to (B, H, T, S)
  // (0 = keep, -inf or a large negative = drop). The additive mask gets no gradient.
  Tensor mask;
  bool causal = false;
  float dropout_p = 0.0f;
  Generator* gen = nullptr;  // required when dropout_p > 0
  float scale = 0.0f;        // 0 means 1/sqrt(D)
  bool return_probs = false; // also return the (B, H, T, S) probabilities (no dropout)
};

struct AttentionResult {
  Tensor out;    // (B, H, T, D)
  Tensor probs;  // (B, H, T, S) when requested, not differentiable
};

// q (B, H, T, D); k, v (B, H, S, D). T != S is cross-attention.
AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const AttentionOptions& opt = {});

// The plain reference (materialises scores; differentiable through basic ops), used to
// test the fused op and as documentation of the semantics.
Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const AttentionOptions& opt = {});

}  // namespace heed::ops
