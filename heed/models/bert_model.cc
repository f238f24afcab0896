#include "heed/models/bert_model.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "heed/ops/ops.h"

namespace heed::models {

namespace {

struct HeadNames {
  BertHead head;
  std::string_view class_name, cli_name;
};

constexpr std::array<HeadNames, 6> kHeads = {{
    {BertHead::Base, "BertModel", "base"},
    {BertHead::PreTraining, "BertForPreTraining", "pretraining"},
    {BertHead::MaskedLM, "BertForMaskedLM", "masked-lm"},
    {BertHead::SequenceClassification, "BertForSequenceClassification", "sequence-classification"},
    {BertHead::TokenClassification, "BertForTokenClassification", "token-classification"},
    {BertHead::QuestionAnswering, "BertForQuestionAnswering", "question-answering"},
}};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string_view bert_class_name(BertHead head) {
  for (const auto& h : kHeads)
    if (h.head == head) return h.class_name;
  return "?";
}

std::optional<BertHead> bert_head_from_class_name(std::string_view name) {
  for (const auto& h : kHeads)
    if (h.class_name == name) return h.head;
  return std::nullopt;
}

std::string_view bert_head_cli_name(BertHead head) {
  for (const auto& h : kHeads)
    if (h.head == head) return h.cli_name;
  return "?";
}

BertHead parse_bert_head(std::string_view cli_name) {
  std::string choices;
  for (const auto& h : kHeads) {
    if (h.cli_name == cli_name) return h.head;
    if (!choices.empty()) choices += '|';
    choices.append(h.cli_name);
  }
  HEED_FAIL("unknown BERT head \"{}\" (expected {})", cli_name, choices);
}

std::vector<std::pair<std::string, Tensor>> BertOutput::named() const {
  std::vector<std::pair<std::string, Tensor>> out;
  auto add = [&](const char* name, const Tensor& t) {
    if (t.defined()) out.emplace_back(name, t);
  };
  add("loss", loss);
  add("last_hidden_state", last_hidden_state);
  add("pooler_output", pooler_output);
  add("prediction_logits", prediction_logits);
  add("seq_relationship_logits", seq_relationship_logits);
  add("logits", logits);
  add("start_logits", start_logits);
  add("end_logits", end_logits);
  for (size_t i = 0; i < hidden_states.size(); ++i)
    out.emplace_back(fmt::format("hidden_states_{:02d}", i), hidden_states[i]);
  for (size_t i = 0; i < attentions.size(); ++i)
    out.emplace_back(fmt::format("attentions_{:02d}", i), attentions[i]);
  return out;
}

void BertPreTrainedModel::init_weights(Generator& gen, const std::vector<std::string>& names) {
  const float std_dev = float(cfg_.initializer_range);
  for (auto& [name, t] : named_parameters()) {
    if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end()) continue;
    if (ends_with(name, "LayerNorm.weight")) {
      t.fill_(1.0f);
    } else if (ends_with(name, "bias")) {
      t.fill_(0.0f);
    } else {
      t.copy_(nn::init::normal(t.shape(), std_dev, gen));
      if (ends_with(name, "word_embeddings.weight") && cfg_.pad_token_id) {
        const int64_t C = t.size(1);
        std::memset(t.data<float>() + *cfg_.pad_token_id * C, 0, size_t(C) * sizeof(float));
      }
    }
  }
}

BertEmbeddings::BertEmbeddings(const BertConfig& cfg, Generator& gen) {
  const int64_t C = cfg.hidden_size;
  const float std_dev = float(cfg.initializer_range);
  word_ = register_module(
      "word_embeddings",
      std::make_shared<nn::Embedding>(
          nn::EmbeddingConfig{.num = cfg.vocab_size, .dim = C,
                              .padding_idx = cfg.pad_token_id.value_or(-1), .init_std = std_dev},
          gen));
  position_ = register_module(
      "position_embeddings",
      std::make_shared<nn::Embedding>(
          nn::EmbeddingConfig{.num = cfg.max_position_embeddings, .dim = C, .init_std = std_dev},
          gen));
  token_type_ = register_module(
      "token_type_embeddings",
      std::make_shared<nn::Embedding>(
          nn::EmbeddingConfig{.num = cfg.type_vocab_size, .dim = C, .init_std = std_dev}, gen));
  norm_ = register_module("LayerNorm",
                          std::make_shared<nn::LayerNorm>(C, float(cfg.layer_norm_eps)));
  drop_ = register_module("", std::make_shared<nn::Dropout>(float(cfg.hidden_dropout_prob)));
}

Tensor BertEmbeddings::forward(const Tensor& input_ids, const Tensor& token_type_ids,
                               const Tensor& position_ids) const {
  // HF's order: (word + token_type) + position.
  Tensor e = ops::add(word_->forward(input_ids), token_type_->forward(token_type_ids));
  e = ops::add(e, position_->forward(position_ids));  // (B, T, C); (1, T, C) broadcasts
  return drop_->forward(norm_->forward(e));
}

BertModel::BertModel(const BertConfig& cfg, Generator& gen, const BertModelOptions& opt)
    : BertPreTrainedModel(cfg) {
  cfg.validate("BertConfig");
  embeddings_ = register_module("embeddings", std::make_shared<BertEmbeddings>(cfg, gen));
  const nn::EncoderLayerConfig lc{.hidden = cfg.hidden_size,
                                  .heads = cfg.num_attention_heads,
                                  .ffn = cfg.intermediate_size,
                                  .activation = nn::parse_activation(cfg.hidden_act),
                                  .hidden_dropout = float(cfg.hidden_dropout_prob),
                                  .attention_dropout = float(cfg.attention_probs_dropout_prob),
                                  .layer_norm_eps = float(cfg.layer_norm_eps),
                                  .norm_first = false};
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i)
    layers_.push_back(register_module("encoder.layer." + std::to_string(i),
                                      std::make_shared<nn::TransformerEncoderLayer>(lc, gen)));
  if (opt.add_pooling_layer)
    pooler_ = register_module(
        "pooler.dense",
        std::make_shared<nn::Linear>(
            nn::LinearConfig{.in = cfg.hidden_size, .out = cfg.hidden_size}, gen));
  if (opt.init_weights) init_weights(gen);
}

namespace {

// The mask the attention op gets for an HF attention_mask (B, S): a u8 key-padding mask,
// or, when a row masks every key, HF's additive (1 - mask) * finfo.min as f32
// (B, 1, 1, S), under which such a row attends uniformly (as in HF) instead of to
// nothing. `empty_rows` lists those rows.
struct AttentionMask {
  Tensor mask;
  std::vector<int64_t> empty_rows;
};

AttentionMask attention_mask_for(const Tensor& attention_mask) {
  AttentionMask r;
  if (!attention_mask.defined()) return r;
  const int64_t B = attention_mask.size(0), S = attention_mask.size(1);
  const std::vector<float> m = attention_mask.to_vector();
  for (int64_t b = 0; b < B; ++b) {
    bool any = false;
    for (int64_t s = 0; s < S; ++s) any |= m[size_t(b * S + s)] != 0.0f;
    if (!any) r.empty_rows.push_back(b);
  }
  if (r.empty_rows.empty()) {
    r.mask = Tensor::empty(Shape{B, S}, DType::U8);
    uint8_t* p = r.mask.data<uint8_t>();
    for (size_t i = 0; i < m.size(); ++i) p[i] = m[i] != 0.0f;
    return r;
  }
  // modeling_utils.get_extended_attention_mask: (1 - mask) * torch.finfo(dtype).min
  r.mask = Tensor::empty(Shape{B, 1, 1, S});
  float* p = r.mask.data<float>();
  for (size_t i = 0; i < m.size(); ++i) p[i] = (1.0f - m[i]) * std::numeric_limits<float>::lowest();
  return r;
}

// HF's probabilities for a row whose keys are all masked are exactly uniform (every
// score becomes finfo.min). The fused kernel's output for such a row is right, but the
// probabilities it returns are rebuilt from a log-sum-exp that rounds log(S) away at
// that magnitude, so set them here (they carry no gradient). The kernel's backward has
// the same rounding: gradients through an all-padding row are not HF's.
Tensor uniform_rows(const Tensor& probs, const std::vector<int64_t>& rows) {
  Tensor p = probs.clone();  // (B, H, T, S)
  const int64_t per_row = p.numel() / p.size(0), S = p.size(3);
  for (int64_t b : rows) std::fill_n(p.data<float>() + b * per_row, per_row, 1.0f / float(S));
  return p;
}

}  // namespace

BertOutput BertModel::forward(const BertInputs& in) const {
  const Tensor& ids = in.input_ids;
  HEED_CHECK(ids.defined() && ids.ndim() == 2 && ids.size(1) > 0,
             "BertModel: input_ids must be (B, T) with T > 0, got {}",
             ids.defined() ? fmt::format("{}", ids.shape()) : "none");
  HEED_CHECK(ids.dtype() == DType::I64 || ids.dtype() == DType::I32,
             "BertModel: input_ids must be i64 or i32, got {}", ids.dtype());
  const int64_t B = ids.size(0), T = ids.size(1);
  HEED_CHECK(T <= cfg_.max_position_embeddings,
             "BertModel: sequence length {} exceeds max_position_embeddings {}", T,
             cfg_.max_position_embeddings);
  for (int64_t id : ids.to_ids())
    HEED_CHECK(id >= 0 && id < cfg_.vocab_size, "BertModel: input id {} is outside [0, {})", id,
               cfg_.vocab_size);
  auto check_bt = [&](const Tensor& t, const char* name) {
    HEED_CHECK(t.shape() == Shape({B, T}), "BertModel: {} {} must be (B, T) = ({}, {}) as input_ids",
               name, t.shape(), B, T);
  };
  Tensor token_type = Tensor::zeros(Shape{B, T}, DType::I64);
  if (in.token_type_ids.defined()) {
    check_bt(in.token_type_ids, "token_type_ids");
    token_type = in.token_type_ids.to(DType::I64);
    for (int64_t t : token_type.to_ids())
      HEED_CHECK(t >= 0 && t < cfg_.type_vocab_size,
                 "BertModel: token_type_id {} is outside [0, type_vocab_size = {})", t,
                 cfg_.type_vocab_size);
  }
  Tensor positions;
  if (in.position_ids.defined()) {
    HEED_CHECK(in.position_ids.ndim() == 2 && in.position_ids.size(1) == T &&
                   (in.position_ids.size(0) == B || in.position_ids.size(0) == 1),
               "BertModel: position_ids {} must be (B, T) or (1, T) with T = {}",
               in.position_ids.shape(), T);
    positions = in.position_ids.to(DType::I64);
    for (int64_t p : positions.to_ids())
      HEED_CHECK(p >= 0 && p < cfg_.max_position_embeddings,
                 "BertModel: position id {} is outside [0, max_position_embeddings = {})", p,
                 cfg_.max_position_embeddings);
  } else {
    positions = ops::reshape(Tensor::arange(T), Shape{1, T});
  }
  if (in.attention_mask.defined()) check_bt(in.attention_mask, "attention_mask");
  const AttentionMask am = attention_mask_for(in.attention_mask);

  BertOutput out;
  Tensor h = embeddings_->forward(ids, token_type, positions);  // (B, T, C)
  if (in.output_hidden_states) out.hidden_states.push_back(h);
  for (const auto& layer : layers_) {
    nn::LayerOutput lo = layer->forward(h, am.mask, in.output_attentions);
    h = lo.hidden;  // (B, T, C)
    if (in.output_hidden_states) out.hidden_states.push_back(h);
    if (in.output_attentions)  // (B, H, T, T)
      out.attentions.push_back(am.empty_rows.empty() ? lo.attn : uniform_rows(lo.attn, am.empty_rows));
  }
  out.last_hidden_state = h;
  if (pooler_) out.pooler_output = ops::tanh(pooler_->forward(ops::select(h, 1, 0)));  // (B, C)
  return out;
}

}  // namespace heed::models
