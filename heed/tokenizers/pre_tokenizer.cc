#include "heed/tokenizers/pre_tokenizer.h"

#include "heed/tokenizers/unicode.h"

namespace heed::tokenizers {

PreTokenizer::PreTokenizer(const std::vector<std::string>& never_split) {
  for (const std::string& s : never_split) {
    std::u32string u;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
      char32_t c;
      i += static_cast<size_t>(decode_utf8(p, s.size(), i, &c));
      u.push_back(c);
    }
    if (!u.empty()) never_split_.push_back(std::move(u));
  }
}

bool PreTokenizer::is_never_split(const NormalizedText& text, int32_t begin, int32_t end) const {
  const size_t n = static_cast<size_t>(end - begin);
  for (const std::u32string& s : never_split_) {
    if (s.size() == n && std::equal(s.begin(), s.end(), text.chars.begin() + begin)) return true;
  }
  return false;
}

void PreTokenizer::pre_tokenize(const NormalizedText& text, std::vector<Word>& out) const {
  const char32_t* c = text.chars.data();
  const int32_t n = static_cast<int32_t>(text.size());
  int32_t i = 0;
  while (i < n) {
    while (i < n && is_python_space(c[i])) ++i;
    if (i == n) break;
    int32_t j = i;
    while (j < n && !is_python_space(c[j])) ++j;
    if (!never_split_.empty() && is_never_split(text, i, j)) {
      out.push_back({i, j});
    } else {
      int32_t w = i;  // start of the current run of non-punctuation
      for (int32_t k = i; k < j; ++k) {
        if (is_bert_punctuation(c[k])) {
          if (w < k) out.push_back({w, k});
          out.push_back({k, k + 1});
          w = k + 1;
        }
      }
      if (w < j) out.push_back({w, j});
    }
    i = j;
  }
}

}  // namespace heed::tokenizers
