// from_pretrained / save_pretrained for BERT: a Hugging Face model directory
// (config.json + model.safetensors or pytorch_model.bin, possibly sharded) in, the same
// layout out.
//
//   auto r = models::bert_from_pretrained("bert-base-uncased/",
//                                         {.head = models::BertHead::SequenceClassification,
//                                          .num_labels = 3});
//   // stderr: "Some weights of BertForSequenceClassification were not initialized ..."
//   models::bert_save_pretrained(*r.model, "out/");
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "heed/models/bert_heads.h"
#include "heed/models/pretrained.h"

namespace heed::models {

struct BertFromPretrainedOptions {
  // Which class to build; default: config.json's architectures[0] when it names a BERT
  // class, else BertModel.
  std::optional<BertHead> head{};
  // Overrides config.json (as from_pretrained(..., num_labels=3)); resets id2label when
  // its size differs.
  std::optional<int64_t> num_labels{};
  LoadOptions load{};
  uint64_t seed = 0;  // for the newly initialised weights
};

struct BertLoadResult {
  std::unique_ptr<BertPreTrainedModel> model;  // in eval mode, as HF returns it
  LoadReport report;
};

BertLoadResult bert_from_pretrained(const std::string& dir,
                                    const BertFromPretrainedOptions& options = {});

// The loader's view of a BERT class (prefix "bert", tied decoder, ignored buffers).
PretrainedSpec bert_pretrained_spec(const BertPreTrainedModel& model, const std::string& config_path);

// Writes dir/config.json (architectures = [class name], model_type "bert", torch_dtype
// "float32", unknown keys of the loaded config kept) and dir/model.safetensors (tied
// decoder omitted, metadata {"format": "pt"}), each atomically.
void bert_save_pretrained(const BertPreTrainedModel& model, const std::string& dir);

}  // namespace heed::models
