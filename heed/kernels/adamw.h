// One AdamW step (Loshchilov & Hutter; torch.optim.AdamW semantics) over n floats:
//   p -= lr * weight_decay * p
//   m = b1 m + (1-b1) g ;  v = b2 v + (1-b2) g^2
//   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)      bc1 = 1-b1^t, bc2 = 1-b2^t
// Exactly, as torch 1.13 _single_tensor_adamw rounds it (see adamw.cc):
//   denom = sqrt(v) / sqrt(bc2) + eps;  p += (-(lr / bc1) * m) / denom
// Compute bias_correction1/2 in double from the betas as typed (0.9, 0.999), not from
// the float fields: 1 - 0.999f is 1.3e-5 away from torch's 1 - 0.999.
#pragma once

#include <cstdint>

namespace heed::kernels {

struct AdamWHyper {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1, bias_correction2;  // 1 - beta^t, computed by the caller
};

void adamw_update(float* param, float* m, float* v, const float* grad, int64_t n,
                  const AdamWHyper& h);
void adamw_update_ref(float* param, float* m, float* v, const float* grad, int64_t n,
                      const AdamWHyper& h);

}  // namespace heed::kernels
