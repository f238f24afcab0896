// BERT (Devlin et al. 2019) as Hugging Face's transformers implements it
// (transformers/models/bert/modeling_bert.py): the base BertModel and the interface
// shared by every BERT class. Parameter names are HF's checkpoint keys:
//   embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm.*,
//   encoder.layer.N.attention.self.query.weight, ..., pooler.dense.*
// and, inside a task model, the same under "bert." (HF's base_model_prefix).
//
//   h = LN(word[ids] + position[arange(T)] + token_type[tt])        (B, T, C)
//   h = post-LN TransformerEncoderLayer(h, key padding mask)  x L
//   pooled = tanh(dense(h[:, 0]))                                     (B, C)
//
// Padding is HF's: padded keys get (1 - mask) * finfo.min added to the scores; padded
// query rows are still computed and returned. A sequence whose mask is all zeros
// attends uniformly, as in HF (forward and attentions); its gradients are not HF's.
// Returned attentions are the probabilities before attention dropout (HF returns them
// after dropout; the two agree in eval mode).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "heed/models/bert_config.h"
#include "heed/nn/nn.h"

namespace heed::models {

// One struct for every head's forward, as HF's keyword arguments.
// Every field has a default member initializer so designated initializers may skip any.
struct BertInputs {
  Tensor input_ids{};       // (B, T) i64 or i32
  Tensor attention_mask{};  // (B, T), 1 = attend, 0 = padding; default all ones
  Tensor token_type_ids{};  // (B, T); default zeros
  Tensor position_ids{};    // (B, T) or (1, T); default arange(T)
  // Labels: the head's loss is computed when they are given.
  Tensor labels{};               // MLM (B, T) (-100 = ignore); sequence (B,) or (B, L); token (B, T)
  Tensor next_sentence_label{};  // (B,) pretraining: 0 = B follows A, 1 = random
  Tensor start_positions{}, end_positions{};  // (B,) question answering
  // MLM heads (BertForPreTraining, BertForMaskedLM) with labels: run the LM head only on
  // the labelled positions (gathered first), as NVIDIA's and Megatron's BERT pretraining
  // do. The loss is the same (the mean CE over labelled tokens); the head's (V x C) GEMM
  // shrinks by the masking rate (~15%). The MLM logits output is then (M, V) over the
  // M labelled positions in row-major order, instead of (B, T, V).
  bool sparse_mlm = false;
  // MLM heads with labels: compute the loss with ops::linear_cross_entropy, which never
  // holds the full logits (for b32 x s128 over 30,522 tokens, 500 MB of logits and 500 MB
  // of their gradient become ~32 MB). The loss and gradients are the same; the MLM logits
  // output (logits / prediction_logits) is then left undefined. Composes with sparse_mlm.
  bool fused_mlm_loss = false;
  bool output_hidden_states = false;
  bool output_attentions = false;
};

// HF's ModelOutput fields; each head fills its own and leaves the rest undefined.
struct BertOutput {
  Tensor loss;                        // () when labels were given
  Tensor last_hidden_state;           // (B, T, C)  BertModel
  Tensor pooler_output;               // (B, C)     BertModel with its pooler
  Tensor prediction_logits;           // (B, T, V)  BertForPreTraining
  Tensor seq_relationship_logits;     // (B, 2)     BertForPreTraining
  Tensor logits;                      // MLM (B, T, V); sequence (B, L); token (B, T, L)
  Tensor start_logits, end_logits;    // (B, T)     question answering
  std::vector<Tensor> hidden_states;  // L + 1 of (B, T, C): embeddings, then each layer
  std::vector<Tensor> attentions;     // L of (B, H, T, T), softmax probabilities

  // Defined outputs under HF's names; hidden_states_NN / attentions_NN are numbered
  // from 00 (hidden_states_00 is the embeddings output).
  std::vector<std::pair<std::string, Tensor>> named() const;
};

enum class BertHead {
  Base,                    // BertModel
  PreTraining,             // BertForPreTraining
  MaskedLM,                // BertForMaskedLM
  SequenceClassification,  // BertForSequenceClassification
  TokenClassification,     // BertForTokenClassification
  QuestionAnswering,       // BertForQuestionAnswering
};

std::string_view bert_class_name(BertHead head);  // "BertForMaskedLM", ...
std::optional<BertHead> bert_head_from_class_name(std::string_view name);
std::string_view bert_head_cli_name(BertHead head);  // "masked-lm", ...
// "base" | "pretraining" | "masked-lm" | "sequence-classification" |
// "token-classification" | "question-answering"; errors list the choices.
BertHead parse_bert_head(std::string_view cli_name);

class BertModel;

// What HF's BertPreTrainedModel provides: config, init, and the class attributes the
// checkpoint loader needs (base_model_prefix, tied weights, keys to ignore).
class BertPreTrainedModel : public nn::Module {
 public:
  explicit BertPreTrainedModel(const BertConfig& cfg) : cfg_(cfg) {}
  const BertConfig& config() const { return cfg_; }
  BertConfig& mutable_config() { return cfg_; }

  virtual BertHead head() const = 0;
  std::string_view class_name() const { return bert_class_name(head()); }
  virtual BertOutput forward(const BertInputs& in) const = 0;
  virtual const BertModel& bert() const = 0;

  // HF's base_model_prefix: the base model's parameters live under "bert." in a task model.
  static constexpr const char* kBaseModelPrefix = "bert";
  // Checkpoint keys that alias one of our parameters (HF ties them): {alias, canonical}.
  virtual std::vector<std::pair<std::string, std::string>> tied_weights() const { return {}; }
  // HF's _keys_to_ignore_on_load_unexpected (substrings): not reported when unexpected.
  virtual std::vector<std::string> keys_to_ignore_on_load_unexpected() const { return {}; }

  // HF's _init_weights: Linear and Embedding weights N(0, initializer_range) (the padding
  // row zero), biases 0, LayerNorm weight 1. Only the named parameters when `names` is
  // given (e.g. the ones a checkpoint lacked).
  void init_weights(Generator& gen, const std::vector<std::string>& names = {});

 protected:
  BertConfig cfg_;
};

// word + position + token_type embeddings, LayerNorm, dropout.
class BertEmbeddings : public nn::Module {
 public:
  BertEmbeddings(const BertConfig& cfg, Generator& init_gen);
  // ids, token_type_ids (B, T); position_ids (B, T) or (1, T). -> (B, T, C)
  Tensor forward(const Tensor& input_ids, const Tensor& token_type_ids,
                 const Tensor& position_ids) const;
  const Tensor& word_embeddings() const { return word_->weight(); }

 private:
  std::shared_ptr<nn::Embedding> word_, position_, token_type_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Dropout> drop_;
};

struct BertModelOptions {
  bool add_pooling_layer = true;  // false in HF's MLM, token-classification and QA models
  bool init_weights = true;       // false when an enclosing task model initialises all
};

class BertModel : public BertPreTrainedModel {
 public:
  BertModel(const BertConfig& cfg, Generator& init_gen, const BertModelOptions& opt = {});
  BertHead head() const override { return BertHead::Base; }
  // Fills last_hidden_state, pooler_output (with a pooler), hidden_states, attentions.
  BertOutput forward(const BertInputs& in) const override;
  const BertModel& bert() const override { return *this; }

  const BertEmbeddings& embeddings() const { return *embeddings_; }
  bool has_pooler() const { return pooler_ != nullptr; }

 private:
  std::shared_ptr<BertEmbeddings> embeddings_;
  std::vector<std::shared_ptr<nn::TransformerEncoderLayer>> layers_;
  std::shared_ptr<nn::Linear> pooler_;
};

}  // namespace heed::models
