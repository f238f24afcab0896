// linear_cross_entropy: cross_entropy(linear(x, weight, bias), targets) without the
// (N, V) logits ever existing in full. For an MLM head, the logits of a b32 x s128 batch
// over a 30,522-token vocabulary are 500 MB, and their gradient another 500 MB; here rows
// go through in chunks of ~32 MB: logits of a chunk, its loss, its gradient written over
// its logits in place, then that chunk's share of dx, dW and db. The gradients are
// computed in the forward pass for an upstream gradient of 1 and scaled by the real one in
// the backward (the loss is a sum or mean, so they are linear in it), as Liger-Kernel's
// fused linear cross-entropy does.
//
// The same FLOPs as the unfused pair: every row's logits are computed, including rows
// whose target is ignore_index (callers that want to skip those gather the labelled rows
// first, as BertInputs::sparse_mlm does). Under Autocast(BF16) the three GEMMs run in bf16
// with f32 accumulation, as ops::linear's do.
#pragma once

#include "heed/ops/cross_entropy.h"
#include "heed/tensor/tensor.h"

namespace heed::ops {

// x (..., H) f32, weight (V, H), bias (V) or undefined, targets (...) integer.
// opt.reduction must be Mean or Sum (None would need per-row upstream gradients).
// chunk_rows: rows per chunk; 0 picks about 32 MB of logits per chunk.
Tensor linear_cross_entropy(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& targets, const CrossEntropyOptions& opt = {},
                            int64_t chunk_rows = 0);

}  // namespace heed::ops
