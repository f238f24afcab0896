#include "heed/tokenizers/wordpiece.h"

#include <gtest/gtest.h>

#include "heed/base/error.h"

namespace heed::tokenizers {
namespace {

struct Fixture {
  Vocab vocab{{"[UNK]", "un", "##aff", "##able", "a", "##a", "é", "##é"}};
  WordPiece wp{&vocab, {.max_input_chars_per_word = 5}};

  std::vector<Token> run(std::u32string_view word) {
    NormalizedText n;
    for (size_t i = 0; i < word.size(); ++i) n.push(word[i], static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
    std::vector<Token> out;
    std::string utf8;
    std::vector<int32_t> pos;
    wp.tokenize_word(n, {0, static_cast<int32_t>(word.size())}, out, utf8, pos);
    return out;
  }
};

std::vector<int32_t> ids(const std::vector<Token>& t) {
  std::vector<int32_t> r;
  for (const Token& x : t) r.push_back(x.id);
  return r;
}

TEST(TokenizerWordPiece, GreedyLongestMatchFirst) {
  Fixture f;
  const auto t = f.run(U"unaff");
  EXPECT_EQ(ids(t), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(t[1].start, 2);
  EXPECT_EQ(t[1].end, 5);
  EXPECT_EQ(ids(f.run(U"aaa")), (std::vector<int32_t>{4, 5, 5}));
  EXPECT_EQ(ids(f.run(U"éé")), (std::vector<int32_t>{6, 7}));
}

TEST(TokenizerWordPiece, UncoverableOrTooLongIsOneUnk) {
  Fixture f;
  const auto t = f.run(U"unx");
  ASSERT_EQ(ids(t), (std::vector<int32_t>{0}));
  EXPECT_EQ(t[0].end, 3);
  EXPECT_EQ(ids(f.run(U"aaaaa")).size(), 5u);           // 5 chars: allowed
  EXPECT_EQ(ids(f.run(U"aaaaaa")), (std::vector<int32_t>{0}));  // 6 > max_input_chars_per_word
}

TEST(TokenizerWordPiece, ChecksConfig) {
  Vocab v({"a"});
  EXPECT_THROW(WordPiece(&v, {}), Error);  // no [UNK]
}

}  // namespace
}  // namespace heed::tokenizers
