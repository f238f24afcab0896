// GEMM at BERT-base shapes through heed::kernels::gemm (oneDNN), in GFLOP/s.
// Compare with bench_fma_peak for the fraction of the machine's FMA peak.
//   y = x W^T with x (M, K), W (N, K): M = 1024 tokens (8 x 128), K/N from BERT-base.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "heed/base/parallel.h"
#include "heed/base/rng.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/gemm_bf16.h"
#include "heed/kernels/infer_rowwise.h"

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

// The three GEMMs of a Linear in training at BERT-mini shapes (M = 32 x 128 tokens), f32
// (dnnl_sgemm) against bf16 mixed precision (gemm_bf16, operands already bf16):
//   0: y = x W^T,  1: dX = dY W,  2: dW = dY^T X.
void BM_GemmTrainStep(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const int which = int(state.range(3));
  const bool bf16 = state.range(4) != 0;
  heed::set_num_threads(2);
  heed::Generator g(1);
  const int64_t big = std::max({M * N, M * K, N * K});
  std::vector<float> A(static_cast<size_t>(big)), B(static_cast<size_t>(big)), C(static_cast<size_t>(big));
  for (auto& v : A) v = g.uniform() - 0.5f;
  for (auto& v : B) v = g.uniform() - 0.5f;
  std::vector<uint16_t> a16(A.size()), b16(B.size());
  heed::kernels::f32_to_bf16(a16.data(), A.data(), int64_t(A.size()));
  heed::kernels::f32_to_bf16(b16.data(), B.data(), int64_t(B.size()));
  // (trans_a, trans_b, m, n, k, lda, ldb, ldc)
  struct G { bool ta, tb; int64_t m, n, k, lda, ldb, ldc; };
  const G gs[3] = {{false, true, M, N, K, K, K, N},    // x (M,K) W (N,K)
                   {false, false, M, K, N, N, K, K},   // dY (M,N) W (N,K)
                   {true, false, N, K, M, N, K, K}};   // dY (M,N)^T X (M,K)
  const G& q = gs[which];
  for (auto _ : state) {
    if (bf16)
      heed::kernels::gemm_bf16(q.ta, q.tb, q.m, q.n, q.k, 1.0f, a16.data(), q.lda, b16.data(),
                               q.ldb, 0.0f, C.data(), q.ldc);
    else
      heed::kernels::gemm(q.ta, q.tb, q.m, q.n, q.k, 1.0f, A.data(), q.lda, B.data(), q.ldb, 0.0f,
                          C.data(), q.ldc);
    benchmark::DoNotOptimize(C.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(M * N * K), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  static const char* names[3] = {"y = x W^T", "dX = dY W", "dW = dY^T X"};
  state.SetLabel(std::string(names[which]) + (bf16 ? " bf16" : " f32"));
}

}  // namespace

BENCHMARK(BM_GemmTrainStep)
    ->ArgsProduct({{4096}, {256}, {256}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{4096}, {1024}, {256}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{4096}, {256}, {1024}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{4096}, {30522}, {256}, {0, 1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

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
