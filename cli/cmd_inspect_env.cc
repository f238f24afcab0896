// heed env: what this build and machine offer (threads, SIMD target, GEMM backend).
#include <fmt/format.h>

#include "cli/commands.h"
#include "heed/base/parallel.h"
#include "heed/kernels/cpu_info.h"

namespace heed::cli {

void register_inspect_env(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("env", "Print the threads, SIMD target and GEMM backend in use");
  sub->callback([] {
    fmt::print("threads      {}\n", num_threads());
    fmt::print("simd target  {}\n", kernels::simd_target_name());
    fmt::print("gemm         oneDNN sgemm (OpenMP)\n");
  });
}

}  // namespace heed::cli
