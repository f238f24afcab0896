#include "heed/train/stop_signal.h"

#include <pthread.h>

#include <atomic>
#include <memory>
#include <thread>

#include "heed/base/parallel.h"

namespace heed::train {

namespace {

// Only lock-free atomics may be touched in a signal handler.
std::atomic<int> g_signal{0};
std::atomic<int> g_guards{0};       // live enabled guards
std::atomic<bool> g_routed{false};  // a watcher thread takes the signals
std::atomic<bool> g_ignored_int{false}, g_ignored_term{false};  // ignored before routing
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

sigset_t stop_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return s;
}

// Async-signal-safe: runs in the handler or on the watcher thread.
void deliver(int sig) {
  if (g_guards.load() > 0) {
    int expected = 0;
    if (g_signal.compare_exchange_strong(expected, sig)) return;
  } else if ((sig == SIGINT ? g_ignored_int : g_ignored_term).load()) {
    return;
  }
  // No guard, or a second signal: end as the default action would (signal(), sigprocmask
  // and raise() are async-signal-safe; in a handler the raise lands when it returns).
  ::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  ::raise(sig);
}

extern "C" void on_stop_signal(int sig) { deliver(sig); }

// A per-thread alternate signal stack, so that a handler never runs on the interrupted
// stack pointer (which inside oneDNN's JIT GEMM points into the heap).
struct AltStack {
  static constexpr size_t kBytes = size_t(64) << 10;  // > the AVX-512 signal frame
  std::unique_ptr<char[]> mem;
  AltStack() {
    stack_t cur{};
    if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // has one
    mem.reset(new char[kBytes]);
    stack_t ss{};
    ss.ss_sp = mem.get();
    ss.ss_size = kBytes;
    if (sigaltstack(&ss, nullptr) != 0) mem.reset();
  }
  ~AltStack() {
    if (!mem) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
  }
};

void ensure_alt_stack() { thread_local AltStack stack; }

// The calling thread and the OpenMP team its parallel regions (and oneDNN's) run on.
void ensure_alt_stacks_for_team() {
  ensure_alt_stack();
  const int n = num_threads();
  if (n <= 1 || in_parallel()) return;
#pragma omp parallel num_threads(n)
  ensure_alt_stack();
}

}  // namespace

void route_stop_signals_to_a_thread() {
  bool expected = false;
  if (!g_routed.compare_exchange_strong(expected, true)) return;
  // A blocked signal whose disposition is SIG_IGN is discarded, so install the handler
  // (it runs only in a thread that unblocked the signals itself) and remember the
  // ignores, e.g. `heed ... &` in a non-interactive shell, which ignores SIGINT.
  struct sigaction sa {}, old{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigaction(SIGINT, &sa, &old);
  g_ignored_int.store(old.sa_handler == SIG_IGN);
  sigaction(SIGTERM, &sa, &old);
  g_ignored_term.store(old.sa_handler == SIG_IGN);
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread created from here
  std::thread([set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) == 0) deliver(sig);
    }
  }).detach();
}

StopSignalGuard::StopSignalGuard(bool enabled) : enabled_(enabled) {
  g_signal.store(0);
  if (!enabled_) return;
  g_guards.fetch_add(1);
  if (g_routed.load()) return;
  ensure_alt_stacks_for_team();
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;  // file writes in progress are not cut short
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
  installed_ = true;
}

StopSignalGuard::~StopSignalGuard() {
  if (!enabled_) return;
  if (installed_) {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  g_guards.fetch_sub(1);
}

int StopSignalGuard::received() { return g_signal.load(); }

}  // namespace heed::train
