// Which Highway targets the row-wise kernels are compiled for. Include this first in a
// kernel .cc, before hwy/foreach_target.h. Dispatch picks the best at run time:
// AVX3 (AVX-512: Skylake-X, Zen 4/5), else AVX2 (Haswell+, Zen 1-3), else the portable
// one-lane fallback (HWY_SCALAR with GCC 12 + hwy 1.0.3, which is always compiled).
// SSSE3/SSE4 are skipped: they would add compile time for pre-2013 CPUs only, which still
// run correctly on the fallback. hwy 1.0.3 has no AVX3_ZEN4 target; AVX3_DL is opt-in and
// adds nothing these float kernels use. Tests force each target in turn
// (tests/kernels/rowwise_test_util.h, for_each_target).
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
