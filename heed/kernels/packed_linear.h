// A linear layer whose weights are packed once for oneDNN's matmul primitive, for
// inference: out (M, N) = act(in (M, K) W^T + bias), or out += in W^T + bias.
//   F32   in f32,  weights f32 (oneDNN brgemm, AVX-512 or AVX2 picked at run time)
//   BF16  in bf16, weights bf16 (AVX512_BF16 vdpbf16ps), f32 accumulation; out f32 or bf16
//   Int8  in u8 (per-row asymmetric), weights s8 (per-output-channel symmetric), s32
//         accumulation (VNNI vpdpbusd); the dequantising epilogue is ours (int8_epilogue),
//         because oneDNN 2.6 has no per-row (per-token) scales.
// Primitives are created per M on first use and cached (packing is shape-specific in
// oneDNN); bias and GELU are fused as oneDNN post-ops, the residual add as a "sum" post-op.
#pragma once

#include <cstdint>
#include <memory>

namespace heed::kernels {

enum class LinearPrecision { F32, BF16, Int8 };
enum class LinearAct { None, Gelu };

struct PackedLinearConfig {
  int64_t in = 0, out = 0;  // K, N
  LinearPrecision precision = LinearPrecision::F32;
  LinearAct act = LinearAct::None;
  bool accumulate = false;  // out += in W^T + bias (the residual add), instead of out =
  bool bf16_out = false;    // BF16 only: write bf16 (a uint16_t buffer) instead of f32
};

class PackedLinear {
 public:
  // weight (out, in) row-major f32 (as nn.Linear), bias (out) or null. Copied and packed;
  // the caller's buffers may be freed afterwards. Int8 quantizes per output channel here.
  PackedLinear(const float* weight, const float* bias, const PackedLinearConfig& cfg);
  // Int8 from an already quantized checkpoint: w (out, in) s8, w_scale (out).
  PackedLinear(const int8_t* weight, const float* w_scale, const float* bias,
               const PackedLinearConfig& cfg);
  ~PackedLinear();
  PackedLinear(PackedLinear&&) noexcept;
  PackedLinear& operator=(PackedLinear&&) noexcept;

  // F32: in f32. BF16: in bf16 (uint16_t). out per config. M rows.
  void forward(void* out, const void* in, int64_t M) const;
  // Int8: in u8 (M, K) with per-row scale and zero point (quantize_rows_u8), acc a
  // scratch of M*N int32. Applies bias, act and accumulate as configured.
  void forward_int8(float* out, const uint8_t* in, const float* in_scale, const int32_t* in_zp,
                    int32_t* acc, int64_t M) const;

  // Int8 without accumulate: as forward_int8, but the output goes straight to the next int8
  // layer's input, quantized per row (q (M, N), q_scale, q_zp as quantize_rows_u8 gives), and
  // the f32 output is never stored. Bit-identical to forward_int8 then quantize_rows_u8.
  void forward_int8_quantized(uint8_t* q, float* q_scale, int32_t* q_zp, const uint8_t* in,
                              const float* in_scale, const int32_t* in_zp, int32_t* acc,
                              int64_t M) const;

  const PackedLinearConfig& config() const { return cfg_; }
  // Bytes of packed weights (for the memory report).
  int64_t weight_bytes() const;
  // Per-channel s8 weights and scales (Int8 only), for writing a quantized checkpoint.
  void int8_weights(int8_t* w, float* scale) const;

 private:
  void int8_gemm(const uint8_t* in, int32_t* acc, int64_t M) const;  // acc = in W^T (s32)

  struct Impl;
  PackedLinearConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

// Per-channel symmetric s8 quantization of w (N, K): scale[n] = max|w[n,:]| / 127.
void quantize_weights_s8(int8_t* q, float* scale, const float* w, int64_t N, int64_t K);

}  // namespace heed::kernels
