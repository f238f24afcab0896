// The attention page: head view, model view and neuron view of a Transformer's attention
// (after BertViz, Vig 2019, arXiv:1904.02679), as one offline HTML file.
//
// Input is plain arrays, not Tensors, so any model (or a test) can feed it. The JSON
// follows BertViz's own data format, so notebooks written for BertViz can read it:
// the dictionary that bertviz/neuron_view.py get_attention() returns, passed to the JS
// as params["attention"] (jessevig/bertviz, bertviz/neuron_view.py):
//   {"attention": {"all": {"attn": [L][H][T][T], "left_text": [T], "right_text": [T],
//                          "queries": [L][H][T][D], "keys": [L][H][T][D]},   // optional
//                  "aa": ..., "bb": ..., "ab": ..., "ba": ...},   // sentence pairs only
//    "default_filter": "all", "bidirectional": true, "include_layers": [...], ...}
// bertviz.head_view(attention, tokens) wants the "attn" list per layer as a
// (1, H, T, T) tensor: [torch.tensor(a).unsqueeze(0) for a in d["attention"]["all"]["attn"]].
// Encoder-decoder pages use the keys "encoder", "decoder" and "cross" (BertViz's
// head_view names them "Encoder", "Decoder", "Cross"; cross has left = target tokens,
// right = source tokens). heed's own extras live under "heed".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "heed/viz/html.h"

namespace heed::viz {

// One kind of per-layer tensor; every layer is a dense row-major (heads, rows, cols) array.
struct LayerStack {
  int64_t heads = 0, rows = 0, cols = 0;
  std::vector<std::vector<float>> layers{};
  bool empty() const { return layers.empty(); }
};

struct AttentionPageInput {
  std::string title = "heed attention";
  // Self-attention (encoder-only models).
  std::vector<std::string> tokens;           // T
  std::optional<int64_t> sentence_b_start;   // first token of the second segment, if a pair
  LayerStack attention;                      // (H, T, T) per layer
  LayerStack queries, keys;                  // (H, T, D) per layer, optional: neuron view
  // Encoder-decoder models: source (S) and target (T) tokens.
  std::vector<std::string> src_tokens, tgt_tokens;
  LayerStack encoder_attention;              // (H, S, S) per layer
  LayerStack decoder_attention;              // (H, T, T) per layer
  LayerStack cross_attention;                // (H, T, S) per layer
  // The model layer each stacked layer came from (--layers 4-7); default 0..L-1.
  std::vector<int64_t> layer_ids;
  // Tokens the page can hide (weights renormalised over the rest of each row).
  std::vector<std::string> special_tokens = {"[CLS]", "[SEP]", "[PAD]"};
  std::string model_name;                    // shown in the page header
};

struct AttentionDataOptions {
  // Add BertViz's "aa"/"bb"/"ab"/"ba" slices for sentence pairs. The page derives them
  // itself from "all", so the embedded copy leaves them out; the .json file has them.
  bool pair_slices = true;
};

// The BertViz-shaped data above. Checks every shape against the token counts.
nlohmann::json attention_data(const AttentionPageInput& in, const AttentionDataOptions& opt = {});

// page.html (head, model and neuron views) and page.json (attention_data with slices).
Page attention_page(const AttentionPageInput& in);

// Layers chosen on a command line: "all", "3", "0-3", "0,2,5-7" (zero-based, inclusive
// ranges), sorted and deduplicated. Errors name the spec and the layer count.
std::vector<int64_t> parse_layers(const std::string& spec, int64_t num_layers);

}  // namespace heed::viz
