// Fused attention vs the scalar reference. Args: B, H, T (= S), causal; D = 64.
// FLOP/s counts forward = 4 B H T S D (two matmuls), backward = 2.5x that (five matmuls);
// causal runs count half, the work actually needed.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "heed/base/rng.h"
#include "heed/kernels/attention.h"
#include "heed/kernels/attention_bf16.h"

namespace {

using heed::kernels::AttentionParams;
constexpr int64_t kD = 64;

struct Inputs {
  AttentionParams p;
  std::vector<float> q, k, v, out, lse, dout, dq, dk, dv;
  explicit Inputs(const benchmark::State& state) {
    p = {.B = state.range(0),
         .H = state.range(1),
         .T = state.range(2),
         .S = state.range(2),
         .D = kD,
         .scale = 1.0f / std::sqrt(float(kD)),
         .causal = state.range(3) != 0};
    const size_t n = size_t(p.B * p.H * p.T * kD);
    heed::Generator g(42);
    for (auto* x : {&q, &k, &v, &dout}) {
      x->resize(n);
      for (float& e : *x) e = g.normal();
    }
    out.resize(n), dq.resize(n), dk.resize(n), dv.resize(n);
    lse.resize(size_t(p.B * p.H * p.T));
  }
  double forward_flops() const {
    return 4.0 * double(p.B * p.H) * double(p.T) * double(p.S) * kD * (p.causal ? 0.5 : 1.0);
  }
};

void set_rate(benchmark::State& state, double flops) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops * double(state.iterations()), benchmark::Counter::kIsRate);
}

template <auto Forward>
void BM_Forward(benchmark::State& state) {
  Inputs in(state);
  for (auto _ : state) {
    Forward(in.out.data(), in.lse.data(), in.q.data(), in.k.data(), in.v.data(), in.p);
    benchmark::ClobberMemory();
  }
  set_rate(state, in.forward_flops());
}

template <auto Forward, auto Backward>
void BM_Backward(benchmark::State& state) {
  Inputs in(state);
  Forward(in.out.data(), in.lse.data(), in.q.data(), in.k.data(), in.v.data(), in.p);
  for (auto _ : state) {
    Backward(in.dq.data(), in.dk.data(), in.dv.data(), in.dout.data(), in.q.data(), in.k.data(),
             in.v.data(), in.out.data(), in.lse.data(), in.p);
    benchmark::ClobberMemory();
  }
  set_rate(state, 2.5 * in.forward_flops());
}

// Inference attention with bf16 products, reading q, k, v from fused-QKV rows (B*T, 3*H*D)
// as BertEngine does; same FLOP count as the f32 forward (non-causal only).
template <auto Forward>
void BM_ForwardBf16(benchmark::State& state) {
  if (!heed::kernels::attention_bf16_supported(kD)) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  const int64_t B = state.range(0), H = state.range(1), T = state.range(2), C = H * kD;
  heed::kernels::TokenAttentionParams p{.B = B, .H = H, .T = T, .D = kD,
                                        .scale = 1.0f / std::sqrt(float(kD))};
  p.ldq = p.ldk = p.ldv = 3 * C;
  p.ldo = C;
  std::vector<float> qkv(size_t(B * T * 3 * C)), out(size_t(B * T * C));
  heed::Generator g(42);
  for (float& e : qkv) e = g.normal();
  for (auto _ : state) {
    Forward(out.data(), qkv.data(), qkv.data() + C, qkv.data() + 2 * C, p);
    benchmark::ClobberMemory();
  }
  set_rate(state, 4.0 * double(B * H) * double(T) * double(T) * kD);
}

void FastArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "H", "T", "causal"});
  for (int64_t causal : {0, 1}) {
    for (int64_t T : {128, 512, 4096}) b->Args({1, 12, T, causal});
    b->Args({8, 12, 128, causal});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void RefArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "H", "T", "causal"});
  for (int64_t T : {128, 512}) b->Args({1, 12, T, 0});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

using heed::kernels::attention_backward;
using heed::kernels::attention_backward_ref;
using heed::kernels::attention_forward;
using heed::kernels::attention_forward_ref;
using heed::kernels::attention_forward_bf16;

BENCHMARK(BM_Forward<attention_forward>)->Name("attention_forward")->Apply(FastArgs);
BENCHMARK(BM_Backward<attention_forward, attention_backward>)
    ->Name("attention_backward")
    ->Apply(FastArgs);
BENCHMARK(BM_ForwardBf16<attention_forward_bf16>)
    ->Name("attention_forward_bf16")
    ->ArgNames({"B", "H", "T"})
    ->Args({1, 12, 128})
    ->Args({8, 12, 128})
    ->Args({1, 12, 512})
    ->Args({32, 4, 128})
    ->Args({1, 12, 4096})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Forward<attention_forward_ref>)->Name("attention_forward_ref")->Apply(RefArgs);
BENCHMARK(BM_Backward<attention_forward_ref, attention_backward_ref>)
    ->Name("attention_backward_ref")
    ->Apply(RefArgs);

}  // namespace

BENCHMARK_MAIN();
