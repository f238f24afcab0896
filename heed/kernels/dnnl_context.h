// The oneDNN CPU engine and a per-thread stream, shared by the kernels that run oneDNN
// primitives (packed_linear, gemm_bf16). Internal to heed/kernels.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace heed::kernels {

dnnl::engine& dnnl_cpu_engine();
// Streams are cheap; one per thread keeps concurrent callers independent.
dnnl::stream& dnnl_cpu_stream();

}  // namespace heed::kernels
