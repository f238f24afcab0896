#include "heed/tokenizers/vocab.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "heed/base/error.h"
#include "heed/base/fs.h"

namespace heed::tokenizers {
namespace {

const std::string kVocab = std::string(HEED_DATA_DIR) + "/bert_vocab/vocab.txt";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TokenizerVocab, LoadsBertBaseUncased) {
  const Vocab v = load_vocab_txt(kVocab);
  EXPECT_EQ(v.size(), 30522);
  EXPECT_EQ(v.token_to_id("[PAD]"), 0);
  EXPECT_EQ(v.token_to_id("[UNK]"), 100);
  EXPECT_EQ(v.token_to_id("[CLS]"), 101);
  EXPECT_EQ(v.token_to_id("[MASK]"), 103);
  EXPECT_EQ(v.id_to_token(2088), "world");
  EXPECT_EQ(v.continuation_to_id("ing"), v.token_to_id("##ing"));
  EXPECT_EQ(v.token_to_id("no-such-token"), -1);
}

TEST(TokenizerVocab, LinesAndDuplicatesLikePython) {
  // Universal newlines (\n, \r\n, \r); a repeated token keeps its last id.
  const Vocab v = parse_vocab_txt("a\r\nb\rc\na\nd", "mem");
  EXPECT_EQ(v.size(), 5);
  EXPECT_EQ(v.token_to_id("a"), 3);
  EXPECT_EQ(v.id_to_token(0), "a");
  EXPECT_EQ(v.token_to_id("d"), 4);
  EXPECT_EQ(v.token_to_id("c"), 2);
}

TEST(TokenizerVocab, BadFilesNameFileAndLine) {
  EXPECT_NE(error_of([] { load_vocab_txt("/nonexistent/vocab.txt"); }).find("/nonexistent/vocab.txt"),
            std::string::npos);
  const std::string msg = error_of([] { parse_vocab_txt("ok\nfine\nbad\xFF\n", "v.txt"); });
  EXPECT_NE(msg.find("v.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse_vocab_txt("", "empty.txt"); }).find("empty.txt"), std::string::npos);
}

TEST(TokenizerVocab, SaveRoundTrip) {
  const std::string path = (std::filesystem::temp_directory_path() / "heed_vocab_test.txt").string();
  const Vocab v({"[UNK]", "x", "##y"});
  save_vocab_txt(v, path);
  EXPECT_EQ(read_file(path), "[UNK]\nx\n##y\n");
  EXPECT_EQ(load_vocab_txt(path).tokens(), v.tokens());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace heed::tokenizers
