// BertTokenizer: behaves like Hugging Face transformers' Python BertTokenizer
// (tests/golden/tokenizer/README.md lists the few documented differences).
//
//   auto tok = BertTokenizer::from_pretrained("data/bert_vocab");  // vocab.txt or tokenizer.json
//   Encoding e = tok.encode_pair("How old?", "Six.", {.truncation = Truncation::kLongestFirst,
//                                                     .max_length = 128,
//                                                     .padding = Padding::kMaxLength});
//
// Pipeline: added-token split (raw text) -> Normalizer -> PreTokenizer -> WordPiece ->
// PostProcessor. Input is UTF-8; invalid bytes become U+FFFD, which clean_text drops.
// Offsets count code points of the original text, an invalid byte counting as one.
// All methods are const and thread-safe; encode_batch runs on heed::parallel_for.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "heed/tokenizers/added_tokens.h"
#include "heed/tokenizers/encoding.h"
#include "heed/tokenizers/normalizer.h"
#include "heed/tokenizers/pre_tokenizer.h"
#include "heed/tokenizers/tokenizer_json.h"
#include "heed/tokenizers/vocab.h"
#include "heed/tokenizers/wordpiece.h"

namespace heed::tokenizers {

// Options of transformers' BertTokenizer.__init__ / tokenizer_config.json.
struct BertTokenizerConfig {
  bool do_lower_case = true;
  std::optional<bool> strip_accents;  // unset: strip when lowercasing
  bool tokenize_chinese_chars = true;
  bool clean_text = true;
  bool clean_up_tokenization_spaces = true;
  int32_t max_input_chars_per_word = 100;
  std::string unk_token = "[UNK]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string cls_token = "[CLS]";
  std::string mask_token = "[MASK]";
};

class BertTokenizer {
 public:
  // From vocab.txt: the five special tokens become added tokens (as in HF).
  BertTokenizer(Vocab vocab, const BertTokenizerConfig& config);
  // From a parsed tokenizer.json; `config` may override do_lower_case, strip_accents,
  // tokenize_chinese_chars and clean_up_tokenization_spaces (tokenizer_config.json).
  BertTokenizer(const TokenizerJson& tj, const TokenizerConfigJson& config = {});

  static BertTokenizer from_vocab_file(const std::string& vocab_txt, const BertTokenizerConfig& config = {});
  static BertTokenizer from_tokenizer_json(const std::string& tokenizer_json,
                                           const std::string& tokenizer_config_json = "");
  // A directory with tokenizer.json or vocab.txt, plus tokenizer_config.json if present.
  static BertTokenizer from_pretrained(const std::string& dir);

  // tokenizer.json (HF tokenizers format) describing this tokenizer.
  std::string to_tokenizer_json() const;
  void save(const std::string& tokenizer_json_path) const;

  // Tokens of one text, no special tokens.
  std::vector<Token> tokenize(std::string_view text) const;
  Encoding encode(std::string_view text, const EncodeOptions& options = {}) const;
  Encoding encode_pair(std::string_view text, std::string_view pair, const EncodeOptions& options = {}) const;
  // Encodes texts[i] (and pairs[i] when pairs is not empty) on all heed threads.
  std::vector<Encoding> encode_batch(std::span<const std::string_view> texts,
                                     std::span<const std::string_view> pairs = {},
                                     const EncodeOptions& options = {}) const;
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const EncodeOptions& options = {}) const;

  // HF decode: convert_tokens_to_string (join with ' ', drop " ##") then
  // clean_up_tokenization when enabled. Unknown ids decode as the unk token.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
  static std::string convert_tokens_to_string(std::span<const std::string_view> tokens);
  static std::string clean_up_tokenization(std::string text);

  std::vector<std::string_view> convert_ids_to_tokens(std::span<const int32_t> ids) const;
  int32_t token_to_id(std::string_view token) const;  // unk id when absent
  std::string_view id_to_token(int32_t id) const;     // unk token when out of range
  int32_t vocab_size() const { return vocab_->size(); }
  const Vocab& vocab() const { return *vocab_; }
  const NormalizerConfig& normalizer_config() const { return normalizer_.config(); }
  const std::vector<AddedToken>& added_tokens() const { return added_.tokens(); }
  int32_t unk_token_id() const { return wordpiece_.unk_id(); }
  int32_t cls_token_id() const { return post_.cls_id(); }
  int32_t sep_token_id() const { return post_.sep_id(); }
  int32_t pad_token_id() const { return post_.pad_id(); }
  int32_t mask_token_id() const { return mask_id_; }
  bool is_special_id(int32_t id) const;

 private:
  void init(const std::vector<AddedToken>& added);
  void tokenize_into(std::string_view text, std::vector<Token>& out) const;

  std::shared_ptr<Vocab> vocab_;  // shared so WordPiece's pointer survives moves
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  WordPiece wordpiece_;
  AddedTokens added_;
  PostProcessor post_;
  std::string cls_token_, sep_token_, pad_token_, mask_token_;
  int32_t mask_id_ = -1;
  bool clean_up_tokenization_spaces_ = true;
  bool decoder_cleanup_ = true;
};

}  // namespace heed::tokenizers
