// Trainer: the training loop shared by every task (pretraining, classification,
// regression). AdamW with the no-decay list, warmup + linear/cosine/constant decay,
// global-norm clipping, gradient accumulation, periodic evaluation, atomic checkpoints
// (heed/train/checkpoint.h) and bit-identical resume, a progress bar, a JSONL metrics
// log, and a clean stop on Ctrl-C / SIGTERM.
//
// Bit-identical resume: a checkpoint is taken between optimizer steps and holds the
// weights, AdamW's m and v and step count, the step (the lr schedule is a pure function
// of it), the dropout generator's (seed, offset), the data source's state (position and
// its RNG) and the logging accumulators. Every random draw in heed is a pure function of
// a Generator's (seed, offset), so resuming at step k and running to n gives the same
// bytes as running to n without a stop (tests/train/test_trainer.cc).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "heed/nn/module.h"
#include "heed/train/data_source.h"
#include "heed/train/lr_schedule.h"
#include "heed/train/optimizer.h"

namespace heed::train {

struct TrainerConfig {
  // Stop after max_steps optimizer steps, or when the time budget (wall time in train(),
  // evaluation and saving included, summed over resumes) is spent, whichever comes first;
  // at least one must be set. With only a time budget, the number of steps for the lr
  // schedule is estimated once from the speed of a few timed micro-batches (their effects
  // are undone) and saved in checkpoints; the budget is checked between steps.
  int64_t max_steps = 0;
  double time_budget_minutes = 0.0;
  int64_t grad_accum_steps = 1;  // micro-batches per optimizer step, weighted equally
  float lr = 1e-4f, weight_decay = 0.01f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  int64_t warmup_steps = 0;
  float warmup_ratio = 0.0f;  // of the total steps; used when > 0 (then warmup_steps must be 0)
  ScheduleKind schedule = ScheduleKind::Linear;
  float max_grad_norm = 1.0f;  // <= 0: no clipping (the norm is still logged)
  int64_t eval_every = 0;      // steps; 0 = only at the end (if an eval callback is given)
  int64_t save_every = 0;      // steps; 0 = only at the end
  int64_t log_every = 10;      // steps between metrics.jsonl records
  std::string out_dir{};       // checkpoints and metrics.jsonl; "" = save nothing
  std::string checkpoint_dir{};  // where checkpoints go instead of out_dir ("" = out_dir)
  uint64_t seed = 0;           // for the model's dropout generator if it has none
  int64_t keep_last_n = 3;     // complete checkpoints kept; 0 = all
  bool progress = true;
  bool handle_signals = true;  // SIGINT/SIGTERM: save a checkpoint and return
  // bf16 mixed precision: the loss callback runs under ops::Autocast (Linear layers
  // multiply in bf16, forward and backward); weights, gradients and AdamW stay f32.
  // Evaluation stays f32.
  bool bf16 = false;
};

// What the loss callback returns for one micro-batch.
struct StepOutput {
  Tensor loss{};                            // scalar, mean over the micro-batch
  std::map<std::string, double> metrics{};  // optional, e.g. {"mlm_acc", 0.31}; averaged in logs
  int64_t num_tokens = 0;                   // for tokens/s; 0 = use Batch::num_tokens
};

using LossFn = std::function<StepOutput(const Batch&)>;
// Runs in eval mode with gradients off; returns named metrics (e.g. {"loss", "accuracy"}).
using EvalFn = std::function<std::map<std::string, double>()>;

// Sees every evaluation's metrics (after its metrics.jsonl record), e.g. to keep the best
// model and stop early (heed/train/early_stopping.h). Its state goes into every
// checkpoint and comes back on resume, so a resumed run decides exactly as an
// uninterrupted one. Once should_stop() is true, train() saves and returns.
class EvalHook {
 public:
  virtual ~EvalHook() = default;
  virtual void after_eval(int64_t step, const std::map<std::string, double>& metrics) = 0;
  virtual bool should_stop() const = 0;
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;
};

// Runs after every optimizer step, before the gradients are cleared (they are still
// readable on the parameters): e.g. AdaLoRA's rank allocation (heed/peft), which PEFT
// leaves to a manual update_and_allocate() call. `step` is the 0-based index of the step
// just taken, `total_steps` the run's planned number. State it keeps must live in the
// model's state_dict (parameters or buffers) so checkpoints carry it.
class StepHook {
 public:
  virtual ~StepHook() = default;
  virtual void after_step(int64_t step, int64_t total_steps) = 0;
};

struct TrainResult {
  int64_t steps = 0;         // optimizer steps done in total (including before a resume)
  bool interrupted = false;  // stopped by SIGINT/SIGTERM
  std::string stop_reason;   // "max_steps", "time budget", "early stopping", "SIGINT", "SIGTERM"
  std::string last_checkpoint;
  std::map<std::string, double> last_eval;
};

class Trainer {
 public:
  Trainer(nn::Module& model, LossFn loss, DataSource& data, TrainerConfig cfg, EvalFn eval = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Not owned; must outlive the trainer. Set it before resume() so its state is restored.
  void set_eval_hook(EvalHook* hook) { hook_ = hook; }
  // Not owned; must outlive the trainer.
  void set_step_hook(StepHook* hook) { step_hook_ = hook; }

  // Restores everything from a checkpoint directory (errors if it is incomplete).
  void resume(const std::string& checkpoint_dir);
  // Resumes from the newest complete checkpoint in out_dir; false when there is none.
  // Incomplete checkpoint directories are skipped with a message on stderr.
  bool resume_latest();

  TrainResult train();
  std::string save();  // a checkpoint of the current state; returns its path

  int64_t step() const { return step_; }
  int64_t total_steps() const { return total_steps_; }
  AdamW& optimizer() { return *opt_; }
  // One JSON object per logged step or eval, as written to metrics.jsonl.
  const std::vector<std::string>& log_history() const { return history_; }

 private:
  void resolve_total_steps();
  int64_t estimate_steps_for_budget();
  void log_train_record();
  std::map<std::string, double> run_eval();
  void append_record(const std::string& json_line);
  std::string state_json() const;
  std::string metrics_path() const;
  const std::string& checkpoint_dir() const;

  nn::Module& model_;
  LossFn loss_;
  DataSource& data_;
  TrainerConfig cfg_;
  EvalFn eval_;
  EvalHook* hook_ = nullptr;
  StepHook* step_hook_ = nullptr;
  std::unique_ptr<AdamW> opt_;
  std::vector<Tensor> params_;
  int64_t step_ = 0, total_steps_ = 0, warmup_steps_ = 0;
  double elapsed_before_ = 0.0;  // training seconds of earlier runs (resume)
  std::vector<std::string> history_;
  std::string last_saved_;
  // Since the last log record; saved in checkpoints so logs continue identically.
  struct Window {
    double loss_sum = 0.0, grad_norm_sum = 0.0;
    int64_t micro_batches = 0, steps = 0, tokens = 0;
    std::map<std::string, double> metric_sums;
    double seconds = 0.0;
  } win_;
  float last_lr_ = 0.0f;
};

}  // namespace heed::train
