// Runs the heed binary with a shell command line and captures its exit status, stdout
// and stderr (through files in a per-test temporary folder).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace heed::cli_test {

struct HeedRun {
  int status;  // exit code
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

// A quoted shell word. (Appends rather than "'" + s + "'": GCC 12 -O3 reports a false
// -Wrestrict on the latter.)
inline std::string q(const std::filesystem::path& p) {
  std::string s = "'";
  s.append(p.string());
  s.push_back('\'');
  return s;
}

// One JSON value per non-empty line.
inline std::vector<nlohmann::json> jsonl(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The folder of the running test; test_dir() empties it first.
inline std::filesystem::path test_path() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::filesystem::temp_directory_path() /
         (std::string("heed_cli_") + info->test_suite_name() + "_" + info->name());
}
inline std::filesystem::path test_dir() {
  const auto dir = test_path();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// `heed ARGS < stdin_file`; stdin_file empty: no input.
inline HeedRun run_heed(const std::string& args, const std::filesystem::path& stdin_file = {}) {
  const auto dir = test_path() / "run";
  std::filesystem::create_directories(dir);
  const auto out = dir / "stdout", err = dir / "stderr";
  const std::string cmd = "OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} '" + std::string(HEED_BIN) + "' " +
                          args + " < '" +
                          (stdin_file.empty() ? std::string("/dev/null") : stdin_file.string()) +
                          "' > '" + out.string() + "' 2> '" + err.string() + "'";
  const int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
}

}  // namespace heed::cli_test
