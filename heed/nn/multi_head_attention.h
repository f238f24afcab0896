// Multi-head attention with separate query/key/value projections and an output
// projection, named as BERT names them: self.{query,key,value}, output.dense.
// Self-attention: forward(x, x); cross-attention: forward(x, memory).
#pragma once

#include "heed/nn/dropout.h"
#include "heed/nn/hooks.h"
#include "heed/nn/linear.h"
#include "heed/ops/attention.h"

namespace heed::nn {

struct MultiHeadAttentionConfig {
  int64_t hidden = 0;
  int64_t heads = 1;
  float attention_dropout = 0.0f;  // on the probabilities
  bool bias = true;
};

struct AttentionOutput {
  Tensor out;    // (B, T, C), after the output projection
  Tensor probs;  // (B, H, T, S) when requested
};

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(const MultiHeadAttentionConfig& cfg, Generator& init_gen);
  // x (B, T, C) queries, kv (B, S, C) keys/values. mask: (B, S) key padding (1 = attend)
  // or an additive f32 mask broadcastable to (B, H, T, S).
  AttentionOutput forward(const Tensor& x, const Tensor& kv, const Tensor& mask = Tensor(),
                          bool causal = false, bool output_attentions = false) const;
  const MultiHeadAttentionConfig& config() const { return cfg_; }
  // Prefix tuning: keys/values attended to before the layer's own (probabilities are
  // then (B, H, T, P + S), the prefix first, as HF with past_key_values).
  void set_prefix_hook(std::shared_ptr<const AttentionPrefixHook> hook) { prefix_ = std::move(hook); }
  Linear& query() { return *query_; }
  Linear& key() { return *key_; }
  Linear& value() { return *value_; }
  Linear& output() { return *out_; }

 private:
  Tensor split_heads(const Tensor& x) const;  // (B, T, C) -> (B, H, T, D)
  MultiHeadAttentionConfig cfg_;
  std::shared_ptr<Linear> query_, key_, value_, out_;
  std::shared_ptr<const AttentionPrefixHook> prefix_;
};

}  // namespace heed::nn
