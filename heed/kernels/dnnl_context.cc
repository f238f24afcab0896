#include "heed/kernels/dnnl_context.h"

namespace heed::kernels {

dnnl::engine& dnnl_cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& dnnl_cpu_stream() {
  thread_local dnnl::stream s(dnnl_cpu_engine());
  return s;
}

}  // namespace heed::kernels
