// The SIMD target that Highway's runtime dispatch picks on this CPU.
#pragma once

namespace heed::kernels {

const char* simd_target_name();  // e.g. "AVX3" (AVX-512), "AVX2", "EMU128"

}  // namespace heed::kernels
