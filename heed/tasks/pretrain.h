// BERT pretraining from scratch: a WordPiece vocabulary directory and text files in, a
// Hugging Face model directory out (config.json, model.safetensors, vocab.txt,
// tokenizer.json, tokenizer_config.json) with the run's metrics.jsonl, run_config.json
// and eval_results.json (held-out MLM loss, accuracy and perplexity).
//
//   tasks::PretrainConfig c;
//   c.model_config = "mini"; c.corpus = {"data/en_pretrain/austen.txt.xz"};
//   c.vocab_dir = "runs/vocab"; c.out_dir = "runs/pretrain"; c.time_budget_minutes = 15;
//   tasks::PretrainResult r = tasks::run_pretraining(c);
//
// The data pipeline is heed/train/mlm_data.h (create_pretraining_data's packing, NSP,
// dynamic 80/10/10 masking, optional whole-word masking); the loop is heed/train/trainer.h
// (AdamW, warmup + decay, clipping, accumulation, atomic checkpoints, bit-identical
// resume, Ctrl-C).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "heed/models/bert_config.h"
#include "heed/train/mlm_data.h"

namespace heed::tokenizers {
class BertTokenizer;
}

namespace heed::tasks {

// The sizes of Google's compact BERTs (Turc et al. 2019, "Well-Read Students Learn
// Better", github.com/google-research/bert): tiny L2/H128, mini L4/H256, small L4/H512,
// medium L8/H512, base L12/H768; heads H/64, intermediate 4H. Or a path to a
// config.json. vocab_size is set from the tokenizer either way.
models::BertConfig bert_size_config(const std::string& name_or_path, int64_t vocab_size);
// The preset names, for --help.
std::vector<std::string> bert_size_names();

// The MLM pipeline's view of a tokenizer: special ids and the "##" continuation table.
train::MlmVocab mlm_vocab_from_tokenizer(const tokenizers::BertTokenizer& tok);

struct PretrainConfig {
  std::string model_config = "mini";  // a preset name or a config.json path
  std::vector<std::string> corpus;    // text files (.xz allowed)
  std::string vocab_dir;              // vocab.txt and/or tokenizer.json (+ tokenizer_config.json)
  std::string out_dir;
  // Stopping: steps, a wall-time budget, or both (whichever comes first).
  int64_t steps = 0;
  double time_budget_minutes = 0.0;
  int64_t batch_size = 32, max_seq_length = 128, grad_accum = 1;
  float lr = 5e-4f, weight_decay = 0.01f, warmup_ratio = 0.06f, max_grad_norm = 1.0f;
  std::string schedule = "linear";  // linear | cosine | constant
  bool nsp = true;                  // false: BertForMaskedLM on packed full sentences
  bool whole_word_mask = false;
  float masked_lm_prob = 0.15f;
  int64_t max_predictions_per_seq = 0;  // 0 = no cap
  // Every k-th document is held out for validation (0 = none); at most
  // max_validation_batches batches of it are evaluated.
  int64_t validation_every = 50;
  int64_t max_validation_batches = 25;
  int64_t eval_every = 500, save_every = 500, log_every = 10, keep_last_n = 2;
  std::optional<double> dropout;  // overrides hidden and attention dropout (e.g. 0 for parity runs)
  uint64_t seed = 0;
  bool resume = false;  // continue from the newest complete checkpoint in out_dir
  bool progress = true;
  // The LM head on masked positions only (same loss, fewer FLOPs); see BertInputs.
  bool sparse_mlm = true;
  // bf16 mixed precision (TrainerConfig::bf16): Linear layers multiply in bf16.
  bool bf16 = false;
  // Debugging / recipe parity: write the first N micro-batches to out_dir/batches/
  // (safetensors) and the initial weights to out_dir/init/ (HF layout), so a reference
  // implementation can replay the exact token stream (tests/golden/pretrain/).
  int64_t dump_batches = 0;
  int threads = 0;  // 0 = all cores
};

struct PretrainResult {
  int64_t steps = 0;
  std::string stop_reason;
  double seconds = 0.0;               // this process's wall time
  int64_t num_parameters = 0;
  int64_t train_tokens = 0, validation_tokens = 0;  // corpus sizes (tokens)
  std::map<std::string, double> eval;  // mlm_loss, mlm_accuracy, perplexity, nsp_accuracy
  bool interrupted = false;
};

// Runs (or resumes) pretraining and writes out_dir. Errors name the file or option.
PretrainResult run_pretraining(const PretrainConfig& cfg);

// The run's options as written to out_dir/run_config.json.
nlohmann::json pretrain_config_json(const PretrainConfig& cfg);

}  // namespace heed::tasks
