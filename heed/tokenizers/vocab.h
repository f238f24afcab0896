// WordPiece vocabulary: token <-> id, with a flat open-addressing hash so lookups take
// a string_view into the text being tokenized (no per-lookup allocation).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heed::tokenizers {

// Maps byte strings to int32 ids. Keys live in one arena; later inserts of an
// existing key overwrite its id (like Python's dict assignment).
class StringIdMap {
 public:
  void insert_or_assign(std::string_view key, int32_t id);
  // -1 if absent.
  int32_t find(std::string_view key) const;
  size_t size() const { return entries_.size(); }
  // Length in code points of the longest key (WordPiece never tries longer pieces).
  int32_t max_key_chars() const { return max_key_chars_; }

 private:
  struct Entry {
    uint64_t hash;
    uint32_t offset, length;
    int32_t id;
  };
  void grow();
  std::string arena_;
  std::vector<Entry> entries_;
  // (hash >> 32) << 32 | (entry index + 1); 0 = empty. The tag skips most entry reads.
  std::vector<uint64_t> slots_;  // size is a power of two
  int32_t max_key_chars_ = 0;
};

class Vocab {
 public:
  Vocab() = default;
  // tokens[i] gets id i; a repeated token maps to its last id, as in HF's load_vocab.
  explicit Vocab(std::vector<std::string> tokens, std::string_view continuing_prefix = "##");

  int32_t size() const { return static_cast<int32_t>(id_to_token_.size()); }
  // -1 if absent.
  int32_t token_to_id(std::string_view token) const { return full_.find(token); }
  // Id of prefix + piece (e.g. "##" + "ing") without building the string; -1 if absent.
  int32_t continuation_to_id(std::string_view piece) const { return continuation_.find(piece); }
  std::string_view id_to_token(int32_t id) const { return id_to_token_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& tokens() const { return id_to_token_; }
  const std::string& continuing_prefix() const { return prefix_; }
  int32_t max_token_chars() const { return full_.max_key_chars(); }
  int32_t max_continuation_chars() const { return continuation_.max_key_chars(); }
  // Adds a token at id (growing the table; used for added tokens beyond the vocab).
  void set(int32_t id, std::string_view token);

 private:
  void index(int32_t id);
  std::vector<std::string> id_to_token_;
  std::string prefix_ = "##";
  StringIdMap full_;
  StringIdMap continuation_;
};

// vocab.txt: one token per line, id = 0-based line number. Lines end at \n, \r\n or \r
// (Python's universal newlines, as HF's load_vocab reads it). Throws heed::Error naming
// the file, and the line number of a line that is not UTF-8.
Vocab load_vocab_txt(const std::string& path, std::string_view continuing_prefix = "##");
// Same, from the file's bytes; `name` is used in error messages.
Vocab parse_vocab_txt(std::string_view bytes, const std::string& name,
                      std::string_view continuing_prefix = "##");
// Writes vocab.txt (one token per line, in id order).
void save_vocab_txt(const Vocab& vocab, const std::string& path);

}  // namespace heed::tokenizers
