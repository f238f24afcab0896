#include "heed/kernels/gemm_bf16.h"

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "heed/base/bf16.h"
#include "heed/base/error.h"
#include "heed/kernels/dnnl_context.h"
#include "heed/kernels/gemm.h"

namespace heed::kernels {

namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

// Every field that shapes the primitive: dims, strides, and whether alpha/beta are used.
using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float,
                       float>;

struct Prim {
  dnnl::matmul prim;
  memory::desc a, b, c;
};

memory::desc a_desc(bool trans, int64_t M, int64_t K, int64_t ld) {
  return memory::desc({M, K}, dt::bf16, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}
memory::desc b_desc(bool trans, int64_t K, int64_t N, int64_t ld) {
  return memory::desc({K, N}, dt::bf16, trans ? memory::dims{1, ld} : memory::dims{ld, 1});
}

// Null when oneDNN has no bf16 matmul for this CPU (it throws "unimplemented").
const Prim* primitive(const Key& key) {
  thread_local std::map<Key, Prim> cache;
  thread_local std::map<Key, bool> unavailable;
  if (auto it = cache.find(key); it != cache.end()) return &it->second;
  if (unavailable.count(key)) return nullptr;
  const auto [ta, tb, M, N, K, lda, ldb, ldc, alpha, beta] = key;
  Prim p{dnnl::matmul(), a_desc(ta, M, K, lda), b_desc(tb, K, N, ldb),
         memory::desc({M, N}, dt::f32, memory::dims{ldc, 1})};
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  try {
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p.a, p.b, p.c), attr, dnnl_cpu_engine());
    // oneDNN's reference matmul (plain loops) also accepts bf16; sgemm on widened operands
    // is far faster than it.
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) throw dnnl::error(dnnl_unimplemented, "ref");
    p.prim = dnnl::matmul(pd);
  } catch (const dnnl::error&) {
    unavailable[key] = true;
    return nullptr;
  }
  return &cache.emplace(key, std::move(p)).first->second;
}

void widen(std::vector<float>& out, const uint16_t* in, int64_t rows, int64_t cols, int64_t ld) {
  out.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[size_t(r * cols + c)] = bf16_to_float(bf16{in[r * ld + c]});
}

// The f32 fallback: the stored operand is (rows, cols) with leading dimension ld.
void gemm_widened(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta,
                  float* C, int64_t ldc, bool reference) {
  std::vector<float> a, b;
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  widen(a, A, ar, ac, lda);
  widen(b, B, br, bc, ldb);
  (reference ? gemm_ref : gemm)(ta, tb, M, N, K, alpha, a.data(), ac, b.data(), bc, beta, C, ldc);
}

}  // namespace

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta,
               float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    gemm(trans_a, trans_b, M, N, 0, alpha, nullptr, 1, nullptr, 1, beta, C, ldc);
    return;
  }
  const Prim* p = primitive({trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta});
  if (!p) {
    gemm_widened(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
    return;
  }
  auto& eng = dnnl_cpu_engine();
  const memory a(p->a, eng, const_cast<uint16_t*>(A));
  const memory b(p->b, eng, const_cast<uint16_t*>(B));
  const memory c(p->c, eng, C);
  p->prim.execute(dnnl_cpu_stream(), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  dnnl_cpu_stream().wait();
}

bool gemm_bf16_native() {
  return primitive({false, true, 16, 16, 16, 16, 16, 16, 1.0f, 0.0f}) != nullptr;
}

void gemm_bf16_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta,
                   float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_widened(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
}

}  // namespace heed::kernels
