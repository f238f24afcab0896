#include "heed/ops/attention.h"

#include <cmath>
#include <limits>

#include "heed/autograd/node.h"
#include "heed/kernels/attention.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/dropout.h"
#include "heed/ops/linear.h"
#include "heed/ops/softmax.h"
#include "heed/ops/view.h"

namespace heed::ops {

using autograd::Node;

namespace {

// Mask buffers kept alive for the kernel (and for the backward).
struct PreparedMask {
  Tensor key_mask;  // (B, S) u8
  Tensor bias;      // f32, dims of size 1 broadcast (stride 0)
  int64_t sb = 0, sh = 0, st = 0;
};

PreparedMask prepare_mask(const Tensor& mask, int64_t B, int64_t H, int64_t T, int64_t S) {
  PreparedMask pm;
  if (!mask.defined()) return pm;
  if (mask.dtype() != DType::F32) {
    HEED_CHECK(mask.shape() == Shape({B, S}),
               "attention: key-padding mask shape {} must be (B, S) = ({}, {})", mask.shape(), B,
               S);
    pm.key_mask = mask.to(DType::U8).contiguous();
    return pm;
  }
  HEED_CHECK(mask.ndim() >= 1 && mask.ndim() <= 4 && mask.size(-1) == S,
             "attention: additive mask shape {} does not broadcast to (B, H, T, S) = ({}, {}, {}, {})",
             mask.shape(), B, H, T, S);
  std::vector<int64_t> d4(4, 1);
  for (int64_t i = 0; i < mask.ndim(); ++i) d4[size_t(4 - mask.ndim() + i)] = mask.shape()[i];
  const int64_t full[4] = {B, H, T, S};
  for (int i = 0; i < 4; ++i)
    HEED_CHECK(d4[size_t(i)] == 1 || d4[size_t(i)] == full[i],
               "attention: additive mask shape {} does not broadcast to (B, H, T, S) = ({}, {}, {}, {})",
               mask.shape(), B, H, T, S);
  pm.bias = mask.contiguous();
  pm.sb = d4[0] == 1 ? 0 : d4[1] * d4[2] * S;
  pm.sh = d4[1] == 1 ? 0 : d4[2] * S;
  pm.st = d4[2] == 1 ? 0 : S;
  return pm;
}

kernels::AttentionParams make_params(int64_t B, int64_t H, int64_t T, int64_t S, int64_t D,
                                     float scale, bool causal, const PreparedMask& pm) {
  kernels::AttentionParams p;
  p.B = B;
  p.H = H;
  p.T = T;
  p.S = S;
  p.D = D;
  p.scale = scale;
  p.causal = causal;
  if (pm.key_mask.defined()) p.key_mask = pm.key_mask.data<uint8_t>();
  if (pm.bias.defined()) {
    p.bias = pm.bias.data<float>();
    p.bias_sb = pm.sb;
    p.bias_sh = pm.sh;
    p.bias_st = pm.st;
  }
  return p;
}

struct AttentionBackward : Node {
  Tensor q, k, v, out, lse;
  PreparedMask mask;
  kernels::AttentionParams params;  // pointers re-bound from `mask` in backward
  const char* name() const override { return "scaled_dot_product_attention"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    kernels::AttentionParams p = make_params(params.B, params.H, params.T, params.S, params.D,
                                             params.scale, params.causal, mask);
    p.dropout_p = params.dropout_p;
    p.dropout_seed = params.dropout_seed;
    p.dropout_offset = params.dropout_offset;
    const Tensor gc = g[0].contiguous();
    Tensor dq = Tensor::zeros(q.shape()), dk = Tensor::zeros(k.shape()),
           dv = Tensor::zeros(v.shape());
    kernels::attention_backward(dq.data<float>(), dk.data<float>(), dv.data<float>(),
                                gc.data<float>(), q.data<float>(), k.data<float>(),
                                v.data<float>(), out.data<float>(), lse.data<float>(), p);
    return {needs_input_grad(0) ? dq : Tensor(), needs_input_grad(1) ? dk : Tensor(),
            needs_input_grad(2) ? dv : Tensor(), Tensor()};
  }
};

void check_qkv(const Tensor& q, const Tensor& k, const Tensor& v) {
  HEED_CHECK(q.dtype() == DType::F32 && k.dtype() == DType::F32 && v.dtype() == DType::F32,
             "attention: q, k, v must be f32, got {}, {}, {}", q.dtype(), k.dtype(), v.dtype());
  HEED_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4,
             "attention: q {}, k {}, v {} must be 4-D (B, H, T|S, D)", q.shape(), k.shape(),
             v.shape());
  HEED_CHECK(q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3),
             "attention: q {} and k {} differ in batch, heads or head dim", q.shape(), k.shape());
  HEED_CHECK(k.shape() == v.shape(), "attention: k {} and v {} must have the same shape",
             k.shape(), v.shape());
}

}  // namespace

AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const AttentionOptions& opt) {
  check_qkv(q, k, v);
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), S = k.size(2);
  HEED_CHECK(opt.dropout_p >= 0.0f && opt.dropout_p < 1.0f,
             "attention: dropout_p must be in [0, 1), got {}", opt.dropout_p);
  HEED_CHECK(opt.dropout_p == 0.0f || opt.gen != nullptr,
             "attention: dropout_p > 0 needs a generator");
  const float scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(float(D));
  const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  PreparedMask pm = prepare_mask(opt.mask, B, H, T, S);
  kernels::AttentionParams p = make_params(B, H, T, S, D, scale, opt.causal, pm);
  if (opt.dropout_p > 0.0f) {
    p.dropout_p = opt.dropout_p;
    p.dropout_seed = opt.gen->seed();
    p.dropout_offset = opt.gen->reserve(uint64_t(B * H * T * S));
  }
  Tensor out = Tensor::empty(q.shape());
  Tensor lse = Tensor::empty(Shape{B, H, T});
  kernels::attention_forward(out.data<float>(), lse.data<float>(), qc.data<float>(),
                             kc.data<float>(), vc.data<float>(), p);
  AttentionResult res;
  if (opt.return_probs) {
    res.probs = Tensor::empty(Shape{B, H, T, S});
    kernels::attention_probs(res.probs.data<float>(), qc.data<float>(), kc.data<float>(),
                             lse.data<float>(), p);
  }
  if (autograd::needs_grad({q, k, v})) {
    auto n = std::make_shared<AttentionBackward>();
    n->q = qc.detach();
    n->k = kc.detach();
    n->v = vc.detach();
    n->out = out.detach();
    n->lse = lse;
    n->mask = pm;
    n->params = p;
    autograd::connect(n, {q, k, v, Tensor()}, {&out});
  }
  res.out = out;
  return res;
}

Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                              const AttentionOptions& opt) {
  check_qkv(q, k, v);
  const int64_t B = q.size(0), T = q.size(2), D = q.size(3), S = k.size(2);
  const float scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(float(D));
  Tensor scores = ops::scale(matmul(q, transpose(k, -2, -1)), scale);  // (B, H, T, S)
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> add(static_cast<size_t>(B * T * S), 0.0f);
  bool any = false;
  if (opt.mask.defined() && opt.mask.dtype() != DType::F32) {
    const auto km = opt.mask.to_ids();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = 0; s < S; ++s)
          if (!km[size_t(b * S + s)]) add[size_t((b * T + t) * S + s)] = ninf, any = true;
  }
  if (opt.causal)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = t + (S - T) + 1; s < S; ++s)
          if (s >= 0) add[size_t((b * T + t) * S + s)] = ninf, any = true;
  if (any) scores = ops::add(scores, Tensor::from_vector(add, Shape{B, 1, T, S}));
  if (opt.mask.defined() && opt.mask.dtype() == DType::F32) scores = ops::add(scores, opt.mask);
  Tensor probs = softmax(scores, -1);
  if (opt.dropout_p > 0.0f) probs = dropout(probs, opt.dropout_p, *opt.gen, true);
  return matmul(probs, v);
}

}  // namespace heed::ops
