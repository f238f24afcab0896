// Row-wise softmax and log-softmax over the last dimension (rows x cols, contiguous).
// Backward kernels accumulate into dinp (dinp +=). Each fast kernel has a scalar
// twin with the suffix _ref; tests compare them on awkward sizes.
#pragma once

#include <cstdint>

namespace heed::kernels {

void softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols);
// dinp += out * (dout - sum(dout * out))
void softmax_backward(float* dinp, const float* out, const float* dout, int64_t rows, int64_t cols);
void log_softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols);
// dinp += dout - exp(out) * sum(dout)
void log_softmax_backward(float* dinp, const float* out, const float* dout, int64_t rows,
                          int64_t cols);

void softmax_forward_ref(float* out, const float* inp, int64_t rows, int64_t cols);
void softmax_backward_ref(float* dinp, const float* out, const float* dout, int64_t rows,
                          int64_t cols);
void log_softmax_forward_ref(float* out, const float* inp, int64_t rows, int64_t cols);
void log_softmax_backward_ref(float* dinp, const float* out, const float* dout, int64_t rows,
                              int64_t cols);

}  // namespace heed::kernels
