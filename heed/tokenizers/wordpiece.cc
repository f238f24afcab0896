#include "heed/tokenizers/wordpiece.h"

#include <algorithm>

#include "heed/base/error.h"
#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {

WordPiece::WordPiece(const Vocab* vocab, const WordPieceConfig& config)
    : vocab_(vocab), config_(config) {
  unk_id_ = vocab_->token_to_id(config_.unk_token);
  HEED_CHECK(unk_id_ >= 0, "wordpiece: unk_token '{}' is not in the vocabulary", config_.unk_token);
  HEED_CHECK(vocab_->continuing_prefix() == config_.continuing_subword_prefix,
             "wordpiece: vocab indexed with prefix '{}' but model uses '{}'",
             vocab_->continuing_prefix(), config_.continuing_subword_prefix);
  HEED_CHECK(config_.max_input_chars_per_word > 0, "wordpiece: max_input_chars_per_word {} <= 0",
             config_.max_input_chars_per_word);
}

void WordPiece::tokenize_word(const NormalizedText& text, Word word, std::vector<Token>& out,
                              std::string& utf8, std::vector<int32_t>& pos) const {
  const int32_t n = word.end - word.begin;
  const int32_t* st = text.start.data() + word.begin;
  const int32_t* en = text.end.data() + word.begin;
  if (n > config_.max_input_chars_per_word) {
    out.push_back({unk_id_, st[0], en[n - 1]});
    return;
  }
  utf8.clear();
  pos.clear();
  const char32_t* c = text.chars.data() + word.begin;
  for (int32_t i = 0; i < n; ++i) {
    pos.push_back(static_cast<int32_t>(utf8.size()));
    if (c[i] < 0x80) {
      utf8.push_back(static_cast<char>(c[i]));
    } else {
      append_utf8(utf8, c[i]);
    }
  }
  pos.push_back(static_cast<int32_t>(utf8.size()));
  const size_t first = out.size();
  int32_t start = 0;
  while (start < n) {
    // Pieces longer than the longest vocabulary entry cannot match: skip trying them.
    const int32_t longest = start == 0 ? vocab_->max_token_chars() : vocab_->max_continuation_chars();
    int32_t end = std::min(n, start + longest);
    int32_t id = -1;
    for (; end > start; --end) {
      const std::string_view piece(utf8.data() + pos[start], static_cast<size_t>(pos[end] - pos[start]));
      id = start == 0 ? vocab_->token_to_id(piece) : vocab_->continuation_to_id(piece);
      if (id >= 0) break;
    }
    if (id < 0) {
      out.resize(first);
      out.push_back({unk_id_, st[0], en[n - 1]});
      return;
    }
    out.push_back({id, st[start], en[end - 1]});
    start = end;
  }
}

}  // namespace heed::tokenizers
