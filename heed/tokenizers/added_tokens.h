// Added tokens (HF AddedToken / tokenizer.json "added_tokens"): matched in the raw text
// before any normalization and kept whole, like the slow tokenizer's tokens_trie split
// (tokenize() with split_special_tokens=False).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heed::tokenizers {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = true;
};

// A piece of the raw text: either an added token or plain text to tokenize.
struct TextPiece {
  size_t begin, end;   // bytes
  int32_t added = -1;  // index into the AddedTokens list, or -1 for plain text
};

class AddedTokens {
 public:
  AddedTokens() = default;
  explicit AddedTokens(std::vector<AddedToken> tokens);
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

  // Splits `text` at the leftmost-longest occurrences of the added tokens (byte-exact,
  // case-sensitive). Appends pieces to `out` (not cleared).
  void split(std::string_view text, std::vector<TextPiece>& out) const;

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<int32_t>> by_first_byte_;  // 256 lists, longest content first
};

}  // namespace heed::tokenizers
