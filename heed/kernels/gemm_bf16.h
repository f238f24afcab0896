// bf16 GEMM for mixed-precision training: C (f32) = alpha * op(A) * op(B) + beta * C with A
// and B in bf16 (uint16_t bits), products and sums in f32. Row-major, op(X) = X or X^T, any
// leading dimensions, as kernels::gemm.
//
// It runs oneDNN's matmul primitive (AVX512_BF16 vdpbf16ps where the CPU has it). oneDNN
// 2.6 has no bf16 entry in its BLAS-like API (only dnnl_sgemm and the int8 gemms), so the
// primitive is created per shape/stride/transpose and cached per thread: training repeats
// a handful of shapes. Where oneDNN has no bf16 matmul for the CPU (AVX2-only machines),
// the operands are widened to f32 and dnnl_sgemm runs: the same numbers, slower.
#pragma once

#include <cstdint>

namespace heed::kernels {

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta,
               float* C, int64_t ldc);

// True when gemm_bf16 runs on oneDNN's bf16 matmul (not the f32 fallback) on this CPU.
bool gemm_bf16_native();

// The truth for tests: widen to f32 and run the scalar triple loop (gemm_ref).
void gemm_bf16_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta,
                   float* C, int64_t ldc);

}  // namespace heed::kernels
