// BertConfig: Hugging Face's config.json for BERT, with HF's key names and defaults
// (transformers/models/bert/configuration_bert.py and configuration_utils.py).
// Keys heed does not model (use_cache, transformers_version, ...) are kept verbatim:
// to_json() overlays the known fields onto the JSON that was read, so a load -> save
// round trip changes nothing it does not understand.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace heed::models {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";  // gelu | gelu_new | relu (and gelu_pytorch_tanh)
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  std::optional<int64_t> pad_token_id = 0;  // null in config.json: no padding row
  std::string position_embedding_type = "absolute";  // the only one supported
  std::optional<double> classifier_dropout;          // null: use hidden_dropout_prob

  // Task heads (PretrainedConfig). id2label determines num_labels, as in HF.
  int64_t num_labels = 2;
  std::map<int64_t, std::string> id2label;  // empty: LABEL_0 .. LABEL_{num_labels-1}
  std::map<std::string, int64_t> label2id;
  std::string problem_type;  // "" | regression | single_label_classification | multi_label_classification

  std::vector<std::string> architectures;  // e.g. {"BertForMaskedLM"}
  std::string torch_dtype;                 // "float32", "float16", ... ("" = absent)

  // The JSON this config was read from (unknown keys survive a round trip).
  nlohmann::json original = nlohmann::json::object();

  // Parses and validates; `source` (the file path) names every error, with the field.
  static BertConfig from_json(const nlohmann::json& j, const std::string& source = "config.json");
  static BertConfig from_file(const std::string& path);
  // HF's layout: every BERT field, architectures, model_type "bert", id2label/label2id
  // when they differ from the 2-label default, plus the unknown keys of `original`.
  nlohmann::json to_json() const;
  // Sorted keys, indent 2, trailing newline (PretrainedConfig.to_json_file); atomic.
  void save(const std::string& path) const;

  // Throws heed::Error naming `source` and the offending field.
  void validate(const std::string& source = "config.json") const;

  float dropout_for_classifier() const {
    return float(classifier_dropout.value_or(hidden_dropout_prob));
  }
  std::string label_name(int64_t id) const;  // id2label or "LABEL_<id>"
};

}  // namespace heed::models
