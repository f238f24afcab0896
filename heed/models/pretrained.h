// Loading and saving a model's weights in a Hugging Face model directory, the way
// transformers' PreTrainedModel.from_pretrained / save_pretrained do
// (transformers/modeling_utils.py), for any heed module whose parameter names are HF's
// checkpoint keys:
//   * files: model.safetensors, else model.safetensors.index.json (shards), else
//     pytorch_model.bin, else pytorch_model.bin.index.json;
//   * keys with or without the base-model prefix ("bert."), either way round;
//   * legacy LayerNorm gamma/beta names; tied aliases (present in .bin, absent in
//     safetensors); buffers such as position_ids accepted and ignored;
//   * F16/BF16/F64 tensors converted to f32;
//   * missing and unused keys reported in HF's words, missing ones initialised by the
//     caller; a shape that disagrees with the model (built from config.json) is an error
//     naming the file, the key and both shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "heed/nn/module.h"

namespace heed::models {

enum class WeightsFormat { Auto, Safetensors, Torch };

struct LoadOptions {
  WeightsFormat format = WeightsFormat::Auto;  // Auto prefers safetensors, as HF
  // HF only warns when weights of the base model (embeddings, encoder, pooler) are
  // missing; strict makes that an error. Missing task-head weights are the normal
  // fine-tuning case and are always initialised.
  bool strict = false;
  bool quiet = false;  // do not print the messages to stderr
};

struct LoadReport {
  std::vector<std::string> files;             // weight files read
  int64_t bytes_on_disk = 0;                  // their total size
  std::vector<std::string> missing_keys;      // model names; newly initialised
  std::vector<std::string> missing_required;  // the base-model ones among them
  std::vector<std::string> unexpected_keys;   // checkpoint names (after gamma/beta renaming)
  std::vector<std::string> renamed_keys;      // "old -> new" for legacy names
  std::vector<std::string> messages;          // HF-worded warnings, as printed
};

// What the loader needs to know about the model class (HF's class attributes).
struct PretrainedSpec {
  std::string class_name;         // "BertForSequenceClassification", for messages
  std::string base_model_prefix;  // "bert"
  bool is_base_model = false;     // the model's own keys carry no prefix (BertModel)
  std::vector<std::pair<std::string, std::string>> tied;  // {alias key, canonical key}
  std::vector<std::string> ignore_unexpected;             // substrings never reported
  std::vector<std::string> architectures;                 // config.json's, for wording
  std::string config_path;                                // named in shape errors
};

// The weight files of a HF model directory, in load order (one, or the index's shards).
// Errors name the directory and list what was looked for.
std::vector<std::string> find_weight_files(const std::string& dir,
                                           WeightsFormat format = WeightsFormat::Auto);

// Copies the checkpoint in `dir` into `model`'s parameters. Calls init_missing with the
// parameters the checkpoint lacked (before returning; the caller initialises them).
LoadReport load_pretrained_weights(
    nn::Module& model, const std::string& dir, const PretrainedSpec& spec,
    const LoadOptions& options,
    const std::function<void(const std::vector<std::string>&)>& init_missing);

// Writes dir/model.safetensors as HF's save_pretrained(safe_serialization=True): the
// state dict (tied aliases are not in it), metadata {"format": "pt"}, atomically.
// Removes stale shards and index of an earlier sharded save in the same directory.
void save_pretrained_weights(const nn::Module& model, const std::string& dir);

// ['a', 'b'] as Python prints a list of strings (HF's messages print lists that way).
std::string python_list(const std::vector<std::string>& items);

}  // namespace heed::models
