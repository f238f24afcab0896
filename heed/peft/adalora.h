// AdaLoRA (Zhang et al. 2023) as PEFT's adalora tuner computes it: LoRA in SVD form,
//   y = W x + b + (dropout(x) (A * E)^T B^T) * scaling / (ranknum + 1e-5)
// A (r, in) ~ N(0, 0.02), B (out, r) ~ N(0, 0.02), E (r, 1) = 0 (the "singular values"),
// scaling = lora_alpha (or r when lora_alpha <= 0), ranknum = init_r. Parameters are
// "lora_A.<adapter>", "lora_B.<adapter>", "lora_E.<adapter>" (no ".weight", as PEFT).
//
// RankAllocator prunes singular values by importance during training (PEFT's
// RankAllocator + AdaLoraModel.update_and_allocate) and runs inside the Trainer as a
// StepHook, so the schedule is never silently skipped (PEFT issue #1801):
//   - importance of each entry |p * grad p|, smoothed (beta1) with its uncertainty (beta2);
//     a triplet's score is E's plus the row/column means of A's and B's;
//   - budget (total kept ranks) init_r * n until tinit, then cubic decay to target_r * n
//     at total_step - tfinal, masking every deltaT steps; after that the final pattern is
//     fixed and re-applied every step.
// The smoothed importances are buffers of each module, so checkpoints carry them and a
// resumed run allocates exactly as an uninterrupted one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/nn/dropout.h"
#include "heed/nn/linear.h"
#include "heed/train/trainer.h"

namespace heed::peft {

struct AdaLoraOptions {
  int64_t r = 12;  // this module's rank (init_r, or its kept rank when loading)
  double alpha = 8.0;
  double dropout = 0.0;
  double ranknum = 12;  // init_r: the divisor stays the initial rank
};

class AdaLoraLinear : public nn::Module, public nn::LinearHook {
 public:
  AdaLoraLinear(const nn::Linear& base, const std::string& adapter, const AdaLoraOptions& opt,
                Generator& init_gen);
  Tensor forward(const nn::Linear& base, const Tensor& x) const override;
  const Tensor& lora_A() const { return A_; }
  const Tensor& lora_B() const { return B_; }
  const Tensor& lora_E() const { return E_; }
  int64_t r() const { return A_.size(0); }
  // The update the adapter adds to the base weight, B (A * E) * scaling / (ranknum + 1e-5)
  // (out, in); no autograd. Used for merging.
  Tensor delta_weight() const;
  // Singular values kept by the last allocation (all r before the first).
  int64_t rank() const;
  // ||A A^T - I||_F + ||B^T B - I||_F, differentiable (PEFT's orthogonal regulariser sums
  // these over modules).
  Tensor orthogonality() const;

  // Importance state (buffers): exp_avg_ipt and exp_avg_unc per A, B, E, and the kept
  // ranks of the last allocation (r,) 1 = kept, fixed after total_step - tfinal.
  struct Importance {
    Tensor ipt_A, unc_A, ipt_B, unc_B, ipt_E, unc_E;
    Tensor rank_mask;
  };
  Importance& importance() { return imp_; }

 private:
  Tensor A_, B_, E_;
  float scale_ = 1.0f;  // scaling / (ranknum + 1e-5)
  std::shared_ptr<nn::Dropout> drop_;
  Importance imp_;
};

struct RankSchedule {
  int64_t init_r = 12, target_r = 8, tinit = 0, tfinal = 0, deltaT = 1, total_step = 0;
  double beta1 = 0.85, beta2 = 0.85;
};

class RankAllocator : public train::StepHook {
 public:
  RankAllocator(std::vector<std::shared_ptr<AdaLoraLinear>> modules, const RankSchedule& s);
  void after_step(int64_t step, int64_t total_steps) override;
  // The budget (kept ranks over all modules) the schedule asks for at a step.
  int64_t budget_at(int64_t step, int64_t total_steps) const;
  int64_t kept_ranks() const;  // sum of rank() over modules
  int64_t init_budget() const { return s_.init_r * int64_t(modules_.size()); }
  int64_t target_budget() const { return s_.target_r * int64_t(modules_.size()); }

 private:
  void update_importance();
  void mask_to_budget(int64_t budget);
  void apply_final_mask();
  std::vector<std::shared_ptr<AdaLoraLinear>> modules_;
  RankSchedule s_;
};

}  // namespace heed::peft
