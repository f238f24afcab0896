#include "heed/nn/multi_head_attention.h"

#include "heed/ops/view.h"

namespace heed::nn {

MultiHeadAttention::MultiHeadAttention(const MultiHeadAttentionConfig& cfg, Generator& gen)
    : cfg_(cfg) {
  HEED_CHECK(cfg.heads > 0 && cfg.hidden % cfg.heads == 0,
             "MultiHeadAttention: hidden size {} is not a multiple of the number of heads {}",
             cfg.hidden, cfg.heads);
  const LinearConfig lc{.in = cfg.hidden, .out = cfg.hidden, .bias = cfg.bias};
  query_ = register_module("self.query", std::make_shared<Linear>(lc, gen));
  key_ = register_module("self.key", std::make_shared<Linear>(lc, gen));
  value_ = register_module("self.value", std::make_shared<Linear>(lc, gen));
  out_ = register_module("output.dense", std::make_shared<Linear>(lc, gen));
}

Tensor MultiHeadAttention::split_heads(const Tensor& x) const {
  const int64_t B = x.size(0), T = x.size(1), H = cfg_.heads, D = cfg_.hidden / H;
  return ops::transpose(ops::reshape(x, Shape{B, T, H, D}), 1, 2);
}

AttentionOutput MultiHeadAttention::forward(const Tensor& x, const Tensor& kv, const Tensor& mask,
                                            bool causal, bool output_attentions) const {
  HEED_CHECK(x.ndim() == 3 && x.size(2) == cfg_.hidden,
             "MultiHeadAttention: query input {} must be (B, T, {})", x.shape(), cfg_.hidden);
  HEED_CHECK(kv.ndim() == 3 && kv.size(2) == cfg_.hidden && kv.size(0) == x.size(0),
             "MultiHeadAttention: key/value input {} must be (B={}, S, {})", kv.shape(), x.size(0),
             cfg_.hidden);
  const int64_t B = x.size(0), T = x.size(1);
  Tensor q = split_heads(query_->forward(x));   // (B, H, T, D)
  Tensor k = split_heads(key_->forward(kv));    // (B, H, S, D)
  Tensor v = split_heads(value_->forward(kv));  // (B, H, S, D)
  ops::AttentionOptions opt;
  opt.mask = mask;
  opt.causal = causal;
  opt.return_probs = output_attentions;
  if (is_training() && cfg_.attention_dropout > 0.0f) {
    HEED_CHECK(generator() != nullptr,
               "MultiHeadAttention: attention dropout needs a generator; call set_generator()");
    opt.dropout_p = cfg_.attention_dropout;
    opt.gen = generator().get();
  }
  ops::AttentionResult r = ops::scaled_dot_product_attention(q, k, v, opt);
  Tensor merged = ops::reshape(ops::transpose(r.out, 1, 2), Shape{B, T, cfg_.hidden});  // (B,T,C)
  return {out_->forward(merged), r.probs};
}

}  // namespace heed::nn
