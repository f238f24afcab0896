// Shared fixtures of the peft tests: the committed BERT classifier
// (tests/golden/bert/seqcls) as a base model, and the inputs its goldens were made with.
#pragma once

#include <memory>

#include "heed/io/safetensors.h"
#include "heed/models/bert_pretrained.h"
#include "tests/test_util.h"

namespace heed::testing {

inline const io::SafetensorsFile& bert_goldens() {
  static const io::SafetensorsFile f = io::load_safetensors(golden_path("bert/goldens.safetensors"));
  return f;
}

// The batch of tests/golden/bert/goldens.safetensors (padded, two segments).
inline models::BertInputs bert_inputs() {
  const io::SafetensorsFile& b = bert_goldens();
  models::BertInputs in;
  in.input_ids = b.at("input_ids");
  in.attention_mask = b.at("attention_mask");
  in.token_type_ids = b.at("token_type_ids");
  return in;
}

// A fresh copy of the reference BertForSequenceClassification, quietly loaded.
inline std::shared_ptr<models::BertPreTrainedModel> seqcls_base_model() {
  models::BertFromPretrainedOptions o;
  o.head = models::BertHead::SequenceClassification;
  o.load.quiet = true;
  return std::shared_ptr<models::BertPreTrainedModel>(
      models::bert_from_pretrained(golden_path("bert/seqcls"), o).model);
}

}  // namespace heed::testing
