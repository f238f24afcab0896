// StopSignalGuard against oneDNN 2.x's JIT f32 GEMM, which points rsp at a heap buffer
// while it runs (oneDNN issue #4845): a SIGINT handled on a computing thread's own stack
// writes its frame into the heap and malloc aborts later ("corrupted size vs. prev_size").
// Each test sends hundreds of signals while sgemm runs; without the protection in
// stop_signal.cc the process dies (this is how `heed pretrain` crashed when interrupted).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "heed/kernels/gemm.h"
#include "heed/train/stop_signal.h"

namespace heed::train {
namespace {

constexpr int kSignals = 300;

void block_stop_signals_here() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

// One signal at a time: signal k goes only after the computing loop has counted signal
// k-1 and constructed guard k (armed == k + 1), whose constructor resets received() to 0.
// So no signal is ever a "second" one, and none is wiped by a guard constructed after it
// arrived (the sender once raced the first guard under load and lost signal 0).
void send_signals(const std::atomic<bool>& done, const std::atomic<int>& taken,
                  const std::atomic<int>& armed) {
  block_stop_signals_here();  // the signal must land on a thread that computes
  for (int sent = 0; !done.load();) {
    if (armed.load() != sent + 1 || taken.load() != sent || StopSignalGuard::received() != 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    ::kill(::getpid(), sent % 2 ? SIGTERM : SIGINT);
    ++sent;
  }
}

// sgemm until the guard has taken kSignals signals; returns how many it took.
int compute_under_signals() {
  const int64_t n = 256;
  std::vector<float> a(size_t(n * n), 0.5f), b(size_t(n * n), 0.25f), c(size_t(n * n));
  std::atomic<bool> done{false};
  std::atomic<int> taken{0}, armed{0};
  StopSignalGuard outer;  // keeps the handler installed between two inner guards
  std::thread sender(send_signals, std::cref(done), std::cref(taken), std::cref(armed));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (taken.load() < kSignals && std::chrono::steady_clock::now() < deadline) {
    StopSignalGuard g;  // resets received() to 0
    armed.fetch_add(1);
    while (StopSignalGuard::received() == 0 && std::chrono::steady_clock::now() < deadline) {
      kernels::gemm(false, true, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
      std::vector<char> churn(size_t(1) << 12);  // malloc traffic, so corruption is noticed
      churn[0] = 1;
    }
    if (StopSignalGuard::received() != 0) ++taken;
  }
  done = true;
  sender.join();
  EXPECT_FLOAT_EQ(c[0], 0.5f * 0.25f * float(n));
  return taken.load();
}

TEST(StopSignal, HandlerOnAnAlternateStackSurvivesSignalsDuringSgemm) {
  EXPECT_EQ(compute_under_signals(), kSignals);
}

TEST(StopSignalDeathTest, RoutedToAWatcherThreadSurvivesSignalsDuringSgemm) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: routing is for good
  EXPECT_EXIT(
      {
        route_stop_signals_to_a_thread();
        std::exit(compute_under_signals() == kSignals ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

TEST(StopSignalDeathTest, RoutedSignalOutsideAGuardEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        route_stop_signals_to_a_thread();
        ::kill(::getpid(), SIGINT);
        std::this_thread::sleep_for(std::chrono::seconds(20));
        std::exit(0);
      },
      testing::KilledBySignal(SIGINT), "");
}

TEST(StopSignalDeathTest, RoutedSignalIgnoredBeforeRoutingStaysIgnored) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::signal(SIGINT, SIG_IGN);  // as `heed ... &` in a non-interactive shell
        route_stop_signals_to_a_thread();
        ::kill(::getpid(), SIGINT);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        {
          StopSignalGuard g;  // a guard still catches it, as before routing
          ::kill(::getpid(), SIGINT);
          const auto t0 = std::chrono::steady_clock::now();
          while (StopSignalGuard::received() == 0 &&
                 std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (StopSignalGuard::received() != SIGINT) std::exit(4);
        }
        std::exit(3);
      },
      testing::ExitedWithCode(3), "");
}

}  // namespace
}  // namespace heed::train
