// Best-model selection and early stopping on an evaluation metric, as an EvalHook for
// the Trainer (HF's load_best_model_at_end + metric_for_best_model + EarlyStoppingCallback).
//
//   EarlyStopping es({.metric = "macro_f1", .greater_is_better = true, .patience = 2},
//                    [&](int64_t step, const auto& m) { save_model(); return json{}; });
//   trainer.set_eval_hook(&es);
//
// The first evaluation is always an improvement; later ones must be strictly better
// (a NaN never is, but a finite value beats a NaN best). After `patience` evaluations
// in a row without improvement should_stop() turns true. The state (best value, its
// step, the count, the payload on_improve returned) is a small JSON saved in every
// checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "heed/train/trainer.h"

namespace heed::train {

struct EarlyStoppingConfig {
  std::string metric = "loss";
  bool greater_is_better = false;
  int64_t patience = 0;  // evaluations without improvement before stopping; 0 = never stop
};

class EarlyStopping : public EvalHook {
 public:
  // Called on each improvement, after the new best is recorded; what it returns (e.g. the
  // evaluation report) is kept as best_info() and checkpointed with the rest.
  using ImproveFn =
      std::function<nlohmann::json(int64_t step, const std::map<std::string, double>& metrics)>;

  explicit EarlyStopping(EarlyStoppingConfig cfg, ImproveFn on_improve = {});

  // Errors name the metric and the metrics the evaluation returned.
  void after_eval(int64_t step, const std::map<std::string, double>& metrics) override;
  bool should_stop() const override { return stopped_; }
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;

  const EarlyStoppingConfig& config() const { return cfg_; }
  bool has_best() const { return best_step_ >= 0; }
  double best() const { return best_; }
  int64_t best_step() const { return best_step_; }  // -1 before the first evaluation
  int64_t evals_without_improvement() const { return bad_evals_; }
  const nlohmann::json& best_info() const { return best_info_; }

 private:
  bool improves(double v) const;

  EarlyStoppingConfig cfg_;
  ImproveFn on_improve_;
  double best_ = 0.0;
  int64_t best_step_ = -1, bad_evals_ = 0;
  bool stopped_ = false;
  nlohmann::json best_info_;
};

}  // namespace heed::train
