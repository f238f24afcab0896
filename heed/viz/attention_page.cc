#include "heed/viz/attention_page.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "heed/base/error.h"
#include "heed/viz/assets.h"

namespace heed::viz {

namespace {

using nlohmann::json;

// Attention weights to 1e-6 and query/key components to 1e-4: below what a page can
// show, and it keeps a BERT-base page a few MB instead of tens.
constexpr int kWeightDecimals = 6;
constexpr int kVectorDecimals = 4;

void check_stack(const LayerStack& s, const char* what, int64_t rows, int64_t cols) {
  HEED_CHECK(s.heads > 0, "attention_page: {} has {} heads", what, s.heads);
  HEED_CHECK(s.rows == rows && (cols < 0 || s.cols == cols),
             "attention_page: {} is ({}, {}, {}) per layer but the tokens give ({}, {})", what,
             s.heads, s.rows, s.cols, rows, cols);
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const auto& a = s.layers[l];
    HEED_CHECK(int64_t(a.size()) == s.heads * s.rows * s.cols,
               "attention_page: {} layer {} holds {} floats, expected H*R*C = {}*{}*{}", what, l,
               a.size(), s.heads, s.rows, s.cols);
    for (size_t i = 0; i < a.size(); ++i)
      HEED_CHECK(std::isfinite(a[i]), "attention_page: {} layer {} has a non-finite value at {}",
                 what, l, i);
  }
}

// [L][H][rows r0..r1)[cols c0..c1) as nested arrays (the slice BertViz takes with
// attn[:, :, slice_a, slice_b]).
json stack_json(const LayerStack& s, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                int decimals) {
  json out = json::array();
  for (const auto& a : s.layers) {
    json layer = json::array();
    for (int64_t h = 0; h < s.heads; ++h) {
      json head = json::array();
      for (int64_t r = r0; r < r1; ++r) {
        json row = json::array();
        const float* p = a.data() + (h * s.rows + r) * s.cols;
        for (int64_t c = c0; c < c1; ++c) row.push_back(round_to(p[c], decimals));
        head.push_back(std::move(row));
      }
      layer.push_back(std::move(head));
    }
    out.push_back(std::move(layer));
  }
  return out;
}

json whole(const LayerStack& s, int decimals) {
  return stack_json(s, 0, s.rows, 0, s.cols, decimals);
}

std::vector<std::string> sub(const std::vector<std::string>& v, int64_t a, int64_t b) {
  return {v.begin() + a, v.begin() + b};
}

std::vector<int64_t> layer_ids_for(const AttentionPageInput& in, size_t num_layers) {
  if (in.layer_ids.empty()) {
    std::vector<int64_t> ids(num_layers);
    std::iota(ids.begin(), ids.end(), 0);
    return ids;
  }
  HEED_CHECK(in.layer_ids.size() == num_layers,
             "attention_page: {} layer ids for {} layers of attention", in.layer_ids.size(),
             num_layers);
  return in.layer_ids;
}

json self_attention(const AttentionPageInput& in, const AttentionDataOptions& opt, json& filters) {
  const int64_t T = int64_t(in.tokens.size());
  HEED_CHECK(T > 0, "attention_page: no tokens");
  HEED_CHECK(!in.attention.empty(), "attention_page: no attention layers");
  check_stack(in.attention, "attention", T, T);
  const bool qk = !in.queries.empty() || !in.keys.empty();
  if (qk) {
    check_stack(in.queries, "queries", T, -1);
    check_stack(in.keys, "keys", T, in.queries.cols);
    HEED_CHECK(in.queries.heads == in.attention.heads && in.keys.heads == in.attention.heads &&
                   in.queries.layers.size() == in.attention.layers.size() &&
                   in.keys.layers.size() == in.attention.layers.size(),
               "attention_page: queries/keys have {}/{} heads and {}/{} layers, attention {} and {}",
               in.queries.heads, in.keys.heads, in.queries.layers.size(), in.keys.layers.size(),
               in.attention.heads, in.attention.layers.size());
  }
  auto entry = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    json e = {{"attn", stack_json(in.attention, r0, r1, c0, c1, kWeightDecimals)},
              {"left_text", sub(in.tokens, r0, r1)},
              {"right_text", sub(in.tokens, c0, c1)}};
    if (qk) {
      e["queries"] = stack_json(in.queries, r0, r1, 0, in.queries.cols, kVectorDecimals);
      e["keys"] = stack_json(in.keys, c0, c1, 0, in.keys.cols, kVectorDecimals);
    }
    return e;
  };
  json att;
  att["all"] = entry(0, T, 0, T);
  filters.push_back({{"key", "all"}, {"name", "All"}});
  if (in.sentence_b_start) {
    const int64_t b = *in.sentence_b_start;
    HEED_CHECK(b > 0 && b < T, "attention_page: sentence_b_start {} is outside (0, {})", b, T);
    // Same keys and names as bertviz/neuron_view.py: source (left) -> target (right).
    const struct { const char* key; const char* name; int64_t r0, r1, c0, c1; } slices[] = {
        {"aa", "Sentence A -> Sentence A", 0, b, 0, b},
        {"bb", "Sentence B -> Sentence B", b, T, b, T},
        {"ab", "Sentence A -> Sentence B", 0, b, b, T},
        {"ba", "Sentence B -> Sentence A", b, T, 0, b}};
    for (const auto& s : slices) {
      filters.push_back({{"key", s.key}, {"name", s.name}, {"rows", {s.r0, s.r1}}, {"cols", {s.c0, s.c1}}});
      if (opt.pair_slices) att[s.key] = entry(s.r0, s.r1, s.c0, s.c1);
    }
  }
  return att;
}

json encoder_decoder(const AttentionPageInput& in, json& filters) {
  json att;
  auto add = [&](const char* key, const char* name, const LayerStack& s,
                 const std::vector<std::string>& left, const std::vector<std::string>& right) {
    if (s.empty()) return;
    HEED_CHECK(!left.empty() && !right.empty(), "attention_page: {} attention needs {} tokens",
               key, left.empty() ? "its query" : "its key");
    check_stack(s, key, int64_t(left.size()), int64_t(right.size()));
    att[key] = {{"attn", whole(s, kWeightDecimals)}, {"left_text", left}, {"right_text", right},
                {"layer_ids", layer_ids_for(in, s.layers.size())}};
    filters.push_back({{"key", key}, {"name", name}});
  };
  add("encoder", "Encoder", in.encoder_attention, in.src_tokens, in.src_tokens);
  add("decoder", "Decoder", in.decoder_attention, in.tgt_tokens, in.tgt_tokens);
  add("cross", "Cross", in.cross_attention, in.tgt_tokens, in.src_tokens);
  return att;
}

}  // namespace

json attention_data(const AttentionPageInput& in, const AttentionDataOptions& opt) {
  const bool self = !in.attention.empty() || !in.tokens.empty();
  const bool encdec = !in.encoder_attention.empty() || !in.decoder_attention.empty() ||
                      !in.cross_attention.empty();
  HEED_CHECK(self != encdec,
             "attention_page: give either self-attention (tokens + attention) or "
             "encoder/decoder/cross attention, {}", self ? "not both" : "found neither");
  json filters = json::array();
  json att = self ? self_attention(in, opt, filters) : encoder_decoder(in, filters);
  const std::string first = filters[0]["key"];
  const size_t num_layers = att[first]["attn"].size();
  json data = {
      {"attention", std::move(att)},
      {"default_filter", first},
      {"bidirectional", true},
      {"display_mode", "light"},
      {"layer", nullptr},
      {"heads", nullptr},
      {"include_layers", layer_ids_for(in, num_layers)},
  };
  data["heed"] = {{"title", in.title},
                  {"model", in.model_name},
                  {"filters", std::move(filters)},
                  {"special_tokens", in.special_tokens},
                  {"sentence_b_start", in.sentence_b_start ? json(*in.sentence_b_start) : json()},
                  {"format", "bertviz neuron_view params (bertviz/neuron_view.py get_attention)"}};
  return data;
}

std::vector<int64_t> parse_layers(const std::string& spec, int64_t num_layers) {
  std::vector<int64_t> out;
  if (spec.empty() || spec == "all") {
    for (int64_t l = 0; l < num_layers; ++l) out.push_back(l);
    return out;
  }
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string part = spec.substr(pos, comma - pos);
    const size_t dash = part.find('-');
    int64_t a = -1, b = -1;
    try {
      size_t used = 0;
      a = std::stoll(part.substr(0, dash), &used);
      HEED_CHECK(used == (dash == std::string::npos ? part.size() : dash), "");
      b = a;
      if (dash != std::string::npos) {
        b = std::stoll(part.substr(dash + 1), &used);
        HEED_CHECK(used == part.size() - dash - 1, "");
      }
    } catch (const std::exception&) {
      HEED_FAIL("layers '{}': '{}' is not a layer or a range like 0-3", spec, part);
    }
    HEED_CHECK(0 <= a && a <= b && b < num_layers,
               "layers '{}': '{}' is outside the model's layers 0-{}", spec, part, num_layers - 1);
    for (int64_t l = a; l <= b; ++l) out.push_back(l);
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Page attention_page(const AttentionPageInput& in) {
  Page page;
  page.json = attention_data(in, {.pair_slices = true}).dump() + "\n";
  page.html = html_page(in.title, attention_data(in, {.pair_slices = false}), assets::kAttentionJs);
  return page;
}

}  // namespace heed::viz
