// Helpers shared by the tests/io suites: fixture paths, temp files, expected-value
// comparison against the JSON written by tests/golden/io/make_io_fixtures.py.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/tensor/tensor.h"

namespace heed::io::testing {

inline std::string fixture(const std::string& name) {
  return std::string(HEED_GOLDEN_DIR) + "/io/" + name;
}

// A fresh path under the gtest temp dir; the name shows up in error messages.
inline std::string temp_path(const std::string& name) {
  static int counter = 0;
  return ::testing::TempDir() + "heed_io_" + std::to_string(::getpid()) + "_" +
         std::to_string(counter++) + "_" + name;
}

inline std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  write_file_atomic(path, bytes);
  return path;
}

inline nlohmann::ordered_json read_json(const std::string& path) {
  return nlohmann::ordered_json::parse(read_file(path));
}

// Runs f, which must throw heed::Error whose message contains every needle.
inline void expect_error(const std::function<void()>& f,
                         std::initializer_list<std::string> needles) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
    return;
  }
  ADD_FAILURE() << "expected a heed::Error";
}

// Compares a loaded tensor with {"dtype", "shape", "values"}; values compare exactly
// (floats were written as the f32 value, so the double round trip is exact).
inline void expect_matches(const Tensor& t, const nlohmann::ordered_json& want,
                           const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(std::string(dtype_name(t.dtype())), want["dtype"].get<std::string>());
  EXPECT_EQ(t.shape().dims(), want["shape"].get<std::vector<int64_t>>());
  const auto& values = want["values"];
  ASSERT_EQ(size_t(t.numel()), values.size());
  if (t.dtype() == DType::F32 || t.dtype() == DType::BF16) {
    const auto got = t.to_vector();
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], float(values[i].get<double>())) << i;
  } else {
    const auto got = t.to_ids();
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], values[i].get<int64_t>()) << i;
  }
}

// True when p lies inside a mapping of `file` in this process (/proc/self/maps), i.e.
// the tensor was not copied out of its memory-mapped checkpoint.
inline bool points_into_mapping_of(const void* p, const std::string& file) {
  char real[4096];
  if (!::realpath(file.c_str(), real)) return false;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.find(real) == std::string::npos) continue;
    std::istringstream ss(line);
    uintptr_t lo, hi;
    char dash;
    ss >> std::hex >> lo >> dash >> hi;
    if (addr >= lo && addr < hi) return true;
  }
  return false;
}

}  // namespace heed::io::testing
