#include "heed/models/bert_heads.h"

#include <algorithm>

#include "heed/ops/ops.h"

namespace heed::models {

namespace {

bool is_integer(DType t) { return t == DType::I64 || t == DType::I32 || t == DType::U8; }

// torch.nn.MSELoss (mean).
Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  HEED_CHECK(pred.shape() == target.shape(), "mse_loss: prediction {} and labels {} differ in shape",
             pred.shape(), target.shape());
  const Tensor d = ops::sub(pred, target);
  return ops::mean(ops::mul(d, d));
}

// torch.nn.BCEWithLogitsLoss (mean): -(y log s(x) + (1 - y) log s(-x)), with
// log s(x) and log s(-x) taken stably as log_softmax([0, x]).
Tensor bce_with_logits(const Tensor& x, const Tensor& y) {
  HEED_CHECK(x.shape() == y.shape(),
             "multi-label loss: logits {} and labels {} differ in shape (labels must be (B, "
             "num_labels) floats)",
             x.shape(), y.shape());
  const Tensor z = ops::concat({ops::unsqueeze(Tensor::zeros(x.shape()), -1), ops::unsqueeze(x, -1)},
                               -1);                // (..., 2): [0, x]
  const Tensor ls = ops::log_softmax(z, -1);       // [log s(-x), log s(x)]
  const Tensor yf = y.to(DType::F32);
  const Tensor not_y = ops::add_scalar(ops::neg(yf), 1.0f);
  const Tensor ll = ops::add(ops::mul(yf, ops::select(ls, -1, 1)),
                             ops::mul(not_y, ops::select(ls, -1, 0)));
  return ops::neg(ops::mean(ll));
}

Tensor labels_i64(const Tensor& t) { return t.to(DType::I64); }

// BertInputs::sparse_mlm: rows of h (B, T, C) at the positions whose label is not -100,
// as (M, C), and those labels (M). The gather is an embedding lookup over the flattened
// rows, so gradients scatter back to h.
std::pair<Tensor, Tensor> gather_labelled(const Tensor& h, const Tensor& labels) {
  const std::vector<int64_t> lab = labels.to_ids();
  HEED_CHECK(int64_t(lab.size()) == h.size(0) * h.size(1),
             "labels shape {} does not match the hidden states {}", labels.shape(),
             h.shape());
  std::vector<int64_t> rows, kept;
  for (size_t i = 0; i < lab.size(); ++i)
    if (lab[i] != -100) {
      rows.push_back(int64_t(i));
      kept.push_back(lab[i]);
    }
  const int64_t M = int64_t(rows.size());
  HEED_CHECK(M > 0, "sparse MLM loss: no labelled position in the batch (every label is -100)");
  const Tensor flat = ops::reshape(h, Shape{-1, h.size(2)});
  return {ops::embedding(flat, Tensor::from_vector(rows, Shape{M})),
          Tensor::from_vector(kept, Shape{M})};
}

}  // namespace

// ---- cls.predictions ----------------------------------------------------------------

BertLMPredictionHead::BertLMPredictionHead(const BertConfig& cfg, Tensor word_embeddings,
                                           Generator& gen)
    : act_(nn::parse_activation(cfg.hidden_act)), decoder_weight_(std::move(word_embeddings)) {
  const int64_t C = cfg.hidden_size;
  dense_ = register_module("transform.dense",
                           std::make_shared<nn::Linear>(nn::LinearConfig{.in = C, .out = C}, gen));
  norm_ = register_module("transform.LayerNorm",
                          std::make_shared<nn::LayerNorm>(C, float(cfg.layer_norm_eps)));
  bias_ = register_parameter("bias", Tensor::zeros(Shape{cfg.vocab_size}));
}

Tensor BertLMPredictionHead::transform(const Tensor& h) const {
  return norm_->forward(nn::apply_activation(act_, dense_->forward(h)));  // (B, T, C)
}

Tensor BertLMPredictionHead::forward(const Tensor& h) const {
  return ops::linear(transform(h), decoder_weight_, bias_);  // (B, T, V)
}

Tensor BertLMPredictionHead::fused_loss(const Tensor& h, const Tensor& labels) const {
  return ops::linear_cross_entropy(transform(h), decoder_weight_, bias_, labels);
}

namespace {

// The enclosing task model initialises every parameter once, after building the heads.
std::shared_ptr<BertModel> make_base(const BertConfig& cfg, Generator& gen, bool pooler) {
  return std::make_shared<BertModel>(
      cfg, gen, BertModelOptions{.add_pooling_layer = pooler, .init_weights = false});
}

// HF's _tied_weights_keys for the MLM head, with the canonical parameter each aliases.
std::vector<std::pair<std::string, std::string>> mlm_tied() {
  return {{"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"},
          {"cls.predictions.decoder.bias", "cls.predictions.bias"}};
}

}  // namespace

// ---- BertForPreTraining -------------------------------------------------------------

BertForPreTraining::BertForPreTraining(const BertConfig& cfg, Generator& gen)
    : BertPreTrainedModel(cfg) {
  bert_ = register_module("bert", make_base(cfg, gen, true));
  lm_ = register_module("cls.predictions", std::make_shared<BertLMPredictionHead>(
                                               cfg, bert_->embeddings().word_embeddings(), gen));
  nsp_ = register_module("cls.seq_relationship",
                         std::make_shared<nn::Linear>(
                             nn::LinearConfig{.in = cfg.hidden_size, .out = 2}, gen));
  init_weights(gen);
}

std::vector<std::pair<std::string, std::string>> BertForPreTraining::tied_weights() const {
  return mlm_tied();
}

BertOutput BertForPreTraining::forward(const BertInputs& in) const {
  BertOutput base = bert_->forward(in);
  BertOutput out;
  Tensor mlm_labels = in.labels.defined() ? labels_i64(in.labels) : Tensor();
  Tensor h = base.last_hidden_state;
  if (in.sparse_mlm && mlm_labels.defined()) {
    auto [rows, kept] = gather_labelled(h, mlm_labels);
    h = rows;
    mlm_labels = kept;
  }
  const bool fused = in.fused_mlm_loss && mlm_labels.defined() && in.next_sentence_label.defined();
  if (!fused) out.prediction_logits = lm_->forward(h);  // (B, T, V), or (M, V) sparse
  out.seq_relationship_logits = nsp_->forward(base.pooler_output);     // (B, 2)
  if (in.labels.defined() && in.next_sentence_label.defined()) {
    const Tensor mlm = fused ? lm_->fused_loss(h, mlm_labels)
                             : ops::cross_entropy(out.prediction_logits, mlm_labels);
    const Tensor nsp =
        ops::cross_entropy(out.seq_relationship_logits,
                           ops::reshape(labels_i64(in.next_sentence_label), Shape{-1}));
    out.loss = ops::add(mlm, nsp);
  }
  out.hidden_states = std::move(base.hidden_states);
  out.attentions = std::move(base.attentions);
  return out;
}

// ---- BertForMaskedLM ----------------------------------------------------------------

BertForMaskedLM::BertForMaskedLM(const BertConfig& cfg, Generator& gen) : BertPreTrainedModel(cfg) {
  bert_ = register_module("bert", make_base(cfg, gen, false));
  lm_ = register_module("cls.predictions", std::make_shared<BertLMPredictionHead>(
                                               cfg, bert_->embeddings().word_embeddings(), gen));
  init_weights(gen);
}

std::vector<std::pair<std::string, std::string>> BertForMaskedLM::tied_weights() const {
  return mlm_tied();
}

BertOutput BertForMaskedLM::forward(const BertInputs& in) const {
  BertOutput base = bert_->forward(in);
  BertOutput out;
  if (in.sparse_mlm && in.labels.defined()) {
    auto [rows, kept] = gather_labelled(base.last_hidden_state, labels_i64(in.labels));
    if (in.fused_mlm_loss) {
      out.loss = lm_->fused_loss(rows, kept);
    } else {
      out.logits = lm_->forward(rows);  // (M, V)
      out.loss = ops::cross_entropy(out.logits, kept);
    }
  } else if (in.fused_mlm_loss && in.labels.defined()) {
    out.loss = lm_->fused_loss(base.last_hidden_state, labels_i64(in.labels));
  } else {
    out.logits = lm_->forward(base.last_hidden_state);  // (B, T, V)
    if (in.labels.defined()) out.loss = ops::cross_entropy(out.logits, labels_i64(in.labels));
  }
  out.hidden_states = std::move(base.hidden_states);
  out.attentions = std::move(base.attentions);
  return out;
}

// ---- BertForSequenceClassification --------------------------------------------------

BertForSequenceClassification::BertForSequenceClassification(const BertConfig& cfg, Generator& gen)
    : BertPreTrainedModel(cfg) {
  bert_ = register_module("bert", make_base(cfg, gen, true));
  drop_ = register_module("", std::make_shared<nn::Dropout>(cfg.dropout_for_classifier()));
  classifier_ = register_module(
      "classifier", std::make_shared<nn::Linear>(
                        nn::LinearConfig{.in = cfg.hidden_size, .out = cfg.num_labels}, gen));
  init_weights(gen);
}

BertOutput BertForSequenceClassification::forward(const BertInputs& in) const {
  BertOutput base = bert_->forward(in);
  BertOutput out;
  out.logits = classifier_->forward(drop_->forward(base.pooler_output));  // (B, L)
  if (in.labels.defined()) {
    const int64_t L = cfg_.num_labels;
    std::string problem = cfg_.problem_type;
    if (problem.empty())
      problem = L == 1 ? "regression"
                       : is_integer(in.labels.dtype()) ? "single_label_classification"
                                                        : "multi_label_classification";
    if (problem == "regression") {
      const Tensor y = in.labels.to(DType::F32);
      out.loss = L == 1 ? mse_loss(ops::reshape(out.logits, Shape{-1}), ops::reshape(y, Shape{-1}))
                        : mse_loss(out.logits, y);
    } else if (problem == "single_label_classification") {
      out.loss = ops::cross_entropy(ops::reshape(out.logits, Shape{-1, L}),
                                    ops::reshape(labels_i64(in.labels), Shape{-1}));
    } else {
      out.loss = bce_with_logits(out.logits, in.labels);
    }
  }
  out.hidden_states = std::move(base.hidden_states);
  out.attentions = std::move(base.attentions);
  return out;
}

// ---- BertForTokenClassification -----------------------------------------------------

BertForTokenClassification::BertForTokenClassification(const BertConfig& cfg, Generator& gen)
    : BertPreTrainedModel(cfg) {
  bert_ = register_module("bert", make_base(cfg, gen, false));
  drop_ = register_module("", std::make_shared<nn::Dropout>(cfg.dropout_for_classifier()));
  classifier_ = register_module(
      "classifier", std::make_shared<nn::Linear>(
                        nn::LinearConfig{.in = cfg.hidden_size, .out = cfg.num_labels}, gen));
  init_weights(gen);
}

BertOutput BertForTokenClassification::forward(const BertInputs& in) const {
  BertOutput base = bert_->forward(in);
  BertOutput out;
  out.logits = classifier_->forward(drop_->forward(base.last_hidden_state));  // (B, T, L)
  if (in.labels.defined()) {
    const int64_t L = cfg_.num_labels;
    out.loss = ops::cross_entropy(ops::reshape(out.logits, Shape{-1, L}),
                                  ops::reshape(labels_i64(in.labels), Shape{-1}));
  }
  out.hidden_states = std::move(base.hidden_states);
  out.attentions = std::move(base.attentions);
  return out;
}

// ---- BertForQuestionAnswering -------------------------------------------------------

BertForQuestionAnswering::BertForQuestionAnswering(const BertConfig& cfg, Generator& gen)
    : BertPreTrainedModel(cfg) {
  bert_ = register_module("bert", make_base(cfg, gen, false));
  qa_outputs_ = register_module(
      "qa_outputs",
      std::make_shared<nn::Linear>(nn::LinearConfig{.in = cfg.hidden_size, .out = 2}, gen));
  init_weights(gen);
}

BertOutput BertForQuestionAnswering::forward(const BertInputs& in) const {
  BertOutput base = bert_->forward(in);
  BertOutput out;
  const Tensor logits = qa_outputs_->forward(base.last_hidden_state);  // (B, T, 2)
  out.start_logits = ops::contiguous(ops::select(logits, -1, 0));    // (B, T)
  out.end_logits = ops::contiguous(ops::select(logits, -1, 1));      // (B, T)
  if (in.start_positions.defined() && in.end_positions.defined()) {
    // HF: positions outside the sequence are clamped to T, which is ignored.
    const int64_t T = out.start_logits.size(1);
    auto clamped = [&](const Tensor& p) {
      std::vector<int64_t> v = p.to_ids();
      for (auto& x : v) x = std::clamp<int64_t>(x, 0, T);
      return Tensor::from_vector(v, Shape{int64_t(v.size())});
    };
    ops::CrossEntropyOptions ce;
    ce.ignore_index = T;
    const Tensor start = ops::cross_entropy(out.start_logits, clamped(in.start_positions), ce);
    const Tensor end = ops::cross_entropy(out.end_logits, clamped(in.end_positions), ce);
    out.loss = ops::scale(ops::add(start, end), 0.5f);
  }
  out.hidden_states = std::move(base.hidden_states);
  out.attentions = std::move(base.attentions);
  return out;
}

std::unique_ptr<BertPreTrainedModel> make_bert(const BertConfig& cfg, BertHead head,
                                               Generator& gen) {
  switch (head) {
    case BertHead::Base: return std::make_unique<BertModel>(cfg, gen);
    case BertHead::PreTraining: return std::make_unique<BertForPreTraining>(cfg, gen);
    case BertHead::MaskedLM: return std::make_unique<BertForMaskedLM>(cfg, gen);
    case BertHead::SequenceClassification:
      return std::make_unique<BertForSequenceClassification>(cfg, gen);
    case BertHead::TokenClassification: return std::make_unique<BertForTokenClassification>(cfg, gen);
    case BertHead::QuestionAnswering: return std::make_unique<BertForQuestionAnswering>(cfg, gen);
  }
  HEED_FAIL("make_bert: unknown head");
}

}  // namespace heed::models
