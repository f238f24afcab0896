// BertEngine: the inference fast path for BERT encoders. No autograd, no per-op
// allocation: weights are packed once for oneDNN (heed/kernels/packed_linear.h), the
// activations live in buffers reused across calls, and each layer is a short list of
// kernel calls (post-LN, as HF's BertLayer):
//
//   qkv = x Wqkv^T + bqkv                    (B*T, 3C)  one fused GEMM for q, k, v
//   ctx = attention(q, k, v, key mask)       (B, H, T, D)  fused, no T x T buffer
//   x  += merge(ctx) Wo^T + bo;  x = LN(x)   residual as the GEMM's "sum" post-op
//   x  += gelu(x Wi^T + bi) Wd^T + bd;  x = LN(x)   GELU fused as an eltwise post-op
//
// Precision: F32; BF16 (bf16 GEMM inputs and weights, f32 accumulation, f32 residual
// stream and LayerNorm; attention products in bf16 with AVX512_BF16, else f32); Int8
// (dynamic quantization: s8 weights per output channel, u8 activations per token, VNNI;
// attention as in BF16; f32 elsewhere).
// Outputs equal BertModel::forward's last_hidden_state (and pooler_output) to ~1e-5 in F32.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "heed/kernels/packed_linear.h"
#include "heed/models/bert_model.h"

namespace heed::infer {

enum class Precision { F32, BF16, Int8 };
Precision parse_precision(std::string_view name);  // "f32" | "bf16" | "int8"
std::string_view precision_name(Precision p);

struct BertEngineOptions {
  Precision precision = Precision::F32;
  bool pooler = true;  // build the pooler when the weights have one
  // BF16 and Int8: attention with bf16 products (kernels/attention_bf16.h) where the CPU has
  // AVX512_BF16; false, or a CPU without it, runs the f32 attention kernel.
  bool attention_bf16 = true;
  // Int8: the FFN's up-projection quantizes its GELU output for the down-projection row by
  // row (PackedLinear::forward_int8_quantized); false stores it in f32 first. Same numbers.
  bool fuse_int8_quantize = true;
};

// Supplies one BertModel parameter by its key ("embeddings.word_embeddings.weight",
// "encoder.layer.0.attention.self.query.weight", "pooler.dense.bias", ...) and expected
// shape, as a contiguous f32 tensor; an undefined tensor means "absent" (only the pooler
// may be absent). Called once per key; the engine keeps only packed copies, so a source
// can generate or load weights one at a time (peak memory = packed weights + one tensor).
using WeightSource = std::function<Tensor(const std::string& key, const Shape& shape)>;

class BertEngine {
 public:
  BertEngine(const models::BertConfig& cfg, const WeightSource& weights,
             const BertEngineOptions& options = {});
  ~BertEngine();
  BertEngine(BertEngine&&) noexcept;
  BertEngine& operator=(BertEngine&&) noexcept;

  // From a built model (e.g. bert_from_pretrained(...).model->bert()).
  static BertEngine from_model(const models::BertModel& model,
                               const BertEngineOptions& options = {});

  // hidden (B, T, C) f32. ids (B, T); mask (B, T) 1 = attend, null = all;
  // token_type (B, T), null = zeros. pooled (B, C) when not null and the pooler exists.
  void forward(float* hidden, float* pooled, const int64_t* ids, const uint8_t* mask,
               const int64_t* token_type, int64_t B, int64_t T);
  // As BertModel::forward: fills last_hidden_state and pooler_output (hidden states and
  // attention probabilities are not available on the fast path).
  models::BertOutput forward(const models::BertInputs& in);

  const models::BertConfig& config() const { return cfg_; }
  Precision precision() const { return opt_.precision; }
  bool has_pooler() const;
  // True when forward runs attention with bf16 products (BF16 or Int8, the option on, and a
  // CPU with AVX512_BF16); else the f32 attention kernel.
  bool attention_in_bf16() const;
  int64_t weight_bytes() const;  // packed weights + embeddings + norms
  // The layer-i linear layers, in order qkv, attention.output, intermediate, output.
  const kernels::PackedLinear& linear(int64_t layer, int which) const;

 private:
  struct Layer;
  struct Buffers;
  models::BertConfig cfg_;
  BertEngineOptions opt_;
  std::vector<float> word_, position_, token_type_, emb_ln_w_, emb_ln_b_;
  std::vector<Layer> layers_;
  std::unique_ptr<kernels::PackedLinear> pooler_;
  std::unique_ptr<Buffers> buf_;
};

// Random weights as HF's _init_weights (N(0, initializer_range), biases 0, LayerNorm
// weight 1), drawn per key from `seed`: for benchmarks.
WeightSource random_bert_weights(const models::BertConfig& cfg, uint64_t seed);
// The parameters of a model, by key (checks the shape).
WeightSource model_weights(const nn::Module& model);

}  // namespace heed::infer
