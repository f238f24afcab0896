// GEMM at BERT-base shapes through heed::kernels::gemm (oneDNN), in GFLOP/s.
// Compare with bench_fma_peak for the fraction of the machine's FMA peak.
//   y = x W^T with x (M, K), W (N, K): M = 1024 tokens (8 x 128), K/N from BERT-base.
#include <benchmark/benchmark.h>

#include <vector>

#include "heed/base/parallel.h"
#include "heed/base/rng.h"
#include "heed/kernels/gemm.h"

namespace {

void BM_GemmLinear(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const int threads = int(state.range(3));
  heed::set_num_threads(threads);
  heed::Generator g(1);
  std::vector<float> A(size_t(M * K)), B(size_t(N * K)), C(size_t(M * N));
  for (auto& v : A) v = g.uniform() - 0.5f;
  for (auto& v : B) v = g.uniform() - 0.5f;
  for (auto _ : state) {
    heed::kernels::gemm(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, C.data(), N);
    benchmark::DoNotOptimize(C.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(std::to_string(threads) + " thread(s)");
}

// Backward shapes: dX = dY W (no transpose) and dW = dY^T X (transposed A).
void BM_GemmBackward(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool weight_grad = state.range(3) != 0;
  heed::set_num_threads(2);
  heed::Generator g(1);
  std::vector<float> A(size_t(M * std::max(N, K))), B(size_t(N * K)), C(size_t(std::max(M, N) * K));
  for (auto& v : A) v = g.uniform() - 0.5f;
  for (auto& v : B) v = g.uniform() - 0.5f;
  for (auto _ : state) {
    if (weight_grad)  // dW (N, K) = dY^T (N, M) @ X (M, K)
      heed::kernels::gemm(true, false, N, K, M, 1.0f, A.data(), N, B.data(), K, 0.0f, C.data(), K);
    else  // dX (M, K) = dY (M, N) @ W (N, K)
      heed::kernels::gemm(false, false, M, K, N, 1.0f, A.data(), N, B.data(), K, 0.0f, C.data(), K);
    benchmark::DoNotOptimize(C.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(weight_grad ? "dW = dY^T X" : "dX = dY W");
}

}  // namespace

// {M, N, K, threads}
BENCHMARK(BM_GemmLinear)
    ->Args({1024, 768, 768, 1})->Args({1024, 3072, 768, 1})->Args({1024, 768, 3072, 1})
    ->Args({1024, 768, 768, 2})->Args({1024, 3072, 768, 2})->Args({1024, 768, 3072, 2})
    ->Args({1024, 2304, 768, 2})  // fused QKV
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GemmBackward)
    ->Args({1024, 768, 768, 0})->Args({1024, 3072, 768, 0})
    ->Args({1024, 768, 768, 1})->Args({1024, 3072, 768, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
