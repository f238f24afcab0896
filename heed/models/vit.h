// ViT-style patch-sequence encoder for images (Dosovitskiy et al. 2021): the image is
// cut into p x p patches, each flattened and projected to the hidden size; a learned
// [CLS] token and learned position embeddings are added; pre-LN encoder layers; the
// final [CLS] state goes through a LayerNorm and a linear classifier.
// Parameter names follow HF's ViTForImageClassification at the top level
// (vit.embeddings.cls_token, vit.embeddings.position_embeddings,
// vit.embeddings.patch_embeddings.projection, vit.layernorm, classifier); the encoder
// layers use heed's BERT-style layer names, and the projection is a Linear over the
// flattened (channel, y, x) patch, i.e. HF's Conv2d weight reshaped to (C, ch*p*p).
#pragma once

#include "heed/nn/nn.h"

namespace heed::models {

struct ViTConfig {
  int64_t image_size = 8, patch_size = 2, num_channels = 1;
  int64_t hidden_size = 64, num_hidden_layers = 2, num_attention_heads = 4;
  int64_t intermediate_size = 128, num_labels = 10;
  float hidden_dropout_prob = 0.1f, attention_probs_dropout_prob = 0.0f;
  float layer_norm_eps = 1e-6f, initializer_range = 0.02f;
  std::string hidden_act = "gelu";
  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct ViTOutput {
  Tensor logits;                   // (B, num_labels)
  std::vector<Tensor> attentions;  // per layer (B, H, N+1, N+1), when requested
};

class ViTForImageClassification : public nn::Module {
 public:
  ViTForImageClassification(const ViTConfig& cfg, Generator& init_gen);
  // pixels (B, num_channels, image_size, image_size) f32
  ViTOutput forward(const Tensor& pixels, bool output_attentions = false) const;
  const ViTConfig& config() const { return cfg_; }

 private:
  ViTConfig cfg_;
  Tensor cls_token_, pos_;
  std::shared_ptr<nn::Linear> proj_, classifier_;
  std::vector<std::shared_ptr<nn::TransformerEncoderLayer>> layers_;
  std::shared_ptr<nn::LayerNorm> final_norm_;
  std::shared_ptr<nn::Dropout> drop_;
};

// (B, ch, H, W) -> (B, N, ch*p*p), patches in row-major order, each flattened as (ch, y, x).
Tensor patchify(const Tensor& pixels, int64_t patch_size);

}  // namespace heed::models
