#include "heed/tokenizers/added_tokens.h"

#include <algorithm>

#include "heed/base/error.h"

namespace heed::tokenizers {

AddedTokens::AddedTokens(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  by_first_byte_.resize(256);
  for (size_t i = 0; i < tokens_.size(); ++i) {
    HEED_CHECK(!tokens_[i].content.empty(), "added token with id {} has empty content", tokens_[i].id);
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(static_cast<int32_t>(i));
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
      return tokens_[static_cast<size_t>(a)].content.size() > tokens_[static_cast<size_t>(b)].content.size();
    });
  }
}

void AddedTokens::split(std::string_view text, std::vector<TextPiece>& out) const {
  if (tokens_.empty()) {
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return;
  }
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    const auto& candidates = by_first_byte_[static_cast<unsigned char>(text[i])];
    int32_t match = -1;
    for (int32_t t : candidates) {
      const std::string& c = tokens_[static_cast<size_t>(t)].content;
      if (text.compare(i, c.size(), c) == 0) {
        match = t;
        break;
      }
    }
    if (match < 0) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({start, i, -1});
    const size_t len = tokens_[static_cast<size_t>(match)].content.size();
    out.push_back({i, i + len, match});
    i += len;
    start = i;
  }
  if (start < text.size()) out.push_back({start, text.size(), -1});
}

}  // namespace heed::tokenizers
