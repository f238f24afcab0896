#include "heed/nn/transformer_decoder_layer.h"

#include "heed/ops/elementwise.h"

namespace heed::nn {

TransformerDecoderLayer::TransformerDecoderLayer(const EncoderLayerConfig& cfg, Generator& gen)
    : cfg_(cfg) {
  const MultiHeadAttentionConfig mc{.hidden = cfg.hidden, .heads = cfg.heads,
                                    .attention_dropout = cfg.attention_dropout};
  self_attn_ = register_module("attention", std::make_shared<MultiHeadAttention>(mc, gen));
  self_norm_ = register_module("attention.output.LayerNorm",
                               std::make_shared<LayerNorm>(cfg.hidden, cfg.layer_norm_eps));
  cross_attn_ = register_module("crossattention", std::make_shared<MultiHeadAttention>(mc, gen));
  cross_norm_ = register_module("crossattention.output.LayerNorm",
                                std::make_shared<LayerNorm>(cfg.hidden, cfg.layer_norm_eps));
  ffn_ = register_module("", std::make_shared<FeedForward>(
                                 FeedForwardConfig{.hidden = cfg.hidden, .intermediate = cfg.ffn,
                                                   .activation = cfg.activation},
                                 gen));
  ffn_norm_ = register_module("output.LayerNorm",
                              std::make_shared<LayerNorm>(cfg.hidden, cfg.layer_norm_eps));
  drop_ = register_module("", std::make_shared<Dropout>(cfg.hidden_dropout));
}

LayerOutput TransformerDecoderLayer::forward(const Tensor& x, const Tensor& memory,
                                             const Tensor& memory_mask, const Tensor& self_mask,
                                             bool output_attentions) const {
  LayerOutput o;
  if (cfg_.norm_first) {
    Tensor h = self_norm_->forward(x);
    AttentionOutput sa = self_attn_->forward(h, h, self_mask, true, output_attentions);
    Tensor y = ops::add(x, drop_->forward(sa.out));
    h = cross_norm_->forward(y);
    AttentionOutput ca = cross_attn_->forward(h, memory, memory_mask, false, output_attentions);
    y = ops::add(y, drop_->forward(ca.out));
    o.hidden = ops::add(y, drop_->forward(ffn_->forward(ffn_norm_->forward(y))));
    o.attn = sa.probs;
    o.cross_attn = ca.probs;
    return o;
  }
  AttentionOutput sa = self_attn_->forward(x, x, self_mask, true, output_attentions);
  Tensor y = self_norm_->forward(ops::add(x, drop_->forward(sa.out)));
  AttentionOutput ca = cross_attn_->forward(y, memory, memory_mask, false, output_attentions);
  y = cross_norm_->forward(ops::add(y, drop_->forward(ca.out)));
  o.hidden = ffn_norm_->forward(ops::add(y, drop_->forward(ffn_->forward(y))));
  o.attn = sa.probs;
  o.cross_attn = ca.probs;
  return o;
}

}  // namespace heed::nn
