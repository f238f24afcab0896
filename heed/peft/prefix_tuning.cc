#include "heed/peft/prefix_tuning.h"

#include "heed/ops/activation.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/view.h"

namespace heed::peft {

namespace {

class LayerPrefix : public nn::AttentionPrefixHook {
 public:
  LayerPrefix(const PrefixEncoder* enc, int64_t layer) : enc_(enc), layer_(layer) {}
  nn::KeyValuePrefix prefix(int64_t batch) const override {
    const PrefixShape& s = enc_->shape();
    const int64_t P = s.virtual_tokens, H = s.heads, D = s.hidden / s.heads;
    const Tensor kv = ops::reshape(enc_->current_prompts(), Shape{P, s.layers * 2, H, D});
    const Tensor ones = Tensor::ones(Shape{batch, 1, 1, 1});
    auto slot = [&](int64_t i) {  // (P, H, D) -> (B, H, P, D)
      return ops::mul(ones, ops::unsqueeze(ops::transpose(ops::select(kv, 1, i), 0, 1), 0));
    };
    return {slot(2 * layer_), slot(2 * layer_ + 1)};
  }

 private:
  const PrefixEncoder* enc_;
  int64_t layer_;
};

}  // namespace

PrefixEncoder::PrefixEncoder(const PrefixShape& s, Generator& gen) : shape_(s) {
  HEED_CHECK(s.virtual_tokens > 0 && s.layers > 0 && s.heads > 0 && s.hidden % s.heads == 0,
             "prefix tuning: bad shape (P={}, layers={}, heads={}, hidden={})", s.virtual_tokens,
             s.layers, s.heads, s.hidden);
  const int64_t out = s.layers * 2 * s.hidden;
  if (s.projection) {
    HEED_CHECK(s.encoder_hidden > 0, "prefix tuning: encoder_hidden_size must be positive");
    // torch.nn.Embedding's default init, N(0, 1).
    embedding_ = register_parameter("embedding.weight", Tensor::randn(Shape{s.virtual_tokens, s.hidden}, gen));
    t0_ = register_module("transform.0", std::make_shared<nn::Linear>(
                                             nn::LinearConfig{.in = s.hidden, .out = s.encoder_hidden}, gen));
    t2_ = register_module("transform.2", std::make_shared<nn::Linear>(
                                             nn::LinearConfig{.in = s.encoder_hidden, .out = out}, gen));
  } else {
    embedding_ = register_parameter("embedding.weight", Tensor::randn(Shape{s.virtual_tokens, out}, gen));
  }
}

Tensor PrefixEncoder::prompts() const {
  if (!t0_) return embedding_;
  return t2_->forward(ops::tanh(t0_->forward(embedding_)));
}

void PrefixEncoder::load_prompts(const Tensor& p) {
  const Shape want{shape_.virtual_tokens, shape_.layers * 2 * shape_.hidden};
  HEED_CHECK(p.shape() == want,
             "prefix tuning: prompt_embeddings has shape {} but the config needs {} "
             "(num_virtual_tokens, num_layers * 2 * token_dim)",
             p.shape(), want);
  HEED_CHECK(!t0_, "prefix tuning: saved prompts load into an encoder without projection");
  embedding_.copy_(p);
}

std::vector<std::shared_ptr<const nn::AttentionPrefixHook>> PrefixEncoder::layer_hooks() const {
  std::vector<std::shared_ptr<const nn::AttentionPrefixHook>> out;
  for (int64_t l = 0; l < shape_.layers; ++l) out.push_back(std::make_shared<LayerPrefix>(this, l));
  return out;
}

}  // namespace heed::peft
