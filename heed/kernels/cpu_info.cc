#include "heed/kernels/cpu_info.h"

#include <hwy/targets.h>

namespace heed::kernels {

const char* simd_target_name() {
  const int64_t targets = hwy::SupportedTargets();
  // Lowest set bit = best target (Highway orders targets best-first in bit order).
  const int64_t best = targets & -targets;
  return hwy::TargetName(best);
}

}  // namespace heed::kernels
