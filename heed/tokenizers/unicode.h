// Code-point classes exactly as Hugging Face's Python BertTokenizer defines them
// (transformers/models/bert/tokenization_bert.py), on utf8proc's Unicode 15.0 tables
// (the same tables as Python 3.12's unicodedata).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace heed::tokenizers {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes one code point at s[i] (i < n) and returns the bytes consumed. An invalid or
// truncated sequence yields U+FFFD and consumes one byte, so any byte string decodes.
inline int decode_utf8(const unsigned char* s, size_t n, size_t i, char32_t* cp) {
  const unsigned char c = s[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  char32_t v;
  char32_t min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    *cp = kReplacementChar;
    return 1;
  }
  if (i + len > n) {
    *cp = kReplacementChar;
    return 1;
  }
  for (int k = 1; k < len; ++k) {
    const unsigned char b = s[i + k];
    if ((b & 0xC0) != 0x80) {
      *cp = kReplacementChar;
      return 1;
    }
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    *cp = kReplacementChar;
    return 1;
  }
  *cp = v;
  return len;
}

// Appends the UTF-8 encoding of cp.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// True if the whole string is valid UTF-8.
bool is_valid_utf8(std::string_view s);

// _is_whitespace: space, \t, \n, \r or category Zs.
bool is_bert_whitespace(char32_t cp);
// _is_control: any category C* (Cc, Cf, Cs, Co, Cn) except \t, \n, \r.
bool is_bert_control(char32_t cp);
// _is_punctuation: ASCII 33-47, 58-64, 91-96, 123-126, or category P*.
bool is_bert_punctuation_slow(char32_t cp);
inline bool is_bert_punctuation(char32_t cp) {
  if (cp < 0x80) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
                        (cp >= 123 && cp <= 126);
  return is_bert_punctuation_slow(cp);
}
// _is_chinese_char: the CJK ideograph blocks BERT pads with spaces.
bool is_chinese_char(char32_t cp);
// Python's str.isspace(): what str.split() splits on.
bool is_python_space_slow(char32_t cp);
inline bool is_python_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return is_python_space_slow(cp);
}
// category Mn (what accent stripping drops).
bool is_nonspacing_mark(char32_t cp);

// Python's str.lower() of one code point, written to out (returns 1 or 2 code points).
// Only U+0130 maps to two code points (i + U+0307), as in SpecialCasing.txt.
int lower_code_point(char32_t cp, char32_t out[2]);

}  // namespace heed::tokenizers
