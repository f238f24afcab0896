#include "heed/tokenizers/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {
namespace {

std::vector<std::string> words(std::u32string_view text, const std::vector<std::string>& never_split = {}) {
  NormalizedText n;
  for (size_t i = 0; i < text.size(); ++i) n.push(text[i], static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  std::vector<Word> ws;
  PreTokenizer(never_split).pre_tokenize(n, ws);
  std::vector<std::string> out;
  for (const Word& w : ws) {
    std::string s;
    for (int32_t i = w.begin; i < w.end; ++i) append_utf8(s, text[static_cast<size_t>(i)]);
    out.push_back(s);
  }
  return out;
}

TEST(TokenizerPreTokenizer, SplitsWhitespaceAndPunctuation) {
  EXPECT_EQ(words(U"  Hello, world!  "), (std::vector<std::string>{"Hello", ",", "world", "!"}));
  EXPECT_EQ(words(U"a$b^c"), (std::vector<std::string>{"a", "$", "b", "^", "c"}));
  EXPECT_EQ(words(U"don't"), (std::vector<std::string>{"don", "'", "t"}));
  EXPECT_EQ(words(U"a\u2028b\u3000c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(words(U"x\u2014y\u00bfz"), (std::vector<std::string>{"x", "\u2014", "y", "\u00bf", "z"}));
  EXPECT_EQ(words(U"€5"), (std::vector<std::string>{"€5"}));  // Sc is not punctuation
  EXPECT_TRUE(words(U"   ").empty());
}

TEST(TokenizerPreTokenizer, NeverSplitWordsStayWhole) {
  EXPECT_EQ(words(U"[CLS] x", {"[CLS]"}), (std::vector<std::string>{"[CLS]", "x"}));
  EXPECT_EQ(words(U"[CLS]x", {"[CLS]"}), (std::vector<std::string>{"[", "CLS", "]", "x"}));
}

}  // namespace
}  // namespace heed::tokenizers
