#include "heed/tokenizers/normalizer.h"

#include <gtest/gtest.h>

#include <string>

#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {
namespace {

struct Normalized {
  std::string text;
  std::vector<std::pair<int32_t, int32_t>> spans;
};

Normalized run(const NormalizerConfig& cfg, std::string_view in) {
  NormalizedText out, scratch;
  Normalizer(cfg).normalize(in, 0, out, scratch);
  Normalized r;
  for (size_t i = 0; i < out.size(); ++i) {
    append_utf8(r.text, out.chars[i]);
    r.spans.emplace_back(out.start[i], out.end[i]);
  }
  return r;
}

const NormalizerConfig kUncased{};
const NormalizerConfig kCased{.strip_accents = false, .lowercase = false};

TEST(TokenizerNormalizer, CleanTextDropsControlsAndMapsWhitespace) {
  EXPECT_EQ(run(kUncased, "A\tB\nC\rD\x01" "E\u00a0F\u200bG\ufffdH").text, "a b c de fgh");
  EXPECT_EQ(run(kCased, std::string("x\0y", 3)).text, "xy");
  EXPECT_EQ(run(kCased, "a\u2028b").text, "a\u2028b");  // Zl is neither: kept, split later
  NormalizerConfig raw = kCased;
  raw.clean_text = false;
  EXPECT_EQ(run(raw, "a\u200bb").text, "a\u200bb");
}

TEST(TokenizerNormalizer, ChineseCharsArePadded) {
  const Normalized n = run(kCased, "a中b𠀀");
  EXPECT_EQ(n.text, "a 中 b 𠀀 ");
  EXPECT_EQ(n.spans[1], std::make_pair(1, 2));
  EXPECT_EQ(n.spans[2], std::make_pair(1, 2));
  EXPECT_EQ(n.spans[6], std::make_pair(3, 4));
  NormalizerConfig off = kCased;
  off.handle_chinese_chars = false;
  EXPECT_EQ(run(off, "a中b").text, "a中b");
}

TEST(TokenizerNormalizer, LowercaseAndAccents) {
  EXPECT_EQ(run(kUncased, "Crème BRÛLÉE").text, "creme brulee");
  EXPECT_EQ(run(kCased, "Crème").text, "Crème");
  // strip_accents without lowercase (HF: strip_accents=True, do_lower_case=False)
  EXPECT_EQ(run({.strip_accents = true, .lowercase = false}, "Crème").text, "Creme");
  // lowercase without stripping keeps marks; U+0130 lowercases to i + U+0307
  const Normalized n = run({.strip_accents = false, .lowercase = true}, "İÉ");
  EXPECT_EQ(n.text, "i\u0307é");
  EXPECT_EQ(n.spans, (std::vector<std::pair<int32_t, int32_t>>{{0, 1}, {0, 1}, {1, 2}}));
  EXPECT_EQ(run(kUncased, "ΟΔΟΣ").text, "οδοσ");  // no final sigma: lowered per code point
}

TEST(TokenizerNormalizer, NfcComposesAndSpansTheSegment) {
  const Normalized n = run(kCased, "cafe\u0301!");
  EXPECT_EQ(n.text, "café!");
  EXPECT_EQ(n.spans, (std::vector<std::pair<int32_t, int32_t>>{{0, 1}, {1, 2}, {2, 3}, {3, 5}, {5, 6}}));
  EXPECT_EQ(run(kCased, "\u212b").text, "\u00c5");   // singleton: Angstrom sign -> A-ring
  EXPECT_EQ(run(kCased, "a\u037eb").text, "a;b");   // Greek question mark -> ';'
  const Normalized u = run(kUncased, "cafe\u0301");  // stripping keeps the composed span
  EXPECT_EQ(u.text, "cafe");
  EXPECT_EQ(u.spans.back(), std::make_pair(3, 5));
}

TEST(TokenizerNormalizer, StripAccentsReordersBeforeDropping) {
  NormalizedText in, out;
  for (char32_t c : {U'a', char32_t{0x316}, char32_t{0x301}, U'b'}) in.push(c, 0, 1);
  strip_accents_with_spans(in, out);
  EXPECT_EQ(std::u32string(out.chars.begin(), out.chars.end()), U"ab");
}

TEST(TokenizerNormalizer, BaseOffsetsAndInvalidUtf8) {
  NormalizedText out, scratch;
  Normalizer(kUncased).normalize("x\xFFy", 10, out, scratch);
  ASSERT_EQ(out.size(), 2u);  // the invalid byte became U+FFFD and was dropped
  EXPECT_EQ(out.start[1], 12);
}

}  // namespace
}  // namespace heed::tokenizers
