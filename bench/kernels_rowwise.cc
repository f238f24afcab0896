// Row-wise and elementwise kernels, fast (Highway, threaded) vs scalar reference, at
// BERT-base shapes. Bytes are the minimum traffic (each input read once, each output
// written once, accumulated outputs read and written), so GB/s compares with memcpy.
//   ./bench_kernels_rowwise --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "heed/base/rng.h"
#include "heed/kernels/activation.h"
#include "heed/kernels/adamw.h"
#include "heed/kernels/cross_entropy.h"
#include "heed/kernels/dropout.h"
#include "heed/kernels/layer_norm.h"
#include "heed/kernels/softmax.h"

namespace heed::kernels {
namespace {

// Inputs in [-2, 2]: a random normal every 4093 floats over a ramp, so that setup of the
// 125M-float cross-entropy logits does not take longer than the benchmarks.
std::vector<float> randn(int64_t n, uint64_t seed) {
  Generator g(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = (i % 4093 == 0) ? g.normal() : float(i % 97) / 24.0f - 2.0f;
  return v;
}

constexpr int64_t kF = sizeof(float);

// ---- softmax: rows 1024 x cols {128, 512, 4096}; bytes = read + write.
template <bool kRef>
void BM_Softmax(benchmark::State& state) {
  const int64_t rows = 1024, cols = state.range(0);
  const auto x = randn(rows * cols, 1);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    (kRef ? softmax_forward_ref : softmax_forward)(y.data(), x.data(), rows, cols);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * rows * cols * kF);
}
BENCHMARK(BM_Softmax<false>)->Name("softmax_fwd")->Arg(128)->Arg(512)->Arg(4096)->UseRealTime();
BENCHMARK(BM_Softmax<true>)->Name("softmax_fwd_ref")->Arg(128)->Arg(512)->Arg(4096)->UseRealTime();

// ---- layer_norm forward + backward, (B*T) = 1024*8 rows x 768.
// bytes: fwd reads x, writes out; bwd reads dout, x, reads+writes dinp.
template <bool kRef>
void BM_LayerNorm(benchmark::State& state) {
  const int64_t rows = 1024 * 8, cols = 768;
  const auto x = randn(rows * cols, 2), dout = randn(rows * cols, 3);
  const auto w = randn(cols, 4), b = randn(cols, 5);
  std::vector<float> y(x.size()), dx(x.size(), 0.0f), mean(rows), rstd(rows);
  std::vector<float> dw(cols, 0.0f), db(cols, 0.0f);
  for (auto _ : state) {
    (kRef ? layer_norm_forward_ref : layer_norm_forward)(
        y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows, cols, 1e-12f);
    (kRef ? layer_norm_backward_ref : layer_norm_backward)(dx.data(), dw.data(), db.data(),
                                                           dout.data(), x.data(), w.data(),
                                                           mean.data(), rstd.data(), rows, cols);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetBytesProcessed(state.iterations() * 6 * rows * cols * kF);
}
BENCHMARK(BM_LayerNorm<false>)->Name("layer_norm_fwd_bwd")->UseRealTime();
BENCHMARK(BM_LayerNorm<true>)->Name("layer_norm_fwd_bwd_ref")->UseRealTime();

// The FFN activation of B=8, T=128, F=3072.
constexpr int64_t kGeluN = 8 * 128 * 3072;

// ---- dropout (p = 0.1, Philox4x32-10 mask) over the same FFN activation.
template <bool kRef>
void BM_Dropout(benchmark::State& state) {
  const auto x = randn(kGeluN, 9);
  std::vector<float> y(x.size());
  uint64_t offset = 0;
  for (auto _ : state) {
    (kRef ? dropout_apply_ref : dropout_apply)(y.data(), x.data(), kGeluN, 0.1f, 77, offset);
    offset += uint64_t(kGeluN);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * kGeluN * kF);
  state.counters["ns_per_elem"] = benchmark::Counter(
      double(state.iterations() * kGeluN), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Dropout<false>)->Name("dropout")->UseRealTime();
BENCHMARK(BM_Dropout<true>)->Name("dropout_ref")->UseRealTime();

// ---- gelu (exact, erf) over the same activation.

template <bool kRef>
void BM_GeluFwd(benchmark::State& state) {
  const auto x = randn(kGeluN, 6);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    (kRef ? gelu_forward_ref : gelu_forward)(y.data(), x.data(), kGeluN);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * kGeluN * kF);
}
BENCHMARK(BM_GeluFwd<false>)->Name("gelu_fwd")->UseRealTime();
BENCHMARK(BM_GeluFwd<true>)->Name("gelu_fwd_ref")->UseRealTime();

template <bool kRef>
void BM_GeluBwd(benchmark::State& state) {
  const auto x = randn(kGeluN, 7), dout = randn(kGeluN, 8);
  std::vector<float> dx(x.size(), 0.0f);
  for (auto _ : state) {
    (kRef ? gelu_backward_ref : gelu_backward)(dx.data(), x.data(), dout.data(), kGeluN);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetBytesProcessed(state.iterations() * 4 * kGeluN * kF);
}
BENCHMARK(BM_GeluBwd<false>)->Name("gelu_bwd")->UseRealTime();
BENCHMARK(BM_GeluBwd<true>)->Name("gelu_bwd_ref")->UseRealTime();

// ---- cross_entropy, N = 4096 rows over the BERT vocab V = 30522, label smoothing 0.1.
// Forward reads the logits; backward reads logits and reads+writes dlogits.
constexpr int64_t kCeN = 4096, kCeV = 30522;

struct CeData {
  std::vector<float> logits = randn(kCeN * kCeV, 9);
  std::vector<int64_t> targets;
  std::vector<float> losses = std::vector<float>(kCeN), lse = std::vector<float>(kCeN);
  std::vector<float> dloss = std::vector<float>(kCeN, 1.0f / kCeN);
  CeData() {
    targets.resize(kCeN);
    for (int64_t i = 0; i < kCeN; ++i) targets[size_t(i)] = (i * 7919) % kCeV;
    targets[0] = -100;
  }
};
CeData& ce_data() {
  static CeData d;  // 500 MB of logits, shared by the four benchmarks
  return d;
}

template <bool kRef>
void BM_CrossEntropyFwd(benchmark::State& state) {
  auto& d = ce_data();
  for (auto _ : state) {
    (kRef ? cross_entropy_forward_ref : cross_entropy_forward)(
        d.losses.data(), d.lse.data(), d.logits.data(), d.targets.data(), kCeN, kCeV, -100, 0.1f);
    benchmark::DoNotOptimize(d.losses.data());
  }
  state.SetBytesProcessed(state.iterations() * kCeN * kCeV * kF);
}
BENCHMARK(BM_CrossEntropyFwd<false>)->Name("cross_entropy_fwd")->UseRealTime();
BENCHMARK(BM_CrossEntropyFwd<true>)->Name("cross_entropy_fwd_ref")->UseRealTime();

template <bool kRef>
void BM_CrossEntropyBwd(benchmark::State& state) {
  auto& d = ce_data();
  cross_entropy_forward(d.losses.data(), d.lse.data(), d.logits.data(), d.targets.data(), kCeN,
                        kCeV, -100, 0.1f);
  std::vector<float> dlogits(d.logits.size(), 0.0f);
  for (auto _ : state) {
    (kRef ? cross_entropy_backward_ref : cross_entropy_backward)(
        dlogits.data(), d.dloss.data(), d.logits.data(), d.lse.data(), d.targets.data(), kCeN, kCeV,
        -100, 0.1f);
    benchmark::DoNotOptimize(dlogits.data());
  }
  state.SetBytesProcessed(state.iterations() * 3 * kCeN * kCeV * kF);
}
BENCHMARK(BM_CrossEntropyBwd<false>)->Name("cross_entropy_bwd")->UseRealTime();
BENCHMARK(BM_CrossEntropyBwd<true>)->Name("cross_entropy_bwd_ref")->UseRealTime();

// ---- adamw over 11M floats (a tenth of BERT-base); reads p, m, v, g, writes p, m, v.
constexpr int64_t kAdamN = 110'000'000 / 10;

template <bool kRef>
void BM_AdamW(benchmark::State& state) {
  auto p = randn(kAdamN, 10);
  const auto g = randn(kAdamN, 11);
  std::vector<float> m(size_t(kAdamN), 0.0f), v(size_t(kAdamN), 0.0f);
  const AdamWHyper h{.lr = 1e-4f,
                     .beta1 = 0.9f,
                     .beta2 = 0.999f,
                     .eps = 1e-8f,
                     .weight_decay = 0.01f,
                     .bias_correction1 = 0.1f,
                     .bias_correction2 = 0.001f};
  for (auto _ : state) {
    (kRef ? adamw_update_ref : adamw_update)(p.data(), m.data(), v.data(), g.data(), kAdamN, h);
    benchmark::DoNotOptimize(p.data());
  }
  state.SetBytesProcessed(state.iterations() * 7 * kAdamN * kF);
}
BENCHMARK(BM_AdamW<false>)->Name("adamw")->UseRealTime();
BENCHMARK(BM_AdamW<true>)->Name("adamw_ref")->UseRealTime();

}  // namespace
}  // namespace heed::kernels

BENCHMARK_MAIN();
