#include "heed/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "heed/base/error.h"

namespace heed::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  HEED_FAIL("unknown lr schedule \"{}\" (expected constant, linear or cosine)", name);
}

float LRSchedule::factor(int64_t step) const { return factor_at(double(step)); }

float LRSchedule::factor_at(double step) const {
  // Warmup: HF's get_*_schedule_with_warmup use step / warmup (starting at 0); the
  // torch-LambdaLR variant (hf_style = false) uses (step + 1) / warmup.
  if (step < double(warmup_steps)) {
    const double s = hf_style ? step : step + 1.0;
    return float(s / double(std::max<int64_t>(1, warmup_steps)));
  }
  if (kind == ScheduleKind::Constant) return 1.0f;
  const double progress = (step - double(warmup_steps)) /
                          double(std::max<int64_t>(1, total_steps - warmup_steps));
  if (kind == ScheduleKind::Linear) return float(std::max(0.0, 1.0 - progress));
  return float(std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * std::min(progress, 1.0)))));
}

}  // namespace heed::train
