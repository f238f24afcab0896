// Shared helpers for the BERT tests: fixture paths, temporary directories, error stats.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "../test_util.h"
#include "heed/io/safetensors.h"

namespace heed::testing {

inline std::string bert_dir(const std::string& sub) { return golden_path("bert/" + sub); }

inline const io::TensorFile& bert_goldens() {
  static const io::TensorFile f = io::load_safetensors(bert_dir("goldens.safetensors"));
  return f;
}

// A fresh, empty directory under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("heed_bert_{}_{}_{}", info ? info->test_suite_name() : "x",
                        info ? info->name() : "x", ::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Largest |a - b|, and largest |a - b| / |b| over the elements with |b| at least 1% of
// the tensor's largest |b| (tiny elements make relative error meaningless), for reports.
struct ErrStats {
  double max_abs = 0.0, max_rel = 0.0;
};
inline ErrStats err_stats(const Tensor& a, const Tensor& b) {
  ErrStats s;
  const auto va = a.to_vector(), vb = b.to_vector();
  double scale = 0.0;
  for (float v : vb) scale = std::max(scale, std::abs(double(v)));
  for (size_t i = 0; i < std::min(va.size(), vb.size()); ++i) {
    const double d = std::abs(double(va[i]) - double(vb[i]));
    s.max_abs = std::max(s.max_abs, d);
    if (std::abs(vb[i]) >= 0.01 * scale && vb[i] != 0.0f)
      s.max_rel = std::max(s.max_rel, d / std::abs(double(vb[i])));
  }
  return s;
}

}  // namespace heed::testing
