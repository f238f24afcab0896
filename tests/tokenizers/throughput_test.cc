// Throughput on a real corpus; skipped unless HEED_TOKENIZER_BENCH_CORPUS names a
// directory of .txt files (e.g. the en_pretrain corpus) or one file:
//   HEED_TOKENIZER_BENCH_CORPUS=path ./test_tokenizers --gtest_filter='*Throughput*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tokenizers/bert_tokenizer.h"

namespace heed::tokenizers {
namespace {

TEST(TokenizerThroughput, Corpus) {
  const char* path = std::getenv("HEED_TOKENIZER_BENCH_CORPUS");
  if (!path) GTEST_SKIP() << "set HEED_TOKENIZER_BENCH_CORPUS to run";
  std::vector<std::string> files;
  if (std::filesystem::is_directory(path)) {
    for (const auto& e : std::filesystem::directory_iterator(path)) {
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    }
  } else {
    files.push_back(path);
  }
  std::vector<std::string> blobs;
  std::vector<std::string_view> lines;
  size_t bytes = 0;
  for (const std::string& f : files) blobs.push_back(read_file(f));
  for (const std::string& b : blobs) {
    bytes += b.size();
    for (size_t i = 0; i < b.size();) {
      size_t j = b.find('\n', i);
      if (j == std::string::npos) j = b.size();
      lines.push_back(std::string_view(b).substr(i, j - i));
      i = j + 1;
    }
  }
  const BertTokenizer tok = BertTokenizer::from_vocab_file(std::string(HEED_DATA_DIR) + "/bert_vocab/vocab.txt");
  const int saved = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    size_t n_tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Encoding> enc = tok.encode_batch(lines);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const Encoding& e : enc) n_tokens += e.size();
    std::printf("tokenizer throughput: %d thread(s): %.1f MB in %.2f s = %.1f MB/s, %zu lines, %zu tokens\n",
                threads, bytes / 1e6, s, bytes / 1e6 / s, lines.size(), n_tokens);
  }
  set_num_threads(saved);
}

}  // namespace
}  // namespace heed::tokenizers
