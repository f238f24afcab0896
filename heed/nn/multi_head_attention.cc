#include "heed/nn/multi_head_attention.h"

#include <cstring>

#include "heed/ops/concat.h"
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

namespace {

// A key mask (..., S) extended to (..., P + S) with the prefix keys visible: ones in a
// u8 key-padding mask, zeros in an additive f32 mask. Masks carry no gradient.
Tensor extend_mask(const Tensor& mask, int64_t P) {
  if (!mask.defined() || P == 0) return mask;
  const Tensor m = mask.contiguous();
  Shape shape = m.shape();
  const int64_t S = shape[shape.ndim() - 1], rows = S > 0 ? m.numel() / S : 0;
  shape[shape.ndim() - 1] = P + S;
  Tensor out = Tensor::empty(shape, m.dtype());
  const size_t es = m.dtype() == DType::U8 ? 1 : 4;
  HEED_CHECK(m.dtype() == DType::U8 || m.dtype() == DType::F32,
             "MultiHeadAttention: a prefix needs a u8 or f32 mask, got {}", m.dtype());
  const auto* src = static_cast<const char*>(m.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  for (int64_t r = 0; r < rows; ++r) {
    char* row = dst + size_t(r * (P + S)) * es;
    if (es == 1)
      std::memset(row, 1, size_t(P));
    else
      std::memset(row, 0, size_t(P) * es);  // additive 0.0f
    std::memcpy(row + size_t(P) * es, src + size_t(r * S) * es, size_t(S) * es);
  }
  return out;
}

}  // namespace

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
  if (prefix_) {
    const KeyValuePrefix p = prefix_->prefix(B);
    const int64_t H = cfg_.heads, D = cfg_.hidden / H;
    HEED_CHECK(p.key.ndim() == 4 && p.key.size(0) == B && p.key.size(1) == H &&
                   p.key.size(3) == D && p.value.shape() == p.key.shape(),
               "MultiHeadAttention: prefix keys {} and values {} must be (B={}, H={}, P, D={})",
               p.key.shape(), p.value.shape(), B, H, D);
    HEED_CHECK(!causal, "MultiHeadAttention: a key/value prefix with a causal mask is not supported");
    k = ops::concat({p.key, k}, 2);
    v = ops::concat({p.value, v}, 2);
    opt.mask = extend_mask(mask, p.key.size(2));
  }
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
