// One threading runtime for the whole process: OpenMP (libgomp), which oneDNN uses
// too, so our kernels and the GEMM share one pool and never oversubscribe.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace heed {

inline int num_threads() { return omp_get_max_threads(); }
inline void set_num_threads(int n) { omp_set_num_threads(std::max(1, n)); }
inline bool in_parallel() { return omp_in_parallel() != 0; }

// Calls f(begin, end) on chunks of [0, n). Runs inline when the work is small
// (n * cost_per_item below ~32k "units") or when already inside a parallel region.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  if (n <= 0) return;
  const int64_t work = n * std::max<int64_t>(cost_per_item, 1);
  const int nt = omp_get_max_threads();
  if (nt <= 1 || work < 32768 || omp_in_parallel() || n == 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int T = omp_get_num_threads();
    const int64_t chunk = (n + T - 1) / T;
    const int64_t b = std::min<int64_t>(n, t * chunk);
    const int64_t e = std::min<int64_t>(n, b + chunk);
    if (b < e) f(b, e);
  }
}

}  // namespace heed
