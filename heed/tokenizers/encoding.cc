#include "heed/tokenizers/encoding.h"

#include "heed/base/error.h"

namespace heed::tokenizers {

void truncate_sequences(std::vector<Token>& a, std::vector<Token>* b, int64_t n, Truncation strategy) {
  if (n <= 0 || strategy == Truncation::kNone) return;
  const auto na = static_cast<int64_t>(a.size());
  if (strategy == Truncation::kOnlyFirst || (strategy == Truncation::kLongestFirst && b == nullptr)) {
    if (na > n) a.resize(static_cast<size_t>(na - n));
  } else if (strategy == Truncation::kLongestFirst) {
    for (int64_t k = 0; k < n; ++k) {
      if (a.size() > b->size()) {
        a.pop_back();
      } else if (!b->empty()) {
        b->pop_back();
      }
    }
  } else if (strategy == Truncation::kOnlySecond && b != nullptr) {
    const auto nb = static_cast<int64_t>(b->size());
    if (nb > n) b->resize(static_cast<size_t>(nb - n));
  }
}

Encoding PostProcessor::process(std::vector<Token>& a, std::vector<Token>* b,
                                const EncodeOptions& options) const {
  const bool specials = options.add_special_tokens;
  if (options.truncation != Truncation::kNone && options.max_length >= 0) {
    const int64_t n_special = specials ? (b ? 3 : 2) : 0;
    const int64_t total = static_cast<int64_t>(a.size()) + (b ? static_cast<int64_t>(b->size()) : 0) + n_special;
    truncate_sequences(a, b, total - options.max_length, options.truncation);
  }
  Encoding e;
  const size_t t = a.size() + (b ? b->size() : 0) + (specials ? (b ? 3 : 2) : 0);
  const size_t padded = options.padding == Padding::kMaxLength && options.max_length > 0
                            ? std::max(t, static_cast<size_t>(options.max_length))
                            : t;
  e.input_ids.reserve(padded);
  e.token_type_ids.reserve(padded);
  e.attention_mask.reserve(padded);
  e.offsets.reserve(padded);
  auto push = [&](int32_t id, int32_t type, Offset off) {
    e.input_ids.push_back(id);
    e.token_type_ids.push_back(type);
    e.attention_mask.push_back(1);
    e.offsets.push_back(off);
  };
  if (specials) push(cls_id_, 0, {});
  for (const Token& tok : a) push(tok.id, 0, {tok.start, tok.end});
  if (specials) push(sep_id_, 0, {});
  if (b) {
    // Without special tokens HF gives the pair type id 0 (prepare_for_model).
    const int32_t type = specials ? 1 : 0;
    for (const Token& tok : *b) push(tok.id, type, {tok.start, tok.end});
    if (specials) push(sep_id_, 1, {});
  }
  if (padded > e.size()) {
    HEED_CHECK(pad_id_ >= 0, "encode: padding requested but the tokenizer has no pad token");
    const size_t n = padded - e.size();
    e.input_ids.insert(e.input_ids.end(), n, pad_id_);
    e.token_type_ids.insert(e.token_type_ids.end(), n, 0);
    e.attention_mask.insert(e.attention_mask.end(), n, 0);
    e.offsets.insert(e.offsets.end(), n, Offset{});
  }
  return e;
}

}  // namespace heed::tokenizers
