// Parameter-efficient fine-tuning around the text-classification pipeline: the small
// head_config.json written next to a PEFT adapter (so the labels travel with it), and
// merging an adapter into its base model as a plain Hugging Face model directory.
//
//   OUT (an adapter directory from `heed finetune --peft lora`):
//     adapter_config.json, adapter_model.safetensors   PEFT's layout (heed/peft)
//     head_config.json  {"num_labels", "id2label", "label2id", "problem_type"}
//     vocab.txt, tokenizer.json, ...                   the base model's tokenizer files
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace heed::tasks {

inline constexpr const char* kHeadConfigFile = "head_config.json";

struct HeadConfig {
  int64_t num_labels = 0;
  std::vector<std::string> labels;  // id order; LABEL_<i> where the file names none
  std::string problem_type;         // single_label_classification | regression | ""
  nlohmann::json to_json() const;
};

// dir/head_config.json, or nullopt-like {num_labels 0} when the file is absent. Errors
// name the file when it is malformed. `num_labels` (> 0) fills LABEL_<i> names.
HeadConfig read_head_config(const std::string& dir, int64_t num_labels = 0);
void write_head_config(const std::string& dir, const HeadConfig& h);

// The tokenizer files (vocab.txt, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, added_tokens.json) present in `from`, copied to `to`.
void copy_tokenizer_files(const std::string& from, const std::string& to);

struct MergeResult {
  std::string peft_type;  // "LORA", ...
  int64_t num_labels = 0;
};

// `heed merge`: the base model with the adapter folded into its weights, written as a
// Hugging Face model directory (config.json with the adapter's labels, model.safetensors,
// the base's tokenizer files). Errors for adapter types that cannot merge (prefix
// tuning, bottleneck adapters).
MergeResult merge_adapter(const std::string& base_dir, const std::string& adapter_dir,
                          const std::string& out_dir);

}  // namespace heed::tasks
