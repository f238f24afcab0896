// Learning-rate schedules: the multiplier applied to the base lr at a 0-based step,
// as torch's LambdaLR (step k of the optimizer uses base_lr * factor(k)).
#pragma once

#include <cstdint>
#include <string>

namespace heed::train {

enum class ScheduleKind { Constant, Linear, Cosine };
ScheduleKind parse_schedule(const std::string& name);  // "constant" | "linear" | "cosine"

struct LRSchedule {
  ScheduleKind kind = ScheduleKind::Linear;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  // Warmup ramps linearly, then the factor decays (linearly or by half-cosine) to 0 at
  // total_steps. hf_style: warmup factor step / warmup, as HF's
  // get_linear_schedule_with_warmup; otherwise (step + 1) / warmup.
  bool hf_style = true;
  float factor(int64_t step) const;
  // The same curve at a fractional step (time-budget runs follow elapsed time: step =
  // elapsed / budget * total_steps).
  float factor_at(double step) const;
};

}  // namespace heed::train
