// Graceful stop on SIGINT / SIGTERM for long loops: while a StopSignalGuard lives, the
// first signal only sets a flag that the loop checks between steps (so it can save a
// checkpoint and return); a second one kills the process as usual. The previous
// handlers are restored when the guard ends.
#pragma once

#include <signal.h>

namespace heed::train {

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
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace heed::train
