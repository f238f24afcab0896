// WordPiece model (HF WordpieceTokenizer): greedy longest-match-first over a word's
// code points, continuation pieces carrying the "##" prefix. A word longer than
// max_input_chars_per_word code points, or one the vocabulary cannot cover, becomes a
// single unk token spanning the whole word.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/tokenizers/normalizer.h"
#include "heed/tokenizers/pre_tokenizer.h"
#include "heed/tokenizers/vocab.h"

namespace heed::tokenizers {

// One token: its id and [start, end) span in the original text (code points).
struct Token {
  int32_t id;
  int32_t start, end;
};

struct WordPieceConfig {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  int32_t max_input_chars_per_word = 100;
};

class WordPiece {
 public:
  WordPiece() = default;
  // The vocab must contain unk_token; its continuing prefix must match the config's.
  WordPiece(const Vocab* vocab, const WordPieceConfig& config);
  const WordPieceConfig& config() const { return config_; }
  int32_t unk_id() const { return unk_id_; }

  // Appends the pieces of `word` (code points of `text`) to `out`. `scratch` holds the
  // word's UTF-8 bytes and code-point byte positions between calls.
  void tokenize_word(const NormalizedText& text, Word word, std::vector<Token>& out,
                     std::string& utf8, std::vector<int32_t>& pos) const;

 private:
  const Vocab* vocab_ = nullptr;
  WordPieceConfig config_;
  int32_t unk_id_ = -1;
};

}  // namespace heed::tokenizers
