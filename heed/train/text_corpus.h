// A tokenized pretraining corpus: documents of "sentence-like" lines, as BERT's
// create_pretraining_data.py reads them. Input text files hold one paragraph per line
// and an empty line between documents (data/en_pretrain format). The text is streamed;
// the token ids (4 bytes each, ~40 MB for a 38 MB corpus) are kept in memory, because
// next-sentence prediction draws its random B segment from any document.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace heed::train {

// Text -> token ids, without special tokens. Must be deterministic.
using TokenizeFn = std::function<std::vector<int32_t>(std::string_view)>;

class TextCorpus {
 public:
  int64_t num_documents() const { return int64_t(doc_begin_.size()) - 1; }
  int64_t num_lines(int64_t doc) const {
    return doc_begin_[size_t(doc) + 1] - doc_begin_[size_t(doc)];
  }
  int64_t num_tokens() const { return int64_t(tokens_.size()); }
  // Line j of document doc.
  std::span<const int32_t> line(int64_t doc, int64_t j) const {
    const int64_t l = doc_begin_[size_t(doc)] + j;
    return {tokens_.data() + line_begin_[size_t(l)],
            size_t(line_begin_[size_t(l) + 1] - line_begin_[size_t(l)])};
  }
  // Builders: a document is opened by the first add_line after end_document().
  void add_line(std::vector<int32_t> ids);  // empty lines are dropped, as BERT does
  void end_document();                      // empty documents are dropped

 private:
  std::vector<int32_t> tokens_;
  std::vector<int64_t> line_begin_{0};  // lines + 1
  std::vector<int64_t> doc_begin_{0};   // documents + 1, in line indices
  bool open_ = false;
};

struct CorpusConfig {
  // Every k-th document (global index across files, 0-based, index % k == k - 1) goes to
  // the validation split; 0 holds nothing out. Deterministic, needs no RNG.
  int64_t validation_every = 0;
  // Tokenize with several OpenMP threads (only if the tokenizer is thread-safe); the
  // result is the same either way.
  bool parallel_tokenize = false;
  bool progress = false;  // a progress bar over the input bytes
  // Split each line into sentences (split_sentences below) before tokenizing. BERT's
  // input is one sentence per line and its NSP chunks are built from lines; with one
  // paragraph per line (often longer than max_seq_length) most chunks would hold a
  // single line, which create_instances_from_document always pairs with a random B.
  bool split_sentences = true;
};

// A conservative English sentence splitter: breaks after '.', '!' or '?' (and any closing
// quotes or brackets) when whitespace and then an uppercase letter, a digit or an opening
// quote follow, except after common abbreviations (Mr. Dr. St. e.g. ...) and single
// initials ("J. Smith"). Pieces are trimmed; no text is lost but whitespace.
std::vector<std::string_view> split_sentences(std::string_view line);

struct CorpusSplits {
  TextCorpus train, validation;
};

// Reads and tokenizes files. Lines are stripped of surrounding whitespace; each file
// starts a new document. A tokenizer error is rethrown naming file and line.
CorpusSplits load_text_corpus(const std::vector<std::string>& files, const TokenizeFn& tokenize,
                              const CorpusConfig& cfg);

}  // namespace heed::train
