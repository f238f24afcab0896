// cross_entropy: fused log-softmax + NLL, as torch.nn.functional.cross_entropy.
#pragma once

#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::ops {

enum class Reduction { Mean, Sum, None };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  float label_smoothing = 0.0f;
  Reduction reduction = Reduction::Mean;
  Tensor class_weight;  // optional (V); not combinable with label_smoothing
};

// logits (..., V) f32, targets (...) i64. Mean divides by the number of non-ignored
// targets (by their total class weight when weights are given), as torch does.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& opt = {});

// What cross_entropy and linear_cross_entropy share: opt checked against V classes, every
// target checked to be in [0, V) or ignore_index (errors name `op`), and per-row weights.
struct CrossEntropyTargets {
  Tensor targets;              // i64, contiguous
  std::vector<float> weight;   // per row: the target's class weight (1 without), 0 if ignored
  double weight_sum = 0.0;
};
CrossEntropyTargets cross_entropy_targets(const char* op, const Tensor& targets, int64_t V,
                                          const CrossEntropyOptions& opt);

}  // namespace heed::ops
