// BertPreTokenizer: the word-level half of HF's Python BasicTokenizer. Splits
// normalized text on whitespace (Python's str.split(), i.e. str.isspace()), keeps a
// word equal to a special token whole (never_split), and splits every other word
// around each punctuation code point (_run_split_on_punc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/tokenizers/normalizer.h"

namespace heed::tokenizers {

// A word: normalized code points [begin, end).
struct Word {
  int32_t begin, end;
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  // never_split: words kept whole (HF passes all_special_tokens).
  explicit PreTokenizer(const std::vector<std::string>& never_split);

  // Appends the words of `text` to `out` (not cleared).
  void pre_tokenize(const NormalizedText& text, std::vector<Word>& out) const;

 private:
  bool is_never_split(const NormalizedText& text, int32_t begin, int32_t end) const;
  std::vector<std::u32string> never_split_;
};

}  // namespace heed::tokenizers
