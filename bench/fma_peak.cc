// The machine's measured FMA peak, the roofline every compute-bound benchmark is
// compared against. Independent accumulators hide the FMA latency; each lane-FMA is
// 2 FLOPs. AVX-512 and AVX2 are chosen by CPU feature at run time. Also the bf16
// dot-product (vdpbf16ps: 2 bf16 pairs per lane -> 4 FLOPs) and int8 VNNI (vpdpbusd: 4
// u8*s8 pairs per lane -> 8 OPs) peaks, where the CPU has them.
#include <benchmark/benchmark.h>
// GCC 12 warns falsely inside its own AVX-512 intrinsic headers (set1/reduce helpers).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

namespace {

constexpr int64_t kIters = 1 << 20;

__attribute__((target("avx512f"))) float fma512(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.0f);
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float fma256(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.0f);
  const __m256 a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(0.9999999f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f,avx512bf16"))) float bf16dot512(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.0f);
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) int vnni512(int64_t iters) {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_setzero_si512();
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
  return _mm512_reduce_add_epi32(s);
}

enum Kind { kF32, kBF16, kInt8 };

void BM_Peak(benchmark::State& state) {
  const Kind kind = Kind(state.range(0));
  const int threads = int(state.range(1));
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if ((kind == kBF16 && !__builtin_cpu_supports("avx512bf16")) ||
      (kind == kInt8 && !__builtin_cpu_supports("avx512vnni"))) {
    state.SkipWithError("CPU lacks this instruction");
    return;
  }
  double ops_per_iter = 0;
  const char* name = "";
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      if (kind == kF32) benchmark::DoNotOptimize(avx512 ? fma512(kIters) : fma256(kIters));
      if (kind == kBF16) benchmark::DoNotOptimize(bf16dot512(kIters));
      if (kind == kInt8) benchmark::DoNotOptimize(vnni512(kIters));
    }
  }
  const double lanes = (kind == kF32 && !avx512) ? 8 : 16;
  const double per_lane = kind == kF32 ? 2 : kind == kBF16 ? 4 : 8;
  ops_per_iter = double(threads) * double(kIters) * 12 * lanes * per_lane;
  name = kind == kF32 ? (avx512 ? "f32 vfmadd231ps zmm" : "f32 vfmadd231ps ymm")
         : kind == kBF16 ? "bf16 vdpbf16ps" : "int8 vpdpbusd";
  state.counters["GFLOP/s"] = benchmark::Counter(ops_per_iter, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.SetLabel(std::string(name) + ", " + std::to_string(threads) + " thread(s)");
}

}  // namespace

BENCHMARK(BM_Peak)->Args({kF32, 1})->Args({kF32, 2})->Args({kBF16, 1})->Args({kBF16, 2})
    ->Args({kInt8, 1})->Args({kInt8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
