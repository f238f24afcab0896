// Weight-only int8 checkpoints ("heed_int8"): `heed quantize` writes a model directory
// whose encoder Linear weights (attention query/key/value/output, intermediate and output
// dense) are stored as I8 with an F32 per-output-channel scale, symmetric:
//
//   scale[o] = max_i |W[o, i]| / 127  (1 when the row is zero);  q = round(W / scale)
//   <key>              I8  (out, in)
//   <key>_scale        F32 (out)      e.g. "bert.encoder.layer.0.attention.self.query.weight_scale"
//
// Everything else (embeddings, LayerNorms, biases, pooler, classifier) stays F32.
// config.json gains "quantization_config": {"quant_method": "heed_int8", "weights":
// "per-channel symmetric int8", "activations": "dynamic per-token"}. Loading dequantizes
// into an f32 model (the int8 engine, heed/infer/bert_engine.h, re-quantizes it).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "heed/tensor/tensor.h"

namespace heed::infer {

inline constexpr const char* kQuantMethod = "heed_int8";

struct QuantizeOptions {
  std::string dtype = "int8";  // the only one supported
};

struct QuantizeReport {
  int64_t bytes_in = 0, bytes_out = 0;  // weight files before / after
  int64_t quantized_tensors = 0, kept_tensors = 0;
  double max_abs_error = 0.0;  // max |dequantize(quantize(W)) - W| over quantized weights
  std::vector<std::string> copied_files;  // tokenizer and other files copied along
};

// True for an encoder Linear weight key quantize_checkpoint stores as I8.
bool is_quantizable_weight(const std::string& key);

// Reads model_dir (config.json + model.safetensors / pytorch_model.bin, possibly sharded)
// and writes out_dir/config.json, out_dir/model.safetensors and the tokenizer files.
// Errors: no weights, an unsupported dtype, an already quantized model, out_dir == model_dir.
QuantizeReport quantize_checkpoint(const std::string& model_dir, const std::string& out_dir,
                                   const QuantizeOptions& options = {});

// config.json's "quantization_config" names heed_int8 (any other quant_method is an error).
bool is_quantized_checkpoint(const std::string& model_dir);

// The f32 state dict of a quantized directory: I8 weights times their scales, the rest as
// stored.
std::map<std::string, Tensor> load_dequantized_state_dict(const std::string& model_dir);

}  // namespace heed::infer
