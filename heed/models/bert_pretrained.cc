#include "heed/models/bert_pretrained.h"

#include <filesystem>

namespace heed::models {

namespace fs = std::filesystem;

PretrainedSpec bert_pretrained_spec(const BertPreTrainedModel& model,
                                    const std::string& config_path) {
  PretrainedSpec spec;
  spec.class_name = std::string(model.class_name());
  spec.base_model_prefix = BertPreTrainedModel::kBaseModelPrefix;
  spec.is_base_model = model.head() == BertHead::Base;
  spec.tied = model.tied_weights();
  spec.ignore_unexpected = model.keys_to_ignore_on_load_unexpected();
  // BertEmbeddings' buffers (persistent before transformers 4.31, so in older files).
  spec.ignore_unexpected.push_back("embeddings.position_ids");
  spec.ignore_unexpected.push_back("embeddings.token_type_ids");
  spec.architectures = model.config().architectures;
  spec.config_path = config_path;
  return spec;
}

BertLoadResult bert_from_pretrained(const std::string& dir, const BertFromPretrainedOptions& opt) {
  HEED_CHECK(fs::is_directory(dir), "{}: not a model directory (does not exist or is not a folder)",
             dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  HEED_CHECK(fs::is_regular_file(config_path), "{}: no config.json in the model directory", dir);
  BertConfig cfg = BertConfig::from_file(config_path);
  if (opt.num_labels && *opt.num_labels != cfg.num_labels) {
    cfg.num_labels = *opt.num_labels;
    cfg.id2label.clear();
    cfg.label2id.clear();
    cfg.validate(config_path + " (with num_labels overridden)");
  }
  BertHead head = BertHead::Base;
  if (opt.head) {
    head = *opt.head;
  } else if (!cfg.architectures.empty()) {
    head = bert_head_from_class_name(cfg.architectures.front()).value_or(BertHead::Base);
  }
  Generator gen(opt.seed);
  BertLoadResult r;
  r.model = make_bert(cfg, head, gen);
  BertPreTrainedModel& m = *r.model;
  r.report = load_pretrained_weights(m, dir, bert_pretrained_spec(m, config_path), opt.load,
                                     [](const std::vector<std::string>&) {
                                       // Nothing to do: make_bert initialised every weight
                                       // as HF's _init_weights (seeded by opt.seed).
                                     });
  m.eval();
  return r;
}

void bert_save_pretrained(const BertPreTrainedModel& model, const std::string& dir) {
  BertConfig cfg = model.config();
  cfg.architectures = {std::string(model.class_name())};
  cfg.torch_dtype = "float32";
  fs::create_directories(dir);
  save_pretrained_weights(model, dir);
  cfg.save((fs::path(dir) / "config.json").string());
}

}  // namespace heed::models
