// BERT task models, named and computed as Hugging Face's (modeling_bert.py):
//   BertForPreTraining              bert + cls.predictions (MLM) + cls.seq_relationship (NSP)
//   BertForMaskedLM                 bert (no pooler) + cls.predictions
//   BertForSequenceClassification   bert + dropout + classifier on the pooled output
//   BertForTokenClassification      bert (no pooler) + dropout + classifier on every token
//   BertForQuestionAnswering        bert (no pooler) + qa_outputs -> start/end logits
// The MLM decoder is tied: its weight IS the word-embedding tensor (one handle, one
// parameter, gradients from both uses accumulate), and its bias is cls.predictions.bias.
// Neither alias appears in named_parameters()/state_dict(); tied_weights() lists them
// for the checkpoint loader (HF's _tied_weights_keys). As transformers >= 4.31, the
// models without a pooler report a checkpoint's pooler weights as unused (older
// versions listed "pooler" in _keys_to_ignore_on_load_unexpected).
#pragma once

#include <memory>

#include "heed/models/bert_model.h"

namespace heed::models {

// cls.predictions: transform.dense -> act -> transform.LayerNorm -> decoder (tied) + bias.
class BertLMPredictionHead : public nn::Module {
 public:
  BertLMPredictionHead(const BertConfig& cfg, Tensor word_embeddings, Generator& init_gen);
  Tensor forward(const Tensor& h) const;  // (B, T, C) -> (B, T, V)
  // Mean CE of the logits against labels (-100 = ignore) without materialising the
  // logits (ops::linear_cross_entropy).
  Tensor fused_loss(const Tensor& h, const Tensor& labels) const;
  const Tensor& decoder_weight() const { return decoder_weight_; }

 private:
  Tensor transform(const Tensor& h) const;  // dense -> act -> LayerNorm
  std::shared_ptr<nn::Linear> dense_;
  std::shared_ptr<nn::LayerNorm> norm_;
  nn::Activation act_;
  Tensor decoder_weight_;  // the word embeddings (V, C), not registered here
  Tensor bias_;            // (V)
};

class BertForPreTraining : public BertPreTrainedModel {
 public:
  BertForPreTraining(const BertConfig& cfg, Generator& init_gen);
  BertHead head() const override { return BertHead::PreTraining; }
  // prediction_logits, seq_relationship_logits; loss = MLM CE + NSP CE when both
  // labels and next_sentence_label are given.
  BertOutput forward(const BertInputs& in) const override;
  const BertModel& bert() const override { return *bert_; }
  std::vector<std::pair<std::string, std::string>> tied_weights() const override;
  const BertLMPredictionHead& cls_predictions() const { return *lm_; }

 private:
  std::shared_ptr<BertModel> bert_;
  std::shared_ptr<BertLMPredictionHead> lm_;
  std::shared_ptr<nn::Linear> nsp_;
};

class BertForMaskedLM : public BertPreTrainedModel {
 public:
  BertForMaskedLM(const BertConfig& cfg, Generator& init_gen);
  BertHead head() const override { return BertHead::MaskedLM; }
  BertOutput forward(const BertInputs& in) const override;  // logits (B, T, V)
  const BertModel& bert() const override { return *bert_; }
  std::vector<std::pair<std::string, std::string>> tied_weights() const override;
  const BertLMPredictionHead& cls_predictions() const { return *lm_; }

 private:
  std::shared_ptr<BertModel> bert_;
  std::shared_ptr<BertLMPredictionHead> lm_;
};

// Loss by problem_type (config, else inferred as HF: num_labels == 1 -> regression (MSE);
// integer labels -> single_label_classification (CE); float labels ->
// multi_label_classification (BCE with logits)).
class BertForSequenceClassification : public BertPreTrainedModel {
 public:
  BertForSequenceClassification(const BertConfig& cfg, Generator& init_gen);
  BertHead head() const override { return BertHead::SequenceClassification; }
  BertOutput forward(const BertInputs& in) const override;  // logits (B, num_labels)
  const BertModel& bert() const override { return *bert_; }

 private:
  std::shared_ptr<BertModel> bert_;
  std::shared_ptr<nn::Dropout> drop_;
  std::shared_ptr<nn::Linear> classifier_;
};

class BertForTokenClassification : public BertPreTrainedModel {
 public:
  BertForTokenClassification(const BertConfig& cfg, Generator& init_gen);
  BertHead head() const override { return BertHead::TokenClassification; }
  BertOutput forward(const BertInputs& in) const override;  // logits (B, T, num_labels)
  const BertModel& bert() const override { return *bert_; }

 private:
  std::shared_ptr<BertModel> bert_;
  std::shared_ptr<nn::Dropout> drop_;
  std::shared_ptr<nn::Linear> classifier_;
};

// loss = (CE(start) + CE(end)) / 2 with positions clamped to [0, T] and T ignored.
class BertForQuestionAnswering : public BertPreTrainedModel {
 public:
  BertForQuestionAnswering(const BertConfig& cfg, Generator& init_gen);
  BertHead head() const override { return BertHead::QuestionAnswering; }
  BertOutput forward(const BertInputs& in) const override;  // start/end logits (B, T)
  const BertModel& bert() const override { return *bert_; }

 private:
  std::shared_ptr<BertModel> bert_;
  std::shared_ptr<nn::Linear> qa_outputs_;
};

// Any BERT class, initialised as HF's _init_weights.
std::unique_ptr<BertPreTrainedModel> make_bert(const BertConfig& cfg, BertHead head,
                                               Generator& init_gen);

}  // namespace heed::models
