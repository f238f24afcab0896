// `heed bench`: times BERT inference (the fast path, heed/infer) or a training step
// (autograd BertForMaskedLM + full-vocabulary MLM loss + AdamW) on random weights and
// reports median latency, tokens/s, achieved GFLOP/s and peak RSS.
//
// FLOPs are counted analytically, 2 per multiply-add, matmuls only (LayerNorm, softmax,
// GELU, embeddings and the optimizer are ignored), M = B*T tokens:
//   encoder forward  = L * (2*M*(4*C^2 + 2*C*F)  +  4*B*T^2*C)
//                        (q,k,v,out; ffn up,down)   (q k^T and p v)
//   MLM head forward = 2*M*C^2 + 2*M*C*V           (transform dense; tied decoder)
//   infer = encoder forward;  train = 3 * (encoder forward + MLM head forward)
// (the backward of a matmul is two matmuls of the same size). BERT-base b8 x s128 infer:
// 178.8 GFLOP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/infer/bert_engine.h"

namespace heed::perf {

// Finetune: BertForSequenceClassification (2 labels) + cross-entropy + AdamW over the
// trainable parameters: all of them, or with `peft` only the adapter and the head.
enum class BenchMode { Infer, Train, Finetune };

struct BertBenchOptions {
  std::string model_config = "base";  // "base" | "mini" | a directory with config.json
  int64_t batch = 8, seq = 128;
  BenchMode mode = BenchMode::Infer;
  infer::Precision precision = infer::Precision::F32;
  int threads = 0;  // 0: OpenMP's default
  int iters = 10, warmup = 2;
  uint64_t seed = 0;
  std::string peft{};         // Finetune: "" (full) | lora | adalora | ia3 | prefix | adapter
  std::string peft_config{};  // a JSON file of PEFT fields
  // Train: the MLM loss through ops::linear_cross_entropy (the full logits never exist);
  // false materialises the (B, T, V) logits and their gradient, as PyTorch/HF do.
  bool fused_head = true;
  // Infer, bf16 and int8: attention with bf16 products where the CPU has AVX512_BF16
  // (infer::BertEngineOptions::attention_bf16); false runs the f32 attention kernel.
  bool attention_bf16 = true;
};

struct BertBenchResult {
  std::vector<double> latencies_ms;  // one per timed iteration
  double latency_ms_median = 0, latency_ms_min = 0, latency_ms_max = 0;
  double tokens_per_s = 0, gflop = 0, gflops = 0;
  double peak_rss_mb = 0;
  double cpu_s = 0;  // user + system CPU time of the timed iterations
  int threads = 0;
  int64_t trainable_params = 0, total_params = 0;  // training modes
  std::string attention = "f32";                   // infer: the attention kernel, bf16 or f32
};

// bert-base-uncased ("base") or google/bert_uncased_L-4_H-256_A-4 ("mini") dims, or the
// config.json in a directory.
models::BertConfig bench_config(const std::string& name);
double bert_flops(const models::BertConfig& cfg, int64_t B, int64_t T, BenchMode mode);
double peak_rss_mb();  // VmHWM of this process

BertBenchResult run_bert_bench(const BertBenchOptions& options);
// Human-readable summary; json: one line {"latency_ms_median":..., "tokens_per_s":...,
// "gflops":..., "peak_rss_mb":..., ...}.
std::string format_bench(const BertBenchOptions& options, const BertBenchResult& r, bool json);

}  // namespace heed::perf
