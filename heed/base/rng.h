// Seedable, counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
// Every random draw is a pure function of (seed, index), so results do not depend
// on the thread count and a generator's whole state is two integers, which makes
// checkpoints and bit-identical resume easy. There is no hidden global RNG.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace heed {

inline std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c0 = n0;
    c1 = uint32_t(p1);
    c2 = n2;
    c3 = uint32_t(p0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

// Uniform float in [0, 1) from 24 random bits.
inline float u32_to_unit(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }

// The index-th uniform of the stream keyed by seed.
inline float philox_uniform(uint64_t seed, uint64_t index) {
  return u32_to_unit(philox4x32(seed, index >> 2)[index & 3]);
}

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }

  // Reserves n draws for a kernel that evaluates philox_uniform(seed(), start + i)
  // itself (in parallel); returns start. Rounded to whole Philox blocks.
  uint64_t reserve(uint64_t n) {
    const uint64_t start = offset_;
    offset_ += (n + 3) & ~uint64_t(3);
    return start;
  }

  uint32_t next_u32() {
    const uint64_t i = offset_++;
    return philox4x32(seed_, i >> 2)[i & 3];
  }
  float uniform() { return u32_to_unit(next_u32()); }
  // Uniform integer in [0, n).
  uint64_t randint(uint64_t n) {
    const uint64_t hi = next_u32(), lo = next_u32();
    return ((hi << 32) | lo) % n;
  }
  // Standard normal, Box-Muller.
  float normal() {
    float u1 = uniform();
    const float u2 = uniform();
    if (u1 < 1e-12f) u1 = 1e-12f;
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647f * u2);
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace heed
