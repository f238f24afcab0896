// WordPiece vocabulary trainer, as Hugging Face tokenizers' BertWordPieceTokenizer.train.
//
// HF's WordPieceTrainer (tokenizers/src/models/wordpiece/trainer.rs) is its BpeTrainer
// (models/bpe/trainer.rs) with continuing_subword_prefix "##", and so is this one:
//   1. count the words of the corpus (same normalizer and pre-tokenizer as BertTokenizer);
//   2. vocab = special tokens, then the alphabet (initial_alphabet plus the
//      limit_alphabet most frequent characters, by code point), then "##c" for every
//      alphabet character that occurs inside a word;
//   3. each word is a list of symbols (its first character, then "##" characters);
//      repeatedly merge the most frequent adjacent pair (a, b) into a + b without b's
//      "##", until the vocab has vocab_size tokens or the best pair is seen fewer than
//      min_frequency times.
// Differences from HF, all for determinism: ties between equally frequent pairs go to
// the lexicographically smallest (left, right) token strings (HF: smallest ids, whose
// order depends on hash-map iteration); "##c" tokens come in code-point order; a pair's
// count is always its true current count (HF's queue can hold a stale duplicate entry
// for a pair that gained occurrences and merge it in two steps).
//
//   WordCounter counter(normalizer);
//   counter.add_file("corpus.txt");
//   WordPieceVocab v = train_wordpiece(counter.counts(), {.vocab_size = 8000});
//   save_wordpiece_tokenizer("out/", v.vocab, normalizer);
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "heed/tokenizers/added_tokens.h"
#include "heed/tokenizers/normalizer.h"
#include "heed/tokenizers/pre_tokenizer.h"

namespace heed::tokenizers {

struct WordPieceTrainerConfig {
  int32_t vocab_size = 30000;
  int64_t min_frequency = 2;      // pairs seen fewer times are never merged
  int32_t limit_alphabet = 1000;  // keep at most this many characters (most frequent); < 0: all
  std::vector<char32_t> initial_alphabet = {};  // always kept (they count as most frequent)
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::string continuing_subword_prefix = "##";
  bool show_progress = false;  // heed::ProgressBar on stderr
};

// word (normalized, UTF-8) -> number of occurrences.
using WordCounts = std::unordered_map<std::string, int64_t>;

// Counts the words of texts with BertTokenizer's pipeline: special tokens in the raw
// text are cut out (they are never learned), the rest is normalized and pre-tokenized.
class WordCounter {
 public:
  explicit WordCounter(
      const NormalizerConfig& normalizer,
      const std::vector<std::string>& special_tokens = WordPieceTrainerConfig{}.special_tokens);

  // Counts the words of each text, on all heed threads.
  void add_texts(std::span<const std::string_view> texts);
  // Streams a text file in chunks of whole lines (never the whole file at once).
  // on_bytes(n) is called after each chunk with the bytes consumed so far in this file.
  void add_file(const std::string& path, const std::function<void(int64_t)>& on_bytes = {});

  const WordCounts& counts() const { return counts_; }

 private:
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  AddedTokens specials_;
  WordCounts counts_;
};

struct WordPieceMerge {
  std::string left, right;  // tokens merged (right keeps its "##")
  int64_t count;            // occurrences of the pair when it was merged
};

struct WordPieceVocab {
  std::vector<std::string> vocab;  // id order: specials, alphabet, "##" alphabet, merges
  std::vector<WordPieceMerge> merges;
  int32_t alphabet_size = 0;  // characters kept (without their "##" forms)
};

// Trains on word counts. Throws heed::Error if vocab_size cannot hold the special
// tokens, the alphabet and its "##" forms.
WordPieceVocab train_wordpiece(const WordCounts& words, const WordPieceTrainerConfig& config = {});

// Counts the words of text files (one text per line) and trains. Checks that every file
// can be read before counting.
WordPieceVocab train_wordpiece_from_files(const std::vector<std::string>& files,
                                          const NormalizerConfig& normalizer,
                                          const WordPieceTrainerConfig& config = {});

// Writes dir/vocab.txt, dir/tokenizer.json and dir/tokenizer_config.json (each
// atomically; dir is created), so BertTokenizer::from_pretrained(dir) loads it.
void save_wordpiece_tokenizer(const std::string& dir, const std::vector<std::string>& vocab,
                              const NormalizerConfig& normalizer);

}  // namespace heed::tokenizers
