// Positional encodings.
//   Sinusoidal (Vaswani et al. 2017, section 3.5): PE(p, 2i) = sin(p / 10000^(2i/C)),
//   PE(p, 2i+1) = cos(p / 10000^(2i/C)); a fixed buffer, no parameters.
//   Learned: an Embedding over positions, named "position_embeddings" as in BERT.
#pragma once

#include "heed/nn/embedding.h"

namespace heed::nn {

class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(int64_t max_len, int64_t dim);
  // x (B, T, C) -> x + PE[offset : offset + T]
  Tensor forward(const Tensor& x, int64_t offset = 0) const;
  const Tensor& table() const { return pe_; }

 private:
  Tensor pe_;  // (max_len, dim)
};

class LearnedPositionalEmbedding : public Module {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t dim, Generator& init_gen,
                             float init_std = 0.02f);
  // x (B, T, C) -> x + E[offset : offset + T]
  Tensor forward(const Tensor& x, int64_t offset = 0) const;

 private:
  int64_t max_len_;
  std::shared_ptr<Embedding> emb_;
};

}  // namespace heed::nn
