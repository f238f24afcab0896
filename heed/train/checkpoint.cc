#include "heed/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/io/safetensors.h"

namespace heed::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kTmpPrefix = ".tmp-checkpoint-";

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  HEED_CHECK(fd >= 0, "{}: cannot open directory to sync: {}", dir, std::strerror(errno));
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  HEED_CHECK(rc == 0, "{}: fsync failed: {}", dir, std::strerror(e));
}

// "checkpoint-00000100" -> 100; -1 for other names.
int64_t step_of(const std::string& name) {
  const std::string p(kPrefix);
  if (name.size() <= p.size() || name.compare(0, p.size(), p) != 0) return -1;
  int64_t v = 0;
  for (size_t i = p.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

}  // namespace

std::string checkpoint_dir_name(int64_t step) { return fmt::format("{}{:08d}", kPrefix, step); }

bool is_complete_checkpoint(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kCheckpointMarker, ec);
}

std::string save_checkpoint(const std::string& out_dir, int64_t step, const CheckpointContents& c) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  HEED_CHECK(!ec, "{}: cannot create the output directory: {}", out_dir, ec.message());
  const std::string final_dir = (fs::path(out_dir) / checkpoint_dir_name(step)).string();
  if (is_complete_checkpoint(final_dir)) return final_dir;
  const std::string tmp =
      (fs::path(out_dir) / fmt::format("{}{:08d}-{}", kTmpPrefix, step, ::getpid())).string();
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  HEED_CHECK(!ec, "{}: cannot create: {}", tmp, ec.message());

  io::save_safetensors((fs::path(tmp) / kCheckpointModelFile).string(), c.model,
                       {{"format", "heed-checkpoint"}, {"step", std::to_string(step)}});
  io::save_safetensors((fs::path(tmp) / kCheckpointOptimizerFile).string(), c.optimizer,
                       {{"format", "heed-adamw"}, {"step", std::to_string(c.optimizer_step)}});
  write_file_atomic((fs::path(tmp) / kCheckpointStateFile).string(), c.trainer_state_json);
  // The marker goes last: its presence means every other file is complete.
  write_file_atomic((fs::path(tmp) / kCheckpointMarker).string(), fmt::format("step {}\n", step));
  fsync_dir(tmp);
  // An incomplete directory of the same name (an earlier crash) is replaced.
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  HEED_CHECK(!ec, "{}: rename to {} failed: {}", tmp, final_dir, ec.message());
  fsync_dir(out_dir);
  return final_dir;
}

CheckpointScan scan_checkpoints(const std::string& out_dir) {
  CheckpointScan s;
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) return s;
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    if (!e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    const int64_t step = step_of(name);
    if (step < 0) continue;
    if (is_complete_checkpoint(e.path().string()))
      s.complete.emplace_back(step, e.path().string());
    else
      s.incomplete.push_back(e.path().string());
  }
  std::sort(s.complete.begin(), s.complete.end());
  std::sort(s.incomplete.begin(), s.incomplete.end());
  if (!s.complete.empty()) {
    s.latest_step = s.complete.back().first;
    s.latest = s.complete.back().second;
  }
  for (const auto& d : s.incomplete)
    s.message += fmt::format(
        "ignoring incomplete checkpoint {} (no {} marker: the save was "
        "interrupted)\n",
        d, kCheckpointMarker);
  return s;
}

void prune_checkpoints(const std::string& out_dir, int64_t keep_last_n) {
  if (keep_last_n <= 0) return;
  const CheckpointScan s = scan_checkpoints(out_dir);
  const int64_t n = int64_t(s.complete.size());
  for (int64_t i = 0; i < n - keep_last_n; ++i) {
    std::error_code ec;
    // Marker first, so an interrupted delete leaves an incomplete (ignored) directory.
    fs::remove(fs::path(s.complete[size_t(i)].second) / kCheckpointMarker, ec);
    fs::remove_all(s.complete[size_t(i)].second, ec);
    HEED_CHECK(!ec, "{}: cannot remove an old checkpoint: {}", s.complete[size_t(i)].second,
               ec.message());
  }
}

}  // namespace heed::train
