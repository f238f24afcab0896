#include "heed/nn/transformer_encoder_layer.h"

#include "heed/ops/elementwise.h"

namespace heed::nn {

TransformerEncoderLayer::TransformerEncoderLayer(const EncoderLayerConfig& cfg, Generator& gen)
    : cfg_(cfg) {
  attn_ = register_module(
      "attention", std::make_shared<MultiHeadAttention>(
                       MultiHeadAttentionConfig{.hidden = cfg.hidden, .heads = cfg.heads,
                                                .attention_dropout = cfg.attention_dropout},
                       gen));
  attn_norm_ = register_module("attention.output.LayerNorm",
                               std::make_shared<LayerNorm>(cfg.hidden, cfg.layer_norm_eps));
  ffn_ = register_module("", std::make_shared<FeedForward>(
                                 FeedForwardConfig{.hidden = cfg.hidden, .intermediate = cfg.ffn,
                                                   .activation = cfg.activation},
                                 gen));
  ffn_norm_ = register_module("output.LayerNorm",
                              std::make_shared<LayerNorm>(cfg.hidden, cfg.layer_norm_eps));
  drop_ = register_module("", std::make_shared<Dropout>(cfg.hidden_dropout));
}

LayerOutput TransformerEncoderLayer::forward(const Tensor& x, const Tensor& mask,
                                             bool output_attentions) const {
  LayerOutput o;
  if (cfg_.norm_first) {
    const Tensor h = attn_norm_->forward(x);
    AttentionOutput a = attn_->forward(h, h, mask, false, output_attentions);
    Tensor y = ops::add(x, after(after_attn_, drop_->forward(a.out)));
    y = ops::add(y, after(after_ffn_, drop_->forward(ffn_->forward(ffn_norm_->forward(y)))));
    o.hidden = y;
    o.attn = a.probs;
    return o;
  }
  AttentionOutput a = attn_->forward(x, x, mask, false, output_attentions);
  Tensor y = attn_norm_->forward(ops::add(x, after(after_attn_, drop_->forward(a.out))));  // (B,T,C)
  o.hidden = ffn_norm_->forward(ops::add(y, after(after_ffn_, drop_->forward(ffn_->forward(y)))));
  o.attn = a.probs;
  return o;
}

}  // namespace heed::nn
