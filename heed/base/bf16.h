// bfloat16 storage type: the top 16 bits of an IEEE float, rounded to nearest even.
#pragma once

#include <cstdint>
#include <cstring>

namespace heed {

struct bf16 {
  uint16_t bits;
};

inline float bf16_to_float(bf16 v) {
  uint32_t u = uint32_t(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline bf16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
    return bf16{uint16_t((u >> 16) | 0x40)};  // keep NaN a (quiet) NaN
  }
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return bf16{uint16_t(u >> 16)};
}

// IEEE half precision (F16 checkpoints), converted on load.
float f16_to_float(uint16_t h);
uint16_t float_to_f16(float f);

}  // namespace heed
