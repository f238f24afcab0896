#include "heed/nn/positional_encoding.h"

#include <cmath>

#include "heed/ops/elementwise.h"
#include "heed/ops/view.h"

namespace heed::nn {

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t max_len, int64_t dim) {
  HEED_CHECK(max_len > 0 && dim > 0, "SinusoidalPositionalEncoding: bad sizes {} x {}", max_len,
             dim);
  pe_ = Tensor::empty(Shape{max_len, dim});
  float* p = pe_.data<float>();
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t i = 0; i < dim; ++i) {
      const double freq = std::pow(10000.0, -double(2 * (i / 2)) / double(dim));
      p[pos * dim + i] = float(i % 2 == 0 ? std::sin(pos * freq) : std::cos(pos * freq));
    }
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, int64_t offset) const {
  HEED_CHECK(x.ndim() == 3 && x.size(2) == pe_.size(1),
             "SinusoidalPositionalEncoding: input {} must be (B, T, {})", x.shape(), pe_.size(1));
  HEED_CHECK(offset >= 0 && offset + x.size(1) <= pe_.size(0),
             "SinusoidalPositionalEncoding: positions {}..{} exceed max_len {}", offset,
             offset + x.size(1), pe_.size(0));
  return ops::add(x, ops::slice(pe_, 0, offset, offset + x.size(1)));
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len, int64_t dim,
                                                       Generator& gen, float init_std)
    : max_len_(max_len) {
  emb_ = register_module("position_embeddings",
                         std::make_shared<Embedding>(
                             EmbeddingConfig{.num = max_len, .dim = dim, .init_std = init_std}, gen));
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x, int64_t offset) const {
  HEED_CHECK(x.ndim() == 3, "LearnedPositionalEmbedding: input {} must be (B, T, C)", x.shape());
  HEED_CHECK(offset >= 0 && offset + x.size(1) <= max_len_,
             "LearnedPositionalEmbedding: positions {}..{} exceed max_len {}", offset,
             offset + x.size(1), max_len_);
  return ops::add(x, ops::slice(emb_->weight(), 0, offset, offset + x.size(1)));
}

}  // namespace heed::nn
