// Peak resident memory of one attention training step (forward + backward) as T grows,
// for the fused op and for the plain reference op that materialises T x T scores.
// Each measurement runs in a fresh child process (fork), so peaks do not mix.
//   bench_attention_memory [H=12] [D=64]
// Prints T, peak RSS (MiB) for fused and reference; fused should grow linearly in T.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "heed/autograd/engine.h"
#include "heed/ops/ops.h"

namespace {

void step(int64_t T, int64_t H, int64_t D, bool fused) {
  using namespace heed;
  Generator g(1);
  Tensor q = Tensor::randn(Shape{1, H, T, D}, g).set_requires_grad(true);
  Tensor k = Tensor::randn(Shape{1, H, T, D}, g).set_requires_grad(true);
  Tensor v = Tensor::randn(Shape{1, H, T, D}, g).set_requires_grad(true);
  ops::AttentionOptions o;
  o.causal = true;
  Tensor out = fused ? ops::scaled_dot_product_attention(q, k, v, o).out
                     : ops::scaled_dot_product_attention_reference(q, k, v, o);
  autograd::backward(out, Tensor::ones(out.shape()));
}

double child_peak_mib(int64_t T, int64_t H, int64_t D, bool fused) {
  const pid_t pid = fork();
  if (pid == 0) {
    step(T, H, D, fused);
    _exit(0);
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t H = argc > 1 ? std::atoll(argv[1]) : 12, D = argc > 2 ? std::atoll(argv[2]) : 64;
  std::printf("attention training step (fwd+bwd), B=1 H=%ld D=%ld causal; peak RSS per process\n",
              long(H), long(D));
  std::printf("%8s %14s %14s %14s\n", "T", "fused MiB", "q,k,v,grads MiB", "reference MiB");
  for (int64_t T : {512, 1024, 2048, 4096, 8192}) {
    // q,k,v + out + their gradients: 8 tensors of H*T*D floats (the unavoidable part).
    const double io_mib = 8.0 * double(H * T * D) * 4.0 / (1024.0 * 1024.0);
    const double fused = child_peak_mib(T, H, D, true);
    const double ref = T <= 4096 ? child_peak_mib(T, H, D, false) : -1.0;
    std::printf("%8ld %14.1f %14.1f %14s\n", long(T), fused, io_mib,
                ref < 0 ? "(skipped)" : std::to_string(int(ref)).c_str());
  }
  return 0;
}
