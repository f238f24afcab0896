#include "heed/ops/embedding.h"

#include <cstring>

#include "heed/autograd/node.h"
#include "heed/base/parallel.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct EmbeddingBackward : Node {
  Shape w_shape;
  std::vector<int64_t> ids;
  int64_t padding_idx = -1;
  const char* name() const override { return "embedding"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const Tensor gc = g[0].contiguous();
    const int64_t C = w_shape[1];
    Tensor dw = Tensor::zeros(w_shape);
    float* pw = dw.data<float>();
    const float* pg = gc.data<float>();
    // Sequential scatter-add: ids repeat, so a parallel version would race; the order
    // is fixed, which keeps results bit-reproducible.
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == padding_idx) continue;
      float* row = pw + ids[i] * C;
      const float* gr = pg + int64_t(i) * C;
      for (int64_t c = 0; c < C; ++c) row[c] += gr[c];
    }
    return {dw, Tensor()};
  }
};

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx) {
  HEED_CHECK(weight.dtype() == DType::F32 && weight.ndim() == 2,
             "embedding: weight must be a 2-D f32 tensor, got {} {}", weight.dtype(),
             weight.shape());
  HEED_CHECK(ids.dtype() == DType::I64 || ids.dtype() == DType::I32,
             "embedding: ids must be i64 or i32, got {}", ids.dtype());
  const int64_t V = weight.size(0), C = weight.size(1);
  std::vector<int64_t> idv = ids.to_ids();
  for (size_t i = 0; i < idv.size(); ++i)
    HEED_CHECK(idv[i] >= 0 && idv[i] < V,
               "embedding: id {} at position {} is out of range for a table of {} rows", idv[i],
               i, V);
  std::vector<int64_t> od = ids.shape().dims();
  od.push_back(C);
  Tensor out = Tensor::empty(Shape(od));
  const Tensor wc = weight.contiguous();
  const float* pw = wc.data<float>();
  float* o = out.data<float>();
  parallel_for(int64_t(idv.size()), C, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      std::memcpy(o + i * C, pw + idv[size_t(i)] * C, size_t(C) * sizeof(float));
  });
  if (autograd::needs_grad({weight})) {
    auto n = std::make_shared<EmbeddingBackward>();
    n->w_shape = weight.shape();
    n->ids = std::move(idv);
    n->padding_idx = padding_idx;
    autograd::connect(n, {weight, Tensor()}, {&out});
  }
  return out;
}

}  // namespace heed::ops
