// Runs a Hugging Face BERT directory on a text (or pair) and collects what the attention
// page shows: tokens, per-layer attention (H, T, T) and, for the neuron view, each
// layer's queries and keys (H, T, D). The only heed/viz file that knows about models; it
// is its own target (heed_viz_bert) so heed_viz stays a base-only library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/viz/attention_page.h"

namespace heed::viz {

struct BertAttentionOptions {
  std::string model_dir{};    // config.json + model.safetensors / pytorch_model.bin
  std::string tokenizer_dir{};  // tokenizer.json or vocab.txt; default: model_dir
  std::string text{}, text_pair{};
  std::string layers = "all";  // parse_layers syntax: "0-3", "0,5", "all"
  bool queries_and_keys = true;
  int32_t max_length = 512;    // longer inputs are truncated (longest first)
};

AttentionPageInput bert_attention_input(const BertAttentionOptions& options);

}  // namespace heed::viz
