#include "heed/tokenizers/bert_tokenizer.h"

#include <gtest/gtest.h>

#include "heed/base/error.h"
#include "heed/base/parallel.h"

namespace heed::tokenizers {
namespace {

const std::string kVocab = std::string(HEED_DATA_DIR) + "/bert_vocab/vocab.txt";

const BertTokenizer& uncased() {
  static const BertTokenizer tok = BertTokenizer::from_vocab_file(kVocab);
  return tok;
}

std::vector<std::string> tokens(const BertTokenizer& tok, std::string_view text) {
  std::vector<int32_t> ids;
  for (const Token& t : tok.tokenize(text)) ids.push_back(t.id);
  std::vector<std::string> out;
  for (std::string_view s : tok.convert_ids_to_tokens(ids)) out.emplace_back(s);
  return out;
}

TEST(BertTokenizer, EndToEnd) {
  EXPECT_EQ(tokens(uncased(), "Unaffable, isn't it?"),
            (std::vector<std::string>{"una", "##ffa", "##ble", ",", "isn", "'", "t", "it", "?"}));
  EXPECT_EQ(tokens(uncased(), "hello [MASK] world[SEP]"),
            (std::vector<std::string>{"hello", "[MASK]", "world", "[SEP]"}));
  EXPECT_EQ(tokens(uncased(), "[mask]"), (std::vector<std::string>{"[", "mask", "]"}));
  const Encoding e = uncased().encode("Hi there");
  EXPECT_EQ(e.input_ids, (std::vector<int32_t>{101, 7632, 2045, 102}));
  EXPECT_EQ(e.offsets, (std::vector<Offset>{{0, 0}, {0, 2}, {3, 8}, {0, 0}}));
  EXPECT_EQ(uncased().mask_token_id(), 103);
  EXPECT_EQ(uncased().pad_token_id(), 0);
}

TEST(BertTokenizer, InvalidUtf8IsReplacedAndDropped) {
  // Invalid bytes -> U+FFFD (one per byte) -> removed by _clean_text; offsets count them.
  const std::vector<Token> t = uncased().tokenize("ab\xFF\xFE cd");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].start, 5);
  EXPECT_EQ(t[1].end, 7);
}

TEST(BertTokenizer, Decode) {
  const BertTokenizer& tok = uncased();
  const Encoding e = tok.encode("Hello, world! Don't unaffable.");
  EXPECT_EQ(tok.decode(e.input_ids), "[CLS] hello, world! don't unaffable. [SEP]");
  EXPECT_EQ(tok.decode(e.input_ids, /*skip_special_tokens=*/true), "hello, world! don't unaffable.");
  EXPECT_EQ(BertTokenizer::clean_up_tokenization("a . b ' c n't 're x"), "a. b'cn't're x");
  const std::vector<int32_t> odd = {-1, 999999};
  EXPECT_EQ(tok.decode(odd), "[UNK] [UNK]");
}

TEST(BertTokenizer, BatchMatchesSequentialOnEveryThreadCount) {
  std::vector<std::string> texts;
  for (int i = 0; i < 3000; ++i) {
    texts.push_back("line " + std::to_string(i) + ": The quick brown fox, naïve café 你好 #" + std::to_string(i * 7));
  }
  std::vector<Encoding> want;
  for (const std::string& t : texts) want.push_back(uncased().encode(t));
  const int saved = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    const std::vector<Encoding> got = uncased().encode_batch(texts);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].input_ids, want[i].input_ids) << i;
      ASSERT_EQ(got[i].offsets, want[i].offsets) << i;
    }
  }
  set_num_threads(saved);
  std::vector<std::string_view> a = {"x", "y"}, b = {"z"};
  EXPECT_THROW(uncased().encode_batch(a, b), Error);
}

TEST(BertTokenizer, FromPretrainedReadsVocabDirectory) {
  const BertTokenizer tok = BertTokenizer::from_pretrained(std::string(HEED_DATA_DIR) + "/bert_vocab");
  EXPECT_EQ(tok.vocab_size(), 30522);
  EXPECT_EQ(tok.encode("hello").input_ids, (std::vector<int32_t>{101, 7592, 102}));
}

}  // namespace
}  // namespace heed::tokenizers
