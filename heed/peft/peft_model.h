// PeftModel: a BERT model with one or more parameter-efficient adapters, as Hugging Face
// PEFT's PeftModel: adapters are added fresh (training) or loaded from a PEFT-format
// directory, one is active at a time and can be switched per request, and only the
// active adapter's tensors (plus its modules_to_save, such as the classifier head) are
// trainable: the base weights are frozen, so they get no gradient buffers and no
// optimizer state.
//
//   auto base = models::bert_from_pretrained("bert-mini", {.head = BertHead::SequenceClassification,
//                                                         .num_labels = 2}).model;
//   peft::PeftModel pm(std::move(base));
//   pm.add_adapter("default", peft::PeftConfig::make(PeftType::Lora, {{"r", 8}}), seed);
//   ... train pm (a Module) with train::Trainer; the loss from pm.forward(inputs) ...
//   pm.save_adapter("out/");  // adapter_config.json + adapter_model.safetensors
//
// In memory, parameter names are PEFT's with the adapter name
// ("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight");
// the saved keys drop it, as PEFT's get_peft_model_state_dict does. The head of a task
// model is always in modules_to_save and always saved with the adapter (PEFT issues
// #310, #577, #876 are heads that were not).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "heed/models/bert_model.h"
#include "heed/peft/peft_config.h"
#include "heed/train/trainer.h"

namespace heed::peft {

class RankAllocator;

class PeftModel : public nn::Module {
 public:
  explicit PeftModel(std::shared_ptr<models::BertPreTrainedModel> base);
  ~PeftModel() override;

  // A new adapter, initialised as PEFT does (training starts at the base model's
  // function), made active. `cfg` is completed for the model (complete_for).
  void add_adapter(const std::string& name, PeftConfig cfg, uint64_t seed);
  // An adapter directory in PEFT's layout, made active. Errors name the file and key of
  // anything missing, unexpected or of the wrong shape.
  void load_adapter(const std::string& dir, const std::string& name = "default");
  // Makes `name` the active adapter (hooks, head weights, trainable flags).
  void set_adapter(const std::string& name);
  const std::string& active_adapter() const { return active_; }
  std::vector<std::string> adapter_names() const;
  const PeftConfig& adapter_config(const std::string& name = "") const;

  models::BertPreTrainedModel& base() { return *base_; }
  const models::BertPreTrainedModel& base() const { return *base_; }
  // The base model's forward through the active adapter. With prefix tuning the
  // attention mask covers the prefix and, unless position_ids are given, positions start
  // at num_virtual_tokens, as HF's BERT does with past_key_values.
  models::BertOutput forward(const models::BertInputs& in) const;

  // AdaLoRA's orthogonal regulariser, orth_reg_weight * mean over lora_A and lora_B of
  // ||P P^T - I||_F (PEFT adds it to the loss in training); undefined for other types.
  Tensor regularization_loss() const;
  // AdaLoRA's rank allocation for the active adapter (hand it to Trainer::set_step_hook);
  // null for other types.
  train::StepHook* step_hook();
  // AdaLoRA: the kept ranks per adapted module (module name -> rank), for inspection.
  std::map<std::string, int64_t> adalora_ranks() const;

  int64_t num_trainable_parameters() const;
  int64_t num_total_parameters() const;  // base + every adapter

  // The tensors PEFT saves for an adapter, under PEFT's saved keys, in a stable order.
  std::vector<std::pair<std::string, Tensor>> adapter_state_dict(const std::string& name = "") const;
  // adapter_config.json (inference_mode true) and adapter_model.safetensors, each
  // written atomically.
  void save_adapter(const std::string& dir, const std::string& name = "",
                    const std::string& base_model_name_or_path = "") const;

  // LoRA, AdaLoRA and IA3 fold into the base weights: merge() adds the active adapter's
  // change to the weights and removes its hooks (outputs are unchanged); unmerge()
  // restores the saved original weights exactly (bit for bit). Other types cannot merge.
  void merge();
  void unmerge();
  bool merged() const { return merged_; }

 private:
  struct Adapter;
  Adapter& adapter(const std::string& name);
  const Adapter& adapter(const std::string& name) const;
  void build_units(Adapter& a, uint64_t seed, const std::map<std::string, Tensor>* saved,
                   const std::string& where);
  void install(Adapter& a);
  void uninstall();
  void set_trainable(Adapter& a);

  std::shared_ptr<models::BertPreTrainedModel> base_;
  std::map<std::string, std::unique_ptr<Adapter>> adapters_;
  std::string active_;
  bool merged_ = false;
  std::vector<std::pair<Tensor, Tensor>> merge_backup_;  // (live weight, original copy)
};

// The base model for an adapter directory: BERT with the head its task_type needs
// (SEQ_CLS -> sequence classification with as many labels as the saved classifier,
// TOKEN_CLS, QUESTION_ANS, else BertModel), loaded from base_dir, with the adapter
// loaded on top and active. Eval mode.
std::unique_ptr<PeftModel> peft_from_pretrained(const std::string& base_dir,
                                                const std::string& adapter_dir,
                                                const std::string& adapter_name = "default");

}  // namespace heed::peft
