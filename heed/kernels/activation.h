// Pointwise activations over n contiguous floats. Backward accumulates (dinp +=).
//   gelu:      x * 0.5 * (1 + erf(x / sqrt(2)))            (exact, as BERT uses)
//   gelu_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (HF "gelu_new")
#pragma once

#include <cstdint>

namespace heed::kernels {

void gelu_forward(float* out, const float* inp, int64_t n);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n);
void gelu_tanh_forward(float* out, const float* inp, int64_t n);
void gelu_tanh_backward(float* dinp, const float* inp, const float* dout, int64_t n);
void relu_forward(float* out, const float* inp, int64_t n);
void relu_backward(float* dinp, const float* inp, const float* dout, int64_t n);
void tanh_forward(float* out, const float* inp, int64_t n);
// uses the forward output: dinp += dout * (1 - out^2)
void tanh_backward(float* dinp, const float* out, const float* dout, int64_t n);

void gelu_forward_ref(float* out, const float* inp, int64_t n);
void gelu_backward_ref(float* dinp, const float* inp, const float* dout, int64_t n);
void gelu_tanh_forward_ref(float* out, const float* inp, int64_t n);
void gelu_tanh_backward_ref(float* dinp, const float* inp, const float* dout, int64_t n);
void relu_forward_ref(float* out, const float* inp, int64_t n);
void relu_backward_ref(float* dinp, const float* inp, const float* dout, int64_t n);
void tanh_forward_ref(float* out, const float* inp, int64_t n);
void tanh_backward_ref(float* dinp, const float* out, const float* dout, int64_t n);

}  // namespace heed::kernels
