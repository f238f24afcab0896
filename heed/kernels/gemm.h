// GEMM glue over oneDNN (chosen over OpenBLAS by measurement: docs/architecture.md).
// Row-major. C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
#pragma once

#include <cstdint>

namespace heed::kernels {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc);

// batch independent GEMMs; the i-th uses A + i*stride_a, B + i*stride_b, C + i*stride_c.
// A stride of 0 broadcasts that operand.
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B,
                  int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                  int64_t stride_c);

// Scalar triple loop, the truth the fast path is tested against.
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
              int64_t ldc);

}  // namespace heed::kernels
