// bf16 mixed precision for training, in the manner of torch.autocast(dtype=torch.bfloat16)
// on CPU: inside an Autocast scope, ops::linear multiplies bf16 copies of its input and
// weight (AVX512_BF16 through oneDNN) with f32 accumulation and f32 output. Its backward
// also runs in bf16 (dx = bf16(g) W, dW = bf16(g)^T x) and it saves the bf16 copy of x,
// half the bytes of the f32 one. Parameters, gradients, optimizer state and every other
// op (LayerNorm, softmax, attention, losses) stay f32, so no loss scaling is needed:
// bf16 has f32's exponent range.
//
// The setting is per thread; the backward of an op follows the precision it was
// recorded with, whatever the setting when backward() runs.
#pragma once

namespace heed::ops {

enum class MatmulPrecision { F32, BF16 };

MatmulPrecision matmul_precision();

class Autocast {
 public:
  explicit Autocast(MatmulPrecision p = MatmulPrecision::BF16);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  MatmulPrecision prev_;
};

}  // namespace heed::ops
