#pragma once

#include "heed/nn/module.h"

namespace heed::nn {

struct EmbeddingConfig {
  int64_t num = 0, dim = 0;
  int64_t padding_idx = -1;  // that row starts at zero and gets no gradient
  float init_std = 0.02f;
};

// Parameter "weight" (num, dim).
class Embedding : public Module {
 public:
  Embedding(const EmbeddingConfig& cfg, Generator& init_gen);
  Tensor forward(const Tensor& ids) const;  // (...) i64 -> (..., dim)
  const Tensor& weight() const { return weight_; }

 private:
  EmbeddingConfig cfg_;
  Tensor weight_;
};

}  // namespace heed::nn
