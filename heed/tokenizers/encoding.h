// Encoding and the BERT post-processor: [CLS] A [SEP] (B [SEP]), token_type_ids,
// truncation (HF transformers v4 truncate_sequences, truncation_side="right") and
// padding to max_length (padding_side="right").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/tokenizers/wordpiece.h"

namespace heed::tokenizers {

// [start, end) in code points of the original text (Python str indices), as the fast
// tokenizer's offset_mapping: special and padding tokens get (0, 0); tokens of the
// second sequence index the second text.
struct Offset {
  int32_t start = 0, end = 0;
  bool operator==(const Offset&) const = default;
};

struct Encoding {
  std::vector<int32_t> input_ids;        // (T,)
  std::vector<int32_t> token_type_ids;   // (T,)
  std::vector<int32_t> attention_mask;   // (T,) 1 = real token, 0 = padding
  std::vector<Offset> offsets;           // (T,)
  size_t size() const { return input_ids.size(); }
};

enum class Truncation { kNone, kLongestFirst, kOnlyFirst, kOnlySecond };
enum class Padding { kNone, kMaxLength };

struct EncodeOptions {
  bool add_special_tokens = true;
  Truncation truncation = Truncation::kNone;
  int32_t max_length = -1;  // < 0: none
  Padding padding = Padding::kNone;
};

// Removes num_tokens_to_remove tokens from the end of a / b as HF does:
//   only_first (or longest_first with no pair): from a, but only if a is longer than that
//     (else HF logs an error and truncates nothing);
//   longest_first with a pair: one token at a time from the longer, ties from b;
//   only_second: from b, only if b is longer than that; nothing when there is no b.
void truncate_sequences(std::vector<Token>& a, std::vector<Token>* b, int64_t num_tokens_to_remove,
                        Truncation strategy);

class PostProcessor {
 public:
  PostProcessor() = default;
  PostProcessor(int32_t cls_id, int32_t sep_id, int32_t pad_id)
      : cls_id_(cls_id), sep_id_(sep_id), pad_id_(pad_id) {}
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }

  // Truncates (a, b), adds special tokens, pads. b == nullptr for a single sequence.
  Encoding process(std::vector<Token>& a, std::vector<Token>* b, const EncodeOptions& options) const;

 private:
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1;
};

}  // namespace heed::tokenizers
