#include "heed/tokenizers/unicode.h"

#include <gtest/gtest.h>

namespace heed::tokenizers {
namespace {

TEST(TokenizerUnicode, DecodeReplacesInvalidBytesOneByOne) {
  const std::string s = "a\xC3\xA9\xFF\xE2\x82z\xF0\x9F\x98\x80";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::u32string got;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    i += static_cast<size_t>(decode_utf8(p, s.size(), i, &c));
    got.push_back(c);
  }
  EXPECT_EQ(got, (std::u32string{U'a', 0xE9, 0xFFFD, 0xFFFD, 0xFFFD, U'z', 0x1F600}));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xEF\xBF\xBD"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));        // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));    // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
}

struct ClassRow {
  char32_t cp;
  bool whitespace, control, punctuation, chinese, pyspace;
};

TEST(TokenizerUnicode, CharacterClassesMatchBasicTokenizer) {
  const ClassRow rows[] = {
      {U' ', true, false, false, false, true},      {U'\t', true, false, false, false, true},
      {U'\n', true, false, false, false, true},     {0x0B, false, true, false, false, true},
      {0x00, false, true, false, false, false},     {0x7F, false, true, false, false, false},
      {0x85, false, true, false, false, true},      {0xA0, true, false, false, false, true},
      {0x200B, false, true, false, false, false},   {0xAD, false, true, false, false, false},
      {0x2028, false, false, false, false, true},   {0x3000, true, false, false, false, true},
      {0xE000, false, true, false, false, false},   {0x378, false, true, false, false, false},
      {U'$', false, false, true, false, false},     {U'^', false, false, true, false, false},
      {U'`', false, false, true, false, false},     {0x2014, false, false, true, false, false},
      {0xBF, false, false, true, false, false},     {0x20AC, false, false, false, false, false},
      {0x4E2D, false, false, false, true, false},   {0x20000, false, false, false, true, false},
      {0xF900, false, false, false, true, false},   {0x3042, false, false, false, false, false},
      {0xAC00, false, false, false, false, false},  {U'a', false, false, false, false, false},
  };
  for (const ClassRow& r : rows) {
    SCOPED_TRACE(testing::Message() << "U+" << std::hex << static_cast<uint32_t>(r.cp));
    EXPECT_EQ(is_bert_whitespace(r.cp), r.whitespace);
    EXPECT_EQ(is_bert_control(r.cp), r.control);
    EXPECT_EQ(is_bert_punctuation(r.cp), r.punctuation);
    EXPECT_EQ(is_chinese_char(r.cp), r.chinese);
    EXPECT_EQ(is_python_space(r.cp), r.pyspace);
  }
}

TEST(TokenizerUnicode, LowercaseIsPythonStrLowerPerCodePoint) {
  char32_t out[2];
  ASSERT_EQ(lower_code_point(0x130, out), 2);  // 'İ'.lower() == 'i\u0307'
  EXPECT_EQ(out[0], U'i');
  EXPECT_EQ(out[1], 0x307u);
  ASSERT_EQ(lower_code_point(0x3A3, out), 1);  // capital sigma: never final-sigma per character
  EXPECT_EQ(out[0], 0x3C3u);
  ASSERT_EQ(lower_code_point(0x1E9E, out), 1);  // capital sharp s
  EXPECT_EQ(out[0], 0xDFu);
  ASSERT_EQ(lower_code_point(0x1C5, out), 1);  // titlecase dz -> dz
  EXPECT_EQ(out[0], 0x1C6u);
  ASSERT_EQ(lower_code_point(0x2126, out), 1);  // ohm sign -> omega
  EXPECT_EQ(out[0], 0x3C9u);
  ASSERT_EQ(lower_code_point(U'Q', out), 1);
  EXPECT_EQ(out[0], U'q');
}

}  // namespace
}  // namespace heed::tokenizers
