// Transformer decoder layer: masked (causal) self-attention, cross-attention over the
// encoder output, feed-forward. Names follow HF's BertLayer with add_cross_attention:
//   attention.*, crossattention.self.{query,key,value}, crossattention.output.dense,
//   crossattention.output.LayerNorm, intermediate.dense, output.dense, output.LayerNorm.
#pragma once

#include "heed/nn/transformer_encoder_layer.h"

namespace heed::nn {

class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(const EncoderLayerConfig& cfg, Generator& init_gen);
  // x (B, T, C) targets; memory (B, S, C) encoder output; memory_mask (B, S) 1 = attend.
  // self_mask: optional (B, T) key padding for the targets. Self-attention is causal.
  LayerOutput forward(const Tensor& x, const Tensor& memory, const Tensor& memory_mask = Tensor(),
                      const Tensor& self_mask = Tensor(), bool output_attentions = false) const;

 private:
  EncoderLayerConfig cfg_;
  std::shared_ptr<MultiHeadAttention> self_attn_, cross_attn_;
  std::shared_ptr<LayerNorm> self_norm_, cross_norm_, ffn_norm_;
  std::shared_ptr<FeedForward> ffn_;
  std::shared_ptr<Dropout> drop_;
};

}  // namespace heed::nn
