// heed vocab: train a WordPiece vocabulary on text files (one text per line), as
// Hugging Face's BertWordPieceTokenizer.train, and write vocab.txt, tokenizer.json and
// tokenizer_config.json (heed/tokenizers/wordpiece_trainer.h has the algorithm).
#include <fmt/format.h>

#include <chrono>

#include "cli/commands.h"
#include "heed/base/parallel.h"
#include "heed/tokenizers/wordpiece_trainer.h"

namespace heed::cli {

namespace {

struct VocabOptions {
  std::vector<std::string> corpus;
  int32_t size = 30000;
  int64_t min_frequency = 2;
  int32_t limit_alphabet = 1000;
  bool cased = false;
  std::string out;
  int threads = 0;
};

void run_vocab(const VocabOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const auto t0 = std::chrono::steady_clock::now();
  // Uncased: lowercase + strip accents (bert-base-uncased); cased: neither.
  tokenizers::NormalizerConfig normalizer;
  normalizer.lowercase = !o.cased;
  const tokenizers::WordPieceVocab v =
      tokenizers::train_wordpiece_from_files(o.corpus, normalizer,
                                             {.vocab_size = o.size,
                                              .min_frequency = o.min_frequency,
                                              .limit_alphabet = o.limit_alphabet,
                                              .show_progress = true});
  tokenizers::save_wordpiece_tokenizer(o.out, v.vocab, normalizer);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(
      "vocab: {} tokens ({} characters, {} merges, {}) in {:.1f}s, {} threads -> {}/vocab.txt, "
      "tokenizer.json, tokenizer_config.json\n",
      v.vocab.size(), v.alphabet_size, v.merges.size(), o.cased ? "cased" : "uncased", s,
      num_threads(), o.out);
}

}  // namespace

void register_vocab(CLI::App& app) {
  auto opt = std::make_shared<VocabOptions>();
  CLI::App* sub = app.add_subcommand(
      "vocab", "Train a WordPiece vocabulary (BERT style) on text files, one text per line");
  sub->add_option("--corpus", opt->corpus, "Text files")->required()->expected(1, -1);
  sub->add_option("--size", opt->size, "Vocabulary size, special tokens included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--min-frequency", opt->min_frequency, "Never merge a pair seen fewer times")
      ->capture_default_str();
  sub->add_flag("--cased", opt->cased,
                "Keep case and accents (default: lowercase and strip accents)");
  sub->add_option("--limit-alphabet", opt->limit_alphabet,
                  "Keep at most this many characters (most frequent)")
      ->capture_default_str();
  sub->add_option("--out", opt->out, "Output folder")->required();
  sub->add_option("--threads", opt->threads, "Threads for counting (0 = all cores)")
      ->capture_default_str();
  sub->callback([opt] { run_vocab(*opt); });
}

}  // namespace heed::cli
