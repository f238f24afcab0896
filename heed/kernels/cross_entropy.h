// Fused log-softmax + NLL over rows of logits (N x V), as torch.nn.functional.cross_entropy
// with ignore_index and label_smoothing. Per-row results; the op layer reduces.
//   loss_n = (1 - ls) * (lse_n - x_n[t_n]) + ls * (lse_n - mean_v x_n[v])
// Rows whose target == ignore_index get loss 0 and no gradient.
#pragma once

#include <cstdint>

namespace heed::kernels {

// losses (N), lse (N) saved for the backward. Targets must be in [0, V) or ignore_index
// (checked by the op layer, not here).
void cross_entropy_forward(float* losses, float* lse, const float* logits, const int64_t* targets,
                           int64_t N, int64_t V, int64_t ignore_index, float label_smoothing);
// dlogits += dloss[n] * (softmax(x_n) - ((1-ls) * onehot(t_n) + ls / V))
void cross_entropy_backward(float* dlogits, const float* dloss, const float* logits,
                            const float* lse, const int64_t* targets, int64_t N, int64_t V,
                            int64_t ignore_index, float label_smoothing);
// In place, for a fused head that keeps one buffer: logits[n] becomes
// dloss[n] * (softmax(x_n) - ((1-ls) * onehot(t_n) + ls / V)); ignored rows become 0.
void cross_entropy_grad_inplace(float* logits, const float* dloss, const float* lse,
                                const int64_t* targets, int64_t N, int64_t V, int64_t ignore_index,
                                float label_smoothing);

void cross_entropy_forward_ref(float* losses, float* lse, const float* logits,
                               const int64_t* targets, int64_t N, int64_t V, int64_t ignore_index,
                               float label_smoothing);
void cross_entropy_backward_ref(float* dlogits, const float* dloss, const float* logits,
                                const float* lse, const int64_t* targets, int64_t N, int64_t V,
                                int64_t ignore_index, float label_smoothing);

}  // namespace heed::kernels
