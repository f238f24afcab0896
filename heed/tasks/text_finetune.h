// Fine-tuning a BERT model directory for text classification (one text or a pair) or
// regression, as HF's run_glue.py with the Trainer: a sequence-classification head on
// the pooled output, AdamW with warmup and linear decay, gradient clipping, an
// evaluation each epoch, the best epoch kept (load_best_model_at_end), optional early
// stopping and class weights, checkpoints and bit-identical resume.
//
//   FinetuneResult r = finetune({.model_dir = "bert-mini", .train_file = "train.csv",
//                                .eval_file = "dev.csv", .out_dir = "runs/sst2"});
//
// OUT (out_dir) ends as a Hugging Face model directory of the best model:
//   config.json            id2label / label2id / problem_type as HF writes them
//   model.safetensors      the best evaluation's weights (written whenever it improves)
//   vocab.txt, tokenizer.json (+ tokenizer_config.json, special_tokens_map.json if the
//                          input had them)
//   metrics.jsonl          the Trainer's log (train records, one eval record per epoch)
//   run_config.json        every option of the run
//   eval_results.json      the best model's evaluation (TextEvaluation::to_json)
//   checkpoints/           the Trainer's checkpoints (resume)
//
// With `peft` (lora | adalora | ia3 | prefix | adapter) the base model's weights stay
// frozen and only a parameter-efficient adapter (heed/peft) and the classifier head are
// trained; OUT then holds the best adapter in PEFT's layout instead of a full model:
//   adapter_config.json, adapter_model.safetensors   (task_type SEQ_CLS, the classifier
//                          in modules_to_save), head_config.json (labels, problem_type),
//   plus the tokenizer files, metrics.jsonl, run_config.json, eval_results.json,
//   checkpoints/ as above. Use it with `heed predict --model BASE --adapter OUT`, or fold
//   it into a model directory with `heed merge`.
//
// Labels (classify): the sorted distinct labels of the training file, unless the model's
// config.json already has exactly that label set (then its ids, and its classifier
// weights, are kept). Regress: labels parsed as numbers, num_labels 1.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/tasks/text_data.h"

namespace heed::tasks {

enum class ClassWeights { None, Balanced };
ClassWeights parse_class_weights(std::string_view name);  // "none" | "balanced"

struct FinetuneOptions {
  std::string model_dir;   // HF layout: config.json, weights, vocab.txt or tokenizer.json
  std::string train_file;  // CSV / TSV / JSONL
  std::string eval_file{};  // "" = split validation_fraction off the training rows
  std::string out_dir;
  TextTask task = TextTask::Classify;
  TextColumns columns{};
  int64_t max_seq_length = 128;
  int64_t batch_size = 32;
  int64_t eval_batch_size = 64;
  int64_t epochs = 3;
  int64_t grad_accum = 1;
  float lr = 5e-5f;
  float weight_decay = 0.01f;
  float warmup_ratio = 0.1f;
  float max_grad_norm = 1.0f;
  uint64_t seed = 42;
  // Without eval_file: this fraction of the training rows (a seeded random subset) is held
  // out for validation; 0 = no validation (the last epoch's model is kept).
  double validation_fraction = 0.1;
  // Selects the best epoch: classify macro_f1 (default) | accuracy | loss;
  // regress pearson (default) | spearman | mse | loss.
  std::string metric{};
  int64_t patience = 0;  // stop after this many epochs without improvement; 0 = off
  ClassWeights class_weights = ClassWeights::None;  // balanced: n / (k * count), sklearn
  bool resume = false;   // continue from the newest checkpoint in out_dir/checkpoints
  bool progress = true;  // the Trainer's progress bar
  int64_t log_every = 10;
  int64_t keep_checkpoints = 2;
  bool bf16 = false;  // bf16 mixed precision (TrainerConfig::bf16); evaluation stays f32
  // Parameter-efficient fine-tuning: "" = full fine-tuning; lora | adalora | ia3 | prefix
  // | adapter (bottleneck). peft_config_file: a JSON object of PEFT field names (r,
  // lora_alpha, target_modules, ...) overriding the type's defaults. adapter_dir: continue
  // training a PEFT-format adapter directory (its own config) on model_dir.
  std::string peft{};
  std::string peft_config_file{};
  std::string adapter_dir{};
  // Called after each validation with its metrics (accuracy, macro_f1, loss, epoch, ... as
  // logged); e.g. to print a line per epoch.
  std::function<void(const std::map<std::string, double>& metrics)> on_eval{};
};

struct FinetuneResult {
  std::string out_dir;
  std::vector<std::string> labels;  // id order (classify)
  int64_t num_train = 0, num_eval = 0;
  int64_t steps = 0, steps_per_epoch = 0;
  double epochs_done = 0.0;
  std::string stop_reason;  // "max_steps" (all epochs), "early stopping", "SIGINT", ...
  bool interrupted = false;
  std::string metric;           // the selection metric ("" without validation)
  double best_metric = 0.0;
  int64_t best_step = -1;       // -1: no validation, the final model was saved
  nlohmann::json eval_results;  // eval_results.json (null without validation)
  std::string peft_type;        // "LORA", ... ("" for full fine-tuning)
  int64_t trainable_parameters = 0, total_parameters = 0;
};

// Errors name the file, line and column of bad data, or the option at fault.
FinetuneResult finetune(const FinetuneOptions& options);

// sklearn's compute_class_weight("balanced"): n / (k * count[c]); 0 for an absent class.
std::vector<float> balanced_class_weights(const std::vector<int64_t>& labels, int64_t num_classes);

// Metric names accepted by FinetuneOptions::metric, and whether larger is better.
std::string default_metric(TextTask task);
bool metric_greater_is_better(const std::string& metric);

}  // namespace heed::tasks
