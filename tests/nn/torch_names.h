// Maps torch.nn.Transformer{Encoder,Decoder}Layer keys (as in the goldens) to heed's
// BERT-style names. in_proj_{weight,bias} (3C rows: q; k; v) split into
// {attention,crossattention}.self.{query,key,value}.
#pragma once

#include <map>
#include <string>

#include "heed/io/tensor_file.h"
#include "heed/ops/view.h"

namespace heed::testing {

// prefix: e.g. "param." or "grad."; torch_layer: e.g. "layers.0." (or "" for one layer).
inline std::map<std::string, Tensor> torch_layer_to_heed(const io::TensorFile& f,
                                                         const std::string& prefix,
                                                         const std::string& torch_layer,
                                                         bool decoder) {
  std::map<std::string, Tensor> out;
  auto get = [&](const std::string& k) { return f.at_f32(prefix + torch_layer + k); };
  auto split_in_proj = [&](const std::string& torch_attn, const std::string& heed_attn) {
    const Tensor w = get(torch_attn + ".in_proj_weight"), b = get(torch_attn + ".in_proj_bias");
    const int64_t C = w.size(1);
    const char* names[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; ++i) {
      out[heed_attn + ".self." + names[i] + ".weight"] = ops::slice(w, 0, i * C, (i + 1) * C).contiguous();
      out[heed_attn + ".self." + names[i] + ".bias"] = ops::slice(b, 0, i * C, (i + 1) * C).contiguous();
    }
    out[heed_attn + ".output.dense.weight"] = get(torch_attn + ".out_proj.weight");
    out[heed_attn + ".output.dense.bias"] = get(torch_attn + ".out_proj.bias");
  };
  split_in_proj("self_attn", "attention");
  if (decoder) split_in_proj("multihead_attn", "crossattention");
  out["intermediate.dense.weight"] = get("linear1.weight");
  out["intermediate.dense.bias"] = get("linear1.bias");
  out["output.dense.weight"] = get("linear2.weight");
  out["output.dense.bias"] = get("linear2.bias");
  const std::string last = decoder ? "norm3" : "norm2";
  for (const char* wb : {"weight", "bias"}) {
    out[std::string("attention.output.LayerNorm.") + wb] = get(std::string("norm1.") + wb);
    if (decoder) out[std::string("crossattention.output.LayerNorm.") + wb] = get(std::string("norm2.") + wb);
    out[std::string("output.LayerNorm.") + wb] = get(last + "." + wb);
  }
  return out;
}

}  // namespace heed::testing
