// Inverted-dropout mask over n contiguous floats, drawn from Philox4x32-10:
//   out[i] = in[i] / (1 - p)  if philox_uniform(seed, offset + i) >= p,  else 0
// (heed/base/rng.h: element idx is lane idx & 3 of Philox block idx >> 2). in may equal
// out. The fast path runs Philox on 8 (AVX-512) or 4 (AVX2) blocks per vector, chosen at
// run time, in parallel over chunks; it matches the scalar reference bit for bit.
#pragma once

#include <cstdint>

namespace heed::kernels {

void dropout_apply(float* out, const float* in, int64_t n, float p, uint64_t seed, uint64_t offset);
void dropout_apply_ref(float* out, const float* in, int64_t n, float p, uint64_t seed,
                       uint64_t offset);

}  // namespace heed::kernels
