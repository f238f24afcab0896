#include "heed/kernels/packed_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "heed/base/bf16.h"
#include "heed/base/error.h"
#include "heed/kernels/dnnl_context.h"
#include "heed/kernels/infer_rowwise.h"

namespace heed::kernels {

namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

}  // namespace

void quantize_weights_s8(int8_t* q, float* scale, const float* w, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) {
    const float* row = w + n * K;
    float m = 0.0f;
    for (int64_t k = 0; k < K; ++k) m = std::max(m, std::fabs(row[k]));
    const float s = m > 0.0f ? m / 127.0f : 1.0f;
    scale[n] = s;
    for (int64_t k = 0; k < K; ++k)
      q[n * K + k] = int8_t(std::clamp(std::nearbyint(row[k] / s), -127.0f, 127.0f));
  }
}

struct PackedLinear::Impl {
  dt src_dt = dt::f32, wei_dt = dt::f32, dst_dt = dt::f32;
  memory::desc wei_plain;   // (K, N) view of the (N, K) row-major weight
  memory weights;           // packed, in the layout of the first primitive created
  memory bias;              // (1, N) f32, or empty
  std::vector<int8_t> s8;   // Int8: the plain quantized weights, kept for checkpoints
  std::vector<float> w_scale;
  std::vector<int32_t> col_sum;
  std::vector<float> bias_f32;
  struct Entry {
    dnnl::matmul prim;
    memory weights;  // the packed weights in this primitive's layout
  };
  mutable std::mutex mu;
  mutable std::map<int64_t, Entry> by_m;

  const Entry& entry(const PackedLinearConfig& cfg, int64_t M) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = by_m.find(M);
    if (it != by_m.end()) return it->second;
    const int64_t K = cfg.in, N = cfg.out;
    const memory::desc src_md({M, K}, src_dt, memory::format_tag::ab);
    const memory::desc wei_md({K, N}, wei_dt, memory::format_tag::any);
    const memory::desc dst_md({M, N}, dst_dt, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    if (cfg.precision != LinearPrecision::Int8) {
      if (cfg.accumulate) po.append_sum(1.0f);
      if (cfg.act == LinearAct::Gelu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    }
    attr.set_post_ops(po);
    const bool with_bias = bias.get(true) != nullptr;
    const dnnl::matmul::desc d = with_bias
                                     ? dnnl::matmul::desc(src_md, wei_md, bias.get_desc(), dst_md)
                                     : dnnl::matmul::desc(src_md, wei_md, dst_md);
    const dnnl::matmul::primitive_desc pd(d, attr, dnnl_cpu_engine());
    Entry e{dnnl::matmul(pd), weights};
    if (pd.weights_desc() != weights.get_desc()) {  // another layout for this M: repack
      memory from = weights;  // a handle copy (const member function)
      e.weights = memory(pd.weights_desc(), dnnl_cpu_engine());
      dnnl::reorder(from, e.weights).execute(dnnl_cpu_stream(), from, e.weights);
      dnnl_cpu_stream().wait();
    }
    return by_m.emplace(M, std::move(e)).first->second;
  }

  // Packs plain (N, K) weights of type wei_dt into the layout oneDNN picks for a
  // representative M (it is the same for every M in practice; entry() repacks otherwise).
  void pack(const PackedLinearConfig& cfg, const void* plain) {
    const int64_t K = cfg.in, N = cfg.out;
    wei_plain = memory::desc({K, N}, wei_dt, memory::dims{1, K});
    memory src(wei_plain, dnnl_cpu_engine(), const_cast<void*>(plain));
    const memory::desc src_md({256, K}, src_dt, memory::format_tag::ab);
    const memory::desc wei_md({K, N}, wei_dt, memory::format_tag::any);
    const memory::desc dst_md({256, N}, dst_dt, memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, dst_md),
                                          dnnl_cpu_engine());
    weights = memory(pd.weights_desc(), dnnl_cpu_engine());
    dnnl::reorder(src, weights).execute(dnnl_cpu_stream(), src, weights);
    dnnl_cpu_stream().wait();
  }

  void set_bias(const PackedLinearConfig& cfg, const float* b) {
    if (!b) return;
    bias_f32.assign(b, b + cfg.out);
    bias = memory(memory::desc({1, cfg.out}, dt::f32, memory::format_tag::ab), dnnl_cpu_engine(),
                  bias_f32.data());
  }
};

namespace {
void check_config(const PackedLinearConfig& cfg) {
  HEED_CHECK(cfg.in > 0 && cfg.out > 0, "PackedLinear: bad sizes in={} out={}", cfg.in, cfg.out);
  HEED_CHECK(!cfg.bf16_out || cfg.precision == LinearPrecision::BF16,
             "PackedLinear: bf16_out needs BF16 precision");
  HEED_CHECK(!(cfg.accumulate && cfg.act != LinearAct::None),
             "PackedLinear: accumulate and an activation cannot be combined");
}
}  // namespace

PackedLinear::PackedLinear(const float* weight, const float* bias, const PackedLinearConfig& cfg)
    : cfg_(cfg), impl_(std::make_unique<Impl>()) {
  check_config(cfg);
  const int64_t K = cfg.in, N = cfg.out;
  Impl& m = *impl_;
  switch (cfg.precision) {
    case LinearPrecision::F32:
      m.pack(cfg, weight);
      m.set_bias(cfg, bias);
      break;
    case LinearPrecision::BF16: {
      m.src_dt = m.wei_dt = dt::bf16;
      m.dst_dt = cfg.bf16_out ? dt::bf16 : dt::f32;
      std::vector<uint16_t> w16(static_cast<size_t>(N * K));
      f32_to_bf16(w16.data(), weight, N * K);
      m.pack(cfg, w16.data());
      m.set_bias(cfg, bias);
      break;
    }
    case LinearPrecision::Int8: {
      std::vector<int8_t> q(static_cast<size_t>(N * K));
      std::vector<float> s(static_cast<size_t>(N));
      quantize_weights_s8(q.data(), s.data(), weight, N, K);
      *this = PackedLinear(q.data(), s.data(), bias, cfg);
      break;
    }
  }
}

PackedLinear::PackedLinear(const int8_t* weight, const float* w_scale, const float* bias,
                           const PackedLinearConfig& cfg)
    : cfg_(cfg), impl_(std::make_unique<Impl>()) {
  check_config(cfg);
  HEED_CHECK(cfg.precision == LinearPrecision::Int8, "PackedLinear: s8 weights need Int8");
  const int64_t K = cfg.in, N = cfg.out;
  Impl& m = *impl_;
  m.src_dt = dt::u8;
  m.wei_dt = dt::s8;
  m.dst_dt = dt::s32;
  m.s8.assign(weight, weight + N * K);
  m.w_scale.assign(w_scale, w_scale + N);
  m.col_sum.assign(size_t(N), 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) m.col_sum[size_t(n)] += weight[n * K + k];
  if (bias) m.bias_f32.assign(bias, bias + N);
  m.pack(cfg, m.s8.data());
}

PackedLinear::~PackedLinear() = default;
PackedLinear::PackedLinear(PackedLinear&&) noexcept = default;
PackedLinear& PackedLinear::operator=(PackedLinear&&) noexcept = default;

void PackedLinear::forward(void* out, const void* in, int64_t M) const {
  HEED_CHECK(cfg_.precision != LinearPrecision::Int8, "PackedLinear: use forward_int8");
  if (M == 0) return;
  const Impl::Entry& e = impl_->entry(cfg_, M);
  auto& eng = dnnl_cpu_engine();
  const memory src(memory::desc({M, cfg_.in}, impl_->src_dt, memory::format_tag::ab), eng,
                   const_cast<void*>(in));
  const memory dst(memory::desc({M, cfg_.out}, impl_->dst_dt, memory::format_tag::ab), eng, out);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, dst}};
  if (impl_->bias.get(true)) args.emplace(DNNL_ARG_BIAS, impl_->bias);
  e.prim.execute(dnnl_cpu_stream(), args);
  dnnl_cpu_stream().wait();
}

void PackedLinear::int8_gemm(const uint8_t* in, int32_t* acc, int64_t M) const {
  const Impl::Entry& e = impl_->entry(cfg_, M);
  auto& eng = dnnl_cpu_engine();
  const memory src(memory::desc({M, cfg_.in}, dt::u8, memory::format_tag::ab), eng,
                   const_cast<uint8_t*>(in));
  const memory dst(memory::desc({M, cfg_.out}, dt::s32, memory::format_tag::ab), eng, acc);
  e.prim.execute(dnnl_cpu_stream(),
                 {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, dst}});
  dnnl_cpu_stream().wait();
}

void PackedLinear::forward_int8_quantized(uint8_t* q, float* q_scale, int32_t* q_zp,
                                          const uint8_t* in, const float* in_scale,
                                          const int32_t* in_zp, int32_t* acc, int64_t M) const {
  HEED_CHECK(cfg_.precision == LinearPrecision::Int8 && !cfg_.accumulate,
             "PackedLinear: forward_int8_quantized needs Int8 without accumulate");
  if (M == 0) return;
  int8_gemm(in, acc, M);
  int8_epilogue_quantize(q, q_scale, q_zp, acc, in_scale, in_zp, impl_->w_scale.data(),
                         impl_->col_sum.data(),
                         impl_->bias_f32.empty() ? nullptr : impl_->bias_f32.data(), M, cfg_.out,
                         cfg_.act == LinearAct::Gelu);
}

void PackedLinear::forward_int8(float* out, const uint8_t* in, const float* in_scale,
                                const int32_t* in_zp, int32_t* acc, int64_t M) const {
  HEED_CHECK(cfg_.precision == LinearPrecision::Int8, "PackedLinear: forward_int8 needs Int8");
  if (M == 0) return;
  int8_gemm(in, acc, M);
  int8_epilogue(out, acc, in_scale, in_zp, impl_->w_scale.data(), impl_->col_sum.data(),
                impl_->bias_f32.empty() ? nullptr : impl_->bias_f32.data(), M, cfg_.out,
                cfg_.act == LinearAct::Gelu, cfg_.accumulate);
}

int64_t PackedLinear::weight_bytes() const { return int64_t(impl_->weights.get_desc().get_size()); }

void PackedLinear::int8_weights(int8_t* w, float* scale) const {
  HEED_CHECK(cfg_.precision == LinearPrecision::Int8, "PackedLinear: not an Int8 layer");
  std::memcpy(w, impl_->s8.data(), impl_->s8.size());
  std::memcpy(scale, impl_->w_scale.data(), impl_->w_scale.size() * sizeof(float));
}

}  // namespace heed::kernels
