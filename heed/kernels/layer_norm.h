// LayerNorm over the last dimension: out = (x - mean) * rstd * weight + bias.
// mean and rstd (rows) are saved for the backward. weight/bias may be null (no affine).
#pragma once

#include <cstdint>

namespace heed::kernels {

void layer_norm_forward(float* out, float* mean, float* rstd, const float* inp,
                        const float* weight, const float* bias, int64_t rows, int64_t cols,
                        float eps);
// dinp += ...; dweight += ...; dbias += ... (any of the three may be null to skip it)
void layer_norm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                         const float* inp, const float* weight, const float* mean,
                         const float* rstd, int64_t rows, int64_t cols);

void layer_norm_forward_ref(float* out, float* mean, float* rstd, const float* inp,
                            const float* weight, const float* bias, int64_t rows, int64_t cols,
                            float eps);
void layer_norm_backward_ref(float* dinp, float* dweight, float* dbias, const float* dout,
                             const float* inp, const float* weight, const float* mean,
                             const float* rstd, int64_t rows, int64_t cols);

}  // namespace heed::kernels
