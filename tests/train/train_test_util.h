// Helpers for the train tests: scratch directories and error-message assertions.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace heed::testing {

// A fresh directory under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             ("heed_" + name + "_" + (info ? std::string(info->name()) : "x") + "_" +
              std::to_string(::getpid())))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
    return file(name);
  }

 private:
  std::string path_;
};

}  // namespace heed::testing

// Expects `stmt` to throw heed::Error whose message contains every listed substring.
#define HEED_EXPECT_ERROR(stmt, ...)                                      \
  do {                                                                    \
    try {                                                                 \
      stmt;                                                               \
      ADD_FAILURE() << "expected heed::Error from " #stmt;                \
    } catch (const ::heed::Error& e) {                                    \
      for (const char* want : {__VA_ARGS__})                              \
        EXPECT_NE(std::string(e.what()).find(want), std::string::npos)    \
            << "message \"" << e.what() << "\" lacks \"" << want << "\""; \
    }                                                                     \
  } while (0)
