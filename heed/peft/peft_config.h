// PeftConfig: an adapter_config.json as Hugging Face PEFT writes and reads it.
//
// Every field is kept under PEFT's name in `fields` (PEFT's defaults for the type, then
// the file's or the user's values, unknown fields preserved), so a config round-trips
// and heed writes exactly the fields PEFT writes. The typed members below are parsed
// from `fields` and validated; errors name the file and field.
//
// Types: LORA, ADALORA, IA3, PREFIX_TUNING (PEFT's names) and BOTTLENECK, heed's
// extension for Houlsby/Pfeiffer bottleneck adapters, which PEFT does not have; it is
// written in the same layout (docs/peft.md lists its fields and keys).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace heed::models {
struct BertConfig;
}

namespace heed::peft {

enum class PeftType { Lora, AdaLora, IA3, PrefixTuning, Bottleneck };

std::string_view peft_type_name(PeftType t);  // "LORA", "ADALORA", "IA3", "PREFIX_TUNING", "BOTTLENECK"
// PEFT's names, or the CLI's lower-case ones: lora | adalora | ia3 | prefix | adapter.
PeftType parse_peft_type(std::string_view name);
bool is_prompt_learning(PeftType t);  // PREFIX_TUNING

// Which modules an adapter targets, as PEFT's target_modules: a list of names (a module
// matches when its full name equals one or ends with "." + it), or one string, a regex
// that must match the whole name. heed also accepts glob-like list items holding regex
// characters (e.g. "attention.*"): they match a whole trailing part of the name.
// std::regex_match(text, std::regex(pattern)) with each pattern compiled once per thread
// (module matching runs it for every module name and target).
bool regex_full_match(const std::string& text, const std::string& pattern);

struct TargetModules {
  std::vector<std::string> names;
  std::string regex;  // used when non-empty
  bool empty() const { return names.empty() && regex.empty(); }
  bool matches(const std::string& module_name) const;
  // PEFT's IA3 feed-forward test: a plain suffix match, without the "." boundary (so
  // "output.dense" also marks "attention.output.dense" feed-forward, as in PEFT).
  bool matches_feedforward(const std::string& module_name) const;
};

struct PeftConfig {
  PeftType type = PeftType::Lora;
  nlohmann::json fields = nlohmann::json::object();  // everything, PEFT's names

  // Common.
  std::string task_type;                    // "SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS", ...
  std::vector<std::string> modules_to_save;  // trained fully and saved with the adapter
  TargetModules target_modules;
  TargetModules exclude_modules;  // never adapted, even when targeted
  std::vector<int64_t> layers_to_transform;  // empty = every layer
  // LoRA / AdaLoRA.
  int64_t r = 8;
  double lora_alpha = 8.0;
  double lora_dropout = 0.0;
  bool fan_in_fan_out = false;
  std::string bias = "none";  // none | all | lora_only
  bool use_rslora = false;
  std::map<std::string, int64_t> rank_pattern;  // LoRA: module name pattern -> r
  std::map<std::string, double> alpha_pattern;  // LoRA: module name pattern -> alpha
  // AdaLoRA.
  int64_t init_r = 12, target_r = 8, tinit = 0, tfinal = 0, deltaT = 1, total_step = 0;
  double beta1 = 0.85, beta2 = 0.85, orth_reg_weight = 0.5;
  std::map<std::string, std::vector<bool>> adalora_rank_pattern;  // module -> kept ranks
  // IA3.
  TargetModules feedforward_modules;
  bool init_ia3_weights = true;
  // Prefix tuning.
  int64_t num_virtual_tokens = 20, token_dim = 0, num_layers = 0, num_attention_heads = 0,
          encoder_hidden_size = 0, num_transformer_submodules = 1;
  bool prefix_projection = false;
  bool inference_mode = false;
  // Bottleneck adapters (heed).
  std::string placement = "houlsby";  // houlsby (both sublayers) | pfeiffer (feed-forward only)
  int64_t reduction_factor = 16;
  std::string non_linearity = "relu";  // relu | gelu | gelu_new | tanh | swish

  // PEFT's defaults for `type`, then `overrides` (PEFT's field names); validated.
  // `where` names the source in errors (a file path or "--peft-config").
  static PeftConfig make(PeftType type, const nlohmann::json& overrides = nlohmann::json::object(),
                         const std::string& where = "peft config");
  // An adapter_config.json (its peft_type selects the type).
  static PeftConfig from_file(const std::string& path);
  // Fills what depends on the model when the config leaves it open: BERT's default
  // target modules for the type (PEFT's mapping), the prefix shapes, and
  // modules_to_save for the task's head. Errors when the config contradicts the model.
  void complete_for(const models::BertConfig& cfg);
  // Re-derives `fields` from the typed members (after complete_for or training).
  nlohmann::json to_json() const;
};

}  // namespace heed::peft
