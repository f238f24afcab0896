#include "heed/viz/bert_attention.h"

#include <filesystem>
#include <map>

#include "heed/autograd/node.h"
#include "heed/base/error.h"
#include "heed/models/bert_pretrained.h"
#include "heed/tokenizers/bert_tokenizer.h"

namespace heed::viz {

namespace {

// Tensor (1, ...) -> its floats in logical order.
std::vector<float> floats(const Tensor& t) { return t.contiguous().to_vector(); }

// y = x W^T + b for one layer's input x (T, C) and a Linear's weight (C, C), bias (C),
// split by head into (H, T, D): the q or k that BertSelfAttention computes.
std::vector<float> project_heads(const std::vector<float>& x, const std::vector<float>& w,
                                 const std::vector<float>& b, int64_t T, int64_t C, int64_t H) {
  const int64_t D = C / H;
  std::vector<float> out(size_t(H * T * D));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < C; ++o) {
      double acc = b.empty() ? 0.0 : b[size_t(o)];
      const float* xr = x.data() + t * C;
      const float* wr = w.data() + o * C;
      for (int64_t i = 0; i < C; ++i) acc += double(xr[i]) * wr[i];
      const int64_t h = o / D, d = o % D;
      out[size_t((h * T + t) * D + d)] = float(acc);
    }
  return out;
}

}  // namespace

AttentionPageInput bert_attention_input(const BertAttentionOptions& o) {
  HEED_CHECK(!o.text.empty(), "attention: no --text given");
  const std::string tok_dir = o.tokenizer_dir.empty() ? o.model_dir : o.tokenizer_dir;
  const auto tok = tokenizers::BertTokenizer::from_pretrained(tok_dir);
  const tokenizers::EncodeOptions eo{.truncation = tokenizers::Truncation::kLongestFirst,
                                     .max_length = o.max_length};
  const tokenizers::Encoding enc =
      o.text_pair.empty() ? tok.encode(o.text, eo) : tok.encode_pair(o.text, o.text_pair, eo);
  const int64_t T = int64_t(enc.size());

  // The base model is enough for attention; a task checkpoint's head weights are unused.
  auto loaded = models::bert_from_pretrained(
      o.model_dir, {.head = models::BertHead::Base, .load = {.quiet = true}});
  const models::BertModel& bert = loaded.model->bert();
  const auto& cfg = bert.config();
  const int64_t C = cfg.hidden_size, H = cfg.num_attention_heads;
  HEED_CHECK(T <= cfg.max_position_embeddings,
             "attention: {} tokens but the model has {} positions", T, cfg.max_position_embeddings);

  std::vector<int64_t> ids(enc.input_ids.begin(), enc.input_ids.end());
  std::vector<int64_t> types(enc.token_type_ids.begin(), enc.token_type_ids.end());
  models::BertInputs in;
  in.input_ids = Tensor::from_vector(ids, Shape{1, T});
  in.token_type_ids = Tensor::from_vector(types, Shape{1, T});
  in.output_attentions = true;
  in.output_hidden_states = o.queries_and_keys;
  autograd::NoGradGuard no_grad;
  const models::BertOutput out = bert.forward(in);

  AttentionPageInput page;
  page.title = "heed attention: " + std::filesystem::path(o.model_dir).filename().string();
  page.model_name = fmt::format("{} ({} layers, {} heads, hidden {})", o.model_dir,
                                cfg.num_hidden_layers, H, C);
  for (const int32_t id : enc.input_ids) page.tokens.emplace_back(tok.id_to_token(id));
  for (int64_t t = 1; t < T; ++t)
    if (enc.token_type_ids[size_t(t)] == 1) {
      page.sentence_b_start = t;
      break;
    }
  page.layer_ids = parse_layers(o.layers, int64_t(out.attentions.size()));
  page.attention = {.heads = H, .rows = T, .cols = T};
  if (o.queries_and_keys) {
    page.queries = {.heads = H, .rows = T, .cols = C / H};
    page.keys = {.heads = H, .rows = T, .cols = C / H};
  }
  std::map<std::string, Tensor> params;
  for (auto& [name, p] : bert.named_parameters()) params.emplace(name, p);
  auto param = [&](const std::string& name) {
    const auto it = params.find(name);
    HEED_CHECK(it != params.end(), "attention: the model has no parameter {}", name);
    return floats(it->second);
  };
  for (const int64_t l : page.layer_ids) {
    page.attention.layers.push_back(floats(out.attentions[size_t(l)]));  // (1, H, T, T)
    if (!o.queries_and_keys) continue;
    // hidden_states[l] is layer l's input (hidden_states[0] is the embeddings output).
    const std::vector<float> x = floats(out.hidden_states[size_t(l)]);  // (1, T, C)
    const std::string p = fmt::format("encoder.layer.{}.attention.self.", l);
    page.queries.layers.push_back(project_heads(x, param(p + "query.weight"), param(p + "query.bias"), T, C, H));
    page.keys.layers.push_back(project_heads(x, param(p + "key.weight"), param(p + "key.bias"), T, C, H));
  }
  return page;
}

}  // namespace heed::viz
