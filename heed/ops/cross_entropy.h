// cross_entropy: fused log-softmax + NLL, as torch.nn.functional.cross_entropy.
#pragma once

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

}  // namespace heed::ops
