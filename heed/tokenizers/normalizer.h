// BertNormalizer: the text-level half of HF's Python BasicTokenizer.
//
// For one chunk of text (the text between added tokens) it produces the normalized
// code points, each with the [start, end) span of original code points it came from.
// Steps, in HF Python's order (tokenization_utils.py tokenize(), tokenization_bert.py):
//   1. lowercase each code point (Python str.lower() one character at a time, which is
//      what tokenize()'s `re.sub(r"(special)|(.+?)", ...)` does: no Final_Sigma rule)
//   2. _clean_text: drop U+0000, U+FFFD and category C* except \t\n\r; whitespace -> ' '
//   3. _tokenize_chinese_chars: ' ' around each CJK ideograph
//   4. NFC (unicodedata.normalize("NFC") in BasicTokenizer.tokenize)
//   5. _run_strip_accents: NFD, then drop category Mn
// Steps 4-5 run only on text with a non-ASCII code point (ASCII is NFC and has no
// accents). Each output code point carries the span of the input it came from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heed::tokenizers {

struct NormalizerConfig {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: strip exactly when lowercasing (HF rule)
  bool lowercase = true;

  bool strips_accents() const { return strip_accents.value_or(lowercase); }
};

// Normalized code points with their spans in the original text (code point indices).
struct NormalizedText {
  std::vector<char32_t> chars;
  std::vector<int32_t> start, end;
  bool ascii = true;  // every code point < 0x80

  void clear() {
    chars.clear();
    start.clear();
    end.clear();
    ascii = true;
  }
  size_t size() const { return chars.size(); }
  void push(char32_t c, int32_t s, int32_t e) {
    chars.push_back(c);
    start.push_back(s);
    end.push_back(e);
  }
};

class Normalizer {
 public:
  Normalizer() = default;
  explicit Normalizer(const NormalizerConfig& config) : config_(config) {}
  const NormalizerConfig& config() const { return config_; }

  // Normalizes UTF-8 `text` whose first code point has index `base` in the original
  // text. Invalid UTF-8 bytes decode to U+FFFD (one per byte), which step 2 drops.
  // `out` is cleared first; `scratch` is reused storage.
  void normalize(std::string_view text, int32_t base, NormalizedText& out,
                 NormalizedText& scratch) const;

 private:
  NormalizerConfig config_;
};

// NFC of `in`, keeping spans: characters NFC leaves alone keep their own span; a
// composition segment that NFC changes maps each output code point to the segment's
// whole span. A segment starts at a starter that does not compose with what precedes.
void nfc_with_spans(const NormalizedText& in, NormalizedText& out);
// NFD with canonical reordering, then drop category Mn, keeping spans.
void strip_accents_with_spans(const NormalizedText& in, NormalizedText& out);

}  // namespace heed::tokenizers
