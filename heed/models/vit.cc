#include "heed/models/vit.h"

#include "heed/ops/ops.h"

namespace heed::models {

Tensor patchify(const Tensor& pixels, int64_t p) {
  HEED_CHECK(pixels.ndim() == 4, "patchify: pixels {} must be (B, channels, H, W)", pixels.shape());
  const int64_t B = pixels.size(0), ch = pixels.size(1), H = pixels.size(2), W = pixels.size(3);
  HEED_CHECK(p > 0 && H % p == 0 && W % p == 0,
             "patchify: image {}x{} is not divisible into {}x{} patches", H, W, p, p);
  const Tensor x = pixels.contiguous().to(DType::F32);
  const int64_t gh = H / p, gw = W / p, F = ch * p * p;
  Tensor out = Tensor::empty(Shape{B, gh * gw, F});
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t py = 0; py < gh; ++py)
      for (int64_t px = 0; px < gw; ++px) {
        float* o = dst + ((b * gh + py) * gw + px) * F;
        for (int64_t c = 0; c < ch; ++c)
          for (int64_t y = 0; y < p; ++y)
            for (int64_t xx = 0; xx < p; ++xx)
              *o++ = src[((b * ch + c) * H + py * p + y) * W + px * p + xx];
      }
  return out;
}

ViTForImageClassification::ViTForImageClassification(const ViTConfig& cfg, Generator& gen)
    : cfg_(cfg) {
  HEED_CHECK(cfg.image_size % cfg.patch_size == 0,
             "ViT: image_size {} is not a multiple of patch_size {}", cfg.image_size,
             cfg.patch_size);
  const int64_t C = cfg.hidden_size, F = cfg.num_channels * cfg.patch_size * cfg.patch_size;
  cls_token_ = register_parameter("vit.embeddings.cls_token",
                                  nn::init::normal(Shape{1, 1, C}, cfg.initializer_range, gen));
  pos_ = register_parameter(
      "vit.embeddings.position_embeddings",
      nn::init::normal(Shape{1, cfg.num_patches() + 1, C}, cfg.initializer_range, gen));
  proj_ = register_module("vit.embeddings.patch_embeddings.projection",
                          std::make_shared<nn::Linear>(nn::LinearConfig{.in = F, .out = C}, gen));
  const nn::EncoderLayerConfig lc{.hidden = C,
                                  .heads = cfg.num_attention_heads,
                                  .ffn = cfg.intermediate_size,
                                  .activation = nn::parse_activation(cfg.hidden_act),
                                  .hidden_dropout = cfg.hidden_dropout_prob,
                                  .attention_dropout = cfg.attention_probs_dropout_prob,
                                  .layer_norm_eps = cfg.layer_norm_eps,
                                  .norm_first = true};
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i)
    layers_.push_back(register_module("vit.encoder.layer." + std::to_string(i),
                                      std::make_shared<nn::TransformerEncoderLayer>(lc, gen)));
  final_norm_ = register_module("vit.layernorm",
                                std::make_shared<nn::LayerNorm>(C, cfg.layer_norm_eps));
  classifier_ = register_module(
      "classifier", std::make_shared<nn::Linear>(nn::LinearConfig{.in = C, .out = cfg.num_labels}, gen));
  drop_ = register_module("", std::make_shared<nn::Dropout>(cfg.hidden_dropout_prob));
}

ViTOutput ViTForImageClassification::forward(const Tensor& pixels, bool output_attentions) const {
  HEED_CHECK(pixels.ndim() == 4 && pixels.size(1) == cfg_.num_channels &&
                 pixels.size(2) == cfg_.image_size && pixels.size(3) == cfg_.image_size,
             "ViT: pixels {} must be (B, {}, {}, {})", pixels.shape(), cfg_.num_channels,
             cfg_.image_size, cfg_.image_size);
  const int64_t B = pixels.size(0), C = cfg_.hidden_size;
  Tensor patches = proj_->forward(patchify(pixels, cfg_.patch_size));  // (B, N, C)
  // Broadcast the [CLS] token over the batch: zeros (B,1,C) + cls (1,1,C).
  Tensor cls = ops::add(Tensor::zeros(Shape{B, 1, C}), cls_token_);
  Tensor h = ops::add(ops::concat({cls, patches}, 1), pos_);  // (B, N+1, C)
  h = drop_->forward(h);
  ViTOutput out;
  for (const auto& layer : layers_) {
    nn::LayerOutput lo = layer->forward(h, Tensor(), output_attentions);
    h = lo.hidden;
    if (output_attentions) out.attentions.push_back(lo.attn);
  }
  Tensor cls_state = ops::select(final_norm_->forward(h), 1, 0);  // (B, C)
  out.logits = classifier_->forward(cls_state);
  return out;
}

}  // namespace heed::models
