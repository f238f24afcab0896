// Transformer encoder layer, BERT's parameter names:
//   attention.self.{query,key,value}, attention.output.dense, attention.output.LayerNorm,
//   intermediate.dense, output.dense, output.LayerNorm.
// Post-LN (BERT, torch default):  x = LN(x + Drop(Attn(x)));  x = LN(x + Drop(FFN(x)))
// Pre-LN (norm_first):            x = x + Drop(Attn(LN(x)));  x = x + Drop(FFN(LN(x)))
#pragma once

#include "heed/nn/dropout.h"
#include "heed/nn/feed_forward.h"
#include "heed/nn/layer_norm.h"
#include "heed/nn/multi_head_attention.h"

namespace heed::nn {

struct EncoderLayerConfig {
  int64_t hidden = 768, heads = 12, ffn = 3072;
  Activation activation = Activation::Gelu;
  float hidden_dropout = 0.1f, attention_dropout = 0.1f;
  float layer_norm_eps = 1e-12f;
  bool norm_first = false;
};

struct LayerOutput {
  Tensor hidden;  // (B, T, C)
  Tensor attn;    // (B, H, T, S) self-attention probabilities, when requested
  Tensor cross_attn;  // decoder only
};

class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(const EncoderLayerConfig& cfg, Generator& init_gen);
  LayerOutput forward(const Tensor& x, const Tensor& mask = Tensor(),
                      bool output_attentions = false) const;

  MultiHeadAttention& attention() { return *attn_; }
  FeedForward& feed_forward() { return *ffn_; }
  // Bottleneck adapters: applied to the attention (resp. feed-forward) sublayer's output
  // after its dropout, before the residual add; null removes.
  void set_sublayer_hooks(std::shared_ptr<const SublayerHook> after_attention,
                          std::shared_ptr<const SublayerHook> after_feed_forward) {
    after_attn_ = std::move(after_attention);
    after_ffn_ = std::move(after_feed_forward);
  }

 private:
  Tensor after(const std::shared_ptr<const SublayerHook>& hook, const Tensor& h) const {
    return hook ? hook->forward(h) : h;
  }
  EncoderLayerConfig cfg_;
  std::shared_ptr<MultiHeadAttention> attn_;
  std::shared_ptr<LayerNorm> attn_norm_, ffn_norm_;
  std::shared_ptr<FeedForward> ffn_;
  std::shared_ptr<Dropout> drop_;
  std::shared_ptr<const SublayerHook> after_attn_, after_ffn_;
};

}  // namespace heed::nn
