// Hugging Face tokenizers' tokenizer.json for a BERT WordPiece tokenizer, and the
// options of transformers' tokenizer_config.json that change BertTokenizer's behaviour.
//
// Supported tokenizer.json: normalizer BertNormalizer, pre_tokenizer BertPreTokenizer,
// model WordPiece, post_processor TemplateProcessing of the BERT shape ([CLS] $A [SEP]
// and [CLS] $A [SEP] $B:1 [SEP]:1) or BertProcessing, decoder WordPiece. Anything else
// is a heed::Error naming the file and the field.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "heed/tokenizers/added_tokens.h"
#include "heed/tokenizers/normalizer.h"
#include "heed/tokenizers/wordpiece.h"

namespace heed::tokenizers {

struct TokenizerJson {
  NormalizerConfig normalizer;
  WordPieceConfig model;
  std::vector<std::string> vocab;  // index = id
  std::vector<AddedToken> added_tokens;
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  bool decoder_cleanup = true;
};

// `name` (usually the path) is used in error messages.
TokenizerJson parse_tokenizer_json(std::string_view text, const std::string& name);
TokenizerJson load_tokenizer_json(const std::string& path);
// Writes the layout HF's `Tokenizer.save` produces (same keys, same order, vocab by id).
std::string dump_tokenizer_json(const TokenizerJson& tj);

// tokenizer_config.json options; unset means "not in the file".
struct TokenizerConfigJson {
  std::optional<bool> do_lower_case;
  std::optional<std::optional<bool>> strip_accents;  // present-but-null is {nullopt}
  std::optional<bool> tokenize_chinese_chars;
  std::optional<bool> clean_up_tokenization_spaces;
  std::optional<std::string> unk_token, sep_token, pad_token, cls_token, mask_token;
};
TokenizerConfigJson parse_tokenizer_config(std::string_view text, const std::string& name);

}  // namespace heed::tokenizers
