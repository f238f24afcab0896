// Row-wise kernels of the inference engine (heed/infer): in-place LayerNorm that can also
// emit a bf16 copy for the next bf16 matmul, f32 -> bf16 conversion, per-row (per-token)
// u8 quantization, and the int8 matmul's dequantising epilogue. Highway dynamic dispatch;
// each has a scalar *_ref twin.
#pragma once

#include <cstdint>

namespace heed::kernels {

// x = LayerNorm(x) * weight + bias, in place, rows x cols. When bf16_out is not null it
// also receives the result rounded to bf16 (nearest even; NaN is not preserved).
void layer_norm_inplace_forward(float* x, uint16_t* bf16_out, const float* weight,
                                const float* bias, int64_t rows, int64_t cols, float eps);
void layer_norm_inplace_forward_ref(float* x, uint16_t* bf16_out, const float* weight,
                                    const float* bias, int64_t rows, int64_t cols, float eps);

// out = bf16(in), round to nearest even.
void f32_to_bf16(uint16_t* out, const float* in, int64_t n);
void f32_to_bf16_ref(uint16_t* out, const float* in, int64_t n);

// Asymmetric u8 per row: scale = (max - min) / 255 over the row with 0 included,
// zp = round(-min / scale), q = clamp(round(x / scale) + zp, 0, 255).
void quantize_rows_u8(uint8_t* q, float* scale, int32_t* zp, const float* x, int64_t rows,
                      int64_t cols);
void quantize_rows_u8_ref(uint8_t* q, float* scale, int32_t* zp, const float* x, int64_t rows,
                          int64_t cols);

// y = (acc - row_zp[m] * col_sum[n]) * row_scale[m] * col_scale[n] + bias[n]; then GELU
// (erf) when gelu; out = y, or out += y when accumulate. bias may be null.
void int8_epilogue(float* out, const int32_t* acc, const float* row_scale, const int32_t* row_zp,
                   const float* col_scale, const int32_t* col_sum, const float* bias, int64_t rows,
                   int64_t cols, bool gelu, bool accumulate);
void int8_epilogue_ref(float* out, const int32_t* acc, const float* row_scale,
                       const int32_t* row_zp, const float* col_scale, const int32_t* col_sum,
                       const float* bias, int64_t rows, int64_t cols, bool gelu, bool accumulate);

// int8_epilogue (without accumulate) followed by quantize_rows_u8 of its output, one row at
// a time through a row-sized scratch: the (rows, cols) f32 result is never written. For an
// int8 layer whose output is only the next int8 layer's input (the FFN's GELU up-projection).
// Bit-identical to the two calls in sequence.
void int8_epilogue_quantize(uint8_t* q, float* q_scale, int32_t* q_zp, const int32_t* acc,
                            const float* row_scale, const int32_t* row_zp, const float* col_scale,
                            const int32_t* col_sum, const float* bias, int64_t rows, int64_t cols,
                            bool gelu);

}  // namespace heed::kernels
