// The library side of the BERT subcommands (`heed forward`, `heed inspect`,
// `heed embed`), so that the CLI files only parse options and tests can call the same
// functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "heed/models/bert_pretrained.h"

namespace heed::models {

struct BertForwardNpyOptions {
  std::string model_dir{}, inputs_dir{}, out_dir{};
  std::optional<BertHead> head{};  // default: as bert_from_pretrained picks it
  bool output_hidden_states = true;
  bool output_attentions = true;
  bool quiet = false;  // no load messages on stderr
};

// Reads dir/input_ids.npy (integer (B, T)) and, when present, attention_mask.npy and
// token_type_ids.npy (same shape). Errors name the file.
BertInputs read_bert_inputs_npy(const std::string& dir);

// Loads the model, runs it on the inputs and writes every output as out_dir/<name>.npy
// with HF's names (BertOutput::named(), without the loss). Returns the names written.
std::vector<std::string> bert_forward_npy(const BertForwardNpyOptions& options);

// Parameters of the model config.json describes, without building it.
int64_t bert_num_parameters(const BertConfig& cfg, BertHead head);

// `heed inspect`: the config, the class, parameter count and memory (f32 bytes, and the
// weight files' bytes on disk).
std::string bert_inspect(const std::string& dir);

enum class Pooling { Cls, Mean };
Pooling parse_pooling(std::string_view name);  // "cls" | "mean"
// Sentence embeddings (B, C) from last_hidden_state (B, T, C): the first ([CLS]) row, or
// the mean over the positions where attention_mask (B, T) is 1 (all when undefined).
Tensor pool_embeddings(const Tensor& last_hidden_state, const Tensor& attention_mask,
                       Pooling pooling);

}  // namespace heed::models
