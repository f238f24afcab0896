// Embedding lookup: out[..., :] = weight[ids[...], :]. The backward scatter-adds into
// the rows that were used; rows equal to padding_idx get no gradient (torch semantics).
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::ops {

Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx = -1);

}  // namespace heed::ops
