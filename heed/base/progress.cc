#include "heed/base/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace heed {

std::string format_duration(double s) {
  if (s < 0 || s != s) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(2) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(int64_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.1 : 5.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (!status.empty()) status_ = status;
  done_ = std::max(done_, int64_t(0));
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  const double el =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? std::min(1.0, double(done_) / double(total_)) : 0.0;
  const double eta = frac > 0 ? el * (1.0 - frac) / frac : -1.0;
  constexpr int kWidth = 24;
  const int filled = int(frac * kWidth);
  std::string bar(size_t(filled), '#');
  bar.append(size_t(kWidth - filled), '.');
  const std::string line =
      fmt::format("{} [{}] {}/{} {:3.0f}% {} elapsed, ETA {}{}{}", label_, bar, done_, total_,
                  frac * 100.0, format_duration(el), final_line ? "0s" : format_duration(eta),
                  status_.empty() ? "" : " | ", status_);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace heed
