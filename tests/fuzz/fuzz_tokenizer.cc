// libFuzzer target: arbitrary bytes as text (and as a pair) through the uncased and
// cased BERT tokenizers with the bundled vocab. Checks invariants that must hold for
// any input: no crash, offsets inside the text and ordered, ids inside the vocab,
// truncation/padding lengths, and decode never throws.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     -DHEED_DATA_DIR='"data"' tests/fuzz/fuzz_tokenizer.cc heed/tokenizers/*.cc \
//     heed/base/error.cc heed/base/fs.cc -lutf8proc -lfmt -fopenmp -o fuzz_tokenizer
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "heed/tokenizers/bert_tokenizer.h"
#include "heed/tokenizers/unicode.h"

#ifndef HEED_DATA_DIR
#define HEED_DATA_DIR "data"
#endif

using heed::tokenizers::BertTokenizer;
using heed::tokenizers::Encoding;
using heed::tokenizers::Padding;
using heed::tokenizers::Truncation;

static int32_t code_points(std::string_view s) {
  int32_t n = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size(); ++n) {
    char32_t c;
    i += static_cast<size_t>(heed::tokenizers::decode_utf8(p, s.size(), i, &c));
  }
  return n;
}

static void check(const BertTokenizer& tok, const Encoding& e, int32_t len_a, int32_t len_b) {
  if (e.token_type_ids.size() != e.size() || e.attention_mask.size() != e.size() || e.offsets.size() != e.size()) {
    std::abort();
  }
  int32_t prev_a = 0, prev_b = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e.input_ids[i] < 0 || e.input_ids[i] >= tok.vocab_size()) std::abort();
    const auto [s, t] = e.offsets[i];
    const bool second = e.token_type_ids[i] == 1;
    if (s < 0 || s > t || t > (second ? len_b : len_a)) std::abort();
    int32_t& prev = second ? prev_b : prev_a;
    if (t > s) {  // real tokens appear in text order
      if (s < prev) std::abort();
      prev = s;
    }
  }
  (void)tok.decode(e.input_ids);
  (void)tok.decode(e.input_ids, true);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const BertTokenizer uncased = BertTokenizer::from_vocab_file(HEED_DATA_DIR "/bert_vocab/vocab.txt");
  static const BertTokenizer cased = BertTokenizer::from_vocab_file(
      HEED_DATA_DIR "/bert_vocab/vocab.txt", {.do_lower_case = false, .strip_accents = false});
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t cut = size ? data[0] % (size + 1) : 0;  // first byte picks a pair split point
  const std::string_view a = text.substr(0, cut), b = text.substr(cut);
  for (const BertTokenizer* tok : {&uncased, &cased}) {
    check(*tok, tok->encode(text), code_points(text), 0);
    const Encoding p = tok->encode_pair(a, b, {.truncation = Truncation::kLongestFirst, .max_length = 16,
                                              .padding = Padding::kMaxLength});
    check(*tok, p, code_points(a), code_points(b));
    if (p.size() != 16) std::abort();  // truncated or padded to exactly max_length
  }
  return 0;
}
