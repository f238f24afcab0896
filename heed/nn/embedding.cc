#include "heed/nn/embedding.h"

#include <cstring>

#include "heed/nn/init.h"
#include "heed/ops/embedding.h"

namespace heed::nn {

Embedding::Embedding(const EmbeddingConfig& cfg, Generator& gen) : cfg_(cfg) {
  HEED_CHECK(cfg.num > 0 && cfg.dim > 0, "Embedding: sizes must be positive, got {} x {}",
             cfg.num, cfg.dim);
  HEED_CHECK(cfg.padding_idx < cfg.num, "Embedding: padding_idx {} out of range for {} rows",
             cfg.padding_idx, cfg.num);
  Tensor w = init::normal(Shape{cfg.num, cfg.dim}, cfg.init_std, gen);
  if (cfg.padding_idx >= 0)
    std::memset(w.data<float>() + cfg.padding_idx * cfg.dim, 0, size_t(cfg.dim) * sizeof(float));
  weight_ = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& ids) const {
  return ops::embedding(weight_, ids, cfg_.padding_idx);
}

}  // namespace heed::nn
