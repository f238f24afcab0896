// Graceful stop on SIGINT / SIGTERM for long loops: while a StopSignalGuard lives, the
// first signal only sets a flag that the loop checks between steps (so it can save a
// checkpoint and return); a second one kills the process as usual.
//
// Why this is more than a sigaction: oneDNN 2.x's JIT f32 GEMM kernels (AVX2 and
// AVX-512; fixed upstream only in 3.11.2, oneDNN issue #4845) point rsp at a heap buffer
// while they run. A signal handled on such a thread has its frame pushed onto the heap
// below that buffer and corrupts malloc's metadata ("corrupted size vs. prev_size" at a
// later free). So no handler may ever run on the normal stack of a thread that computes.
//  - A program (the heed CLI) calls route_stop_signals_to_a_thread() first thing in
//    main(), before any thread exists: SIGINT and SIGTERM are then blocked in every
//    thread (threads inherit the mask) and one watcher thread takes them with sigwait().
//    No handler runs anywhere.
//  - Without that (a library user, the tests), the guard installs its handler with
//    SA_ONSTACK and gives the calling thread and its OpenMP team an alternate signal
//    stack, so a handler that does run never touches the interrupted stack pointer.
#pragma once

#include <signal.h>

namespace heed::train {

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it creates later,
// and starts the thread that receives them. Call once, at the top of main(). Outside a
// StopSignalGuard a signal still ends the process as its default action would (or is
// ignored, if it was ignored when this was called).
void route_stop_signals_to_a_thread();

class StopSignalGuard {
 public:
  explicit StopSignalGuard(bool enabled = true);
  ~StopSignalGuard();
  StopSignalGuard(const StopSignalGuard&) = delete;
  StopSignalGuard& operator=(const StopSignalGuard&) = delete;

  // The signal received (SIGINT or SIGTERM), or 0.
  static int received();

 private:
  bool enabled_;
  bool installed_ = false;  // this guard replaced the handlers (no watcher thread)
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace heed::train
