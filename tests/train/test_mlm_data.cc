// The BERT pretraining pipeline over a synthetic corpus: segment layout and lengths,
// NSP balance, masking rates and the 80/10/10 split, whole-word masking, determinism,
// resume mid-stream (with and without the prefetch thread), FULL-SENTENCES packing,
// reading text files, and the validation split.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "heed/base/error.h"
#include "heed/train/mlm_data.h"
#include "train_test_util.h"

namespace heed::train {
namespace {

// ids: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK], 5..79 word starts, 80..99 "##" pieces.
constexpr int64_t kVocab = 100;
constexpr int32_t kFirstPiece = 80;

MlmVocab vocab() {
  MlmVocab v{.vocab_size = kVocab,
             .cls_id = 2,
             .sep_id = 3,
             .mask_id = 4,
             .pad_id = 0,
             .other_special_ids = {1},
             .is_continuation = {}};
  v.is_continuation.assign(kVocab, 0);
  for (int32_t i = kFirstPiece; i < kVocab; ++i) v.is_continuation[size_t(i)] = 1;
  return v;
}

// Documents of 2..9 lines (min_lines..min_lines+7) of 3..24 tokens (3..max_len); about
// one token in five is a "##" piece.
std::shared_ptr<TextCorpus> synthetic_corpus(int64_t docs, uint64_t seed = 7, int64_t min_lines = 2,
                                             int64_t max_len = 24) {
  auto c = std::make_shared<TextCorpus>();
  Generator g(seed);
  for (int64_t d = 0; d < docs; ++d) {
    const int64_t lines = min_lines + int64_t(g.randint(8));
    for (int64_t l = 0; l < lines; ++l) {
      std::vector<int32_t> ids(size_t(3 + int64_t(g.randint(uint64_t(max_len - 2)))));
      for (size_t i = 0; i < ids.size(); ++i)
        ids[i] = (i > 0 && g.uniform() < 0.2f) ? int32_t(kFirstPiece + g.randint(20))
                                               : int32_t(5 + g.randint(75));
      c->add_line(std::move(ids));
    }
    c->end_document();
  }
  return c;
}

std::vector<int64_t> ids_of(const Batch& b, const char* k) { return b.at(k).to_ids(); }

void expect_same_batch(const Batch& a, const Batch& b) {
  for (const char* k :
       {"input_ids", "token_type_ids", "attention_mask", "mlm_labels", "nsp_labels"}) {
    EXPECT_EQ(a.at(k).shape(), b.at(k).shape()) << k;
    EXPECT_EQ(ids_of(a, k), ids_of(b, k)) << k;
  }
}

TEST(MlmData, SegmentLayoutAndLengths) {
  // Short lines, so that chunks of one line (BERT forces those to random-next) are rare.
  const auto corpus = synthetic_corpus(60, 7, 6, 8);
  const MlmVocab v = vocab();
  const MlmDataConfig cfg{.max_seq_length = 32, .batch_size = 8, .short_seq_prob = 0.1f};
  std::vector<MlmInstance> all;
  for (int64_t d = 0; d < corpus->num_documents(); ++d) {
    Generator g{uint64_t(d)};
    append_instances_from_document(*corpus, d, cfg, v, g, all);
  }
  ASSERT_GT(all.size(), 100u);
  int64_t random_next = 0, full = 0;
  for (const auto& in : all) {
    ASSERT_LE(int64_t(in.tokens.size()), cfg.max_seq_length);
    ASSERT_EQ(in.tokens.size(), in.segment_ids.size());
    EXPECT_EQ(in.tokens.front(), v.cls_id);
    EXPECT_EQ(in.tokens.back(), v.sep_id);
    // [CLS] A [SEP] B [SEP]: exactly two [SEP]s, A and B non-empty, types 0 then 1.
    std::vector<size_t> seps;
    for (size_t i = 0; i < in.tokens.size(); ++i)
      if (in.tokens[i] == v.sep_id) seps.push_back(i);
    ASSERT_EQ(seps.size(), 2u);
    EXPECT_GE(seps[0], 2u);
    EXPECT_GE(seps[1], seps[0] + 2);
    for (size_t i = 0; i < in.tokens.size(); ++i)
      EXPECT_EQ(in.segment_ids[i], i <= seps[0] ? 0 : 1);
    ASSERT_TRUE(in.nsp_label == 0 || in.nsp_label == 1);
    random_next += in.nsp_label;
    full += int64_t(in.tokens.size()) == cfg.max_seq_length;
  }
  // Half random B, plus the rare chunks of a single line that are forced random (BERT).
  const double frac = double(random_next) / double(all.size());
  EXPECT_GT(frac, 0.45);
  EXPECT_LT(frac, 0.60);
  EXPECT_GT(full, int64_t(all.size()) / 3);  // most sequences are packed to the limit
}

TEST(MlmData, TruncateSeqPairTrimsLongerSide) {
  Generator g(1);
  std::vector<int32_t> a(10, 5), b(3, 6);
  truncate_seq_pair(a, b, 8, g);
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(b.size(), 3u);
  std::vector<int32_t> c = {1, 2, 3, 4, 5, 6}, d = {7, 8, 9, 10, 11, 12};
  truncate_seq_pair(c, d, 4, g);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(d.size(), 2u);
}

// 15% of the non-special tokens are chosen; of those 80% [MASK], 10% random, 10% kept.
TEST(MlmData, MaskingRatesAndSplit) {
  const MlmVocab v = vocab();
  const MlmDataConfig cfg{.max_seq_length = 128};
  Generator data(3), gen(4);
  int64_t cand = 0, chosen = 0, masked = 0, kept = 0, randomized = 0;
  std::vector<int64_t> labels;
  for (int it = 0; it < 400; ++it) {
    std::vector<int32_t> toks = {v.cls_id};
    for (int i = 0; i < 60; ++i) toks.push_back(int32_t(5 + data.randint(90)));
    toks.push_back(v.sep_id);
    for (int i = 0; i < 64; ++i) toks.push_back(int32_t(5 + data.randint(90)));
    toks.push_back(v.sep_id);
    const std::vector<int32_t> orig = toks;
    mask_tokens(toks, labels, cfg, v, gen);
    for (size_t i = 0; i < toks.size(); ++i) {
      const bool special = orig[i] == v.cls_id || orig[i] == v.sep_id;
      cand += !special;
      if (labels[i] == -100) {
        EXPECT_EQ(toks[i], orig[i]);
        continue;
      }
      ASSERT_FALSE(special) << "a special token was chosen";
      EXPECT_EQ(labels[i], orig[i]);
      ++chosen;
      if (toks[i] == v.mask_id)
        ++masked;
      else if (toks[i] == orig[i])
        ++kept;
      else
        ++randomized;
      EXPECT_NE(toks[i], v.cls_id);
      EXPECT_NE(toks[i], v.sep_id);
      EXPECT_NE(toks[i], v.pad_id);
      EXPECT_NE(toks[i], 1);  // [UNK] is never a random replacement
    }
  }
  EXPECT_NEAR(double(chosen) / double(cand), 0.15, 0.005);  // round(124 * 0.15) = 19 per sequence
  EXPECT_NEAR(double(masked) / double(chosen), 0.8, 0.02);
  // A random draw equal to the original counts as "kept" (1 in 95).
  EXPECT_NEAR(double(kept) / double(chosen), 0.1 + 0.1 / 95, 0.015);
  EXPECT_NEAR(double(randomized) / double(chosen), 0.1 - 0.1 / 95, 0.015);
}

TEST(MlmData, WholeWordMaskingMasksAllPieces) {
  const MlmVocab v = vocab();
  MlmDataConfig cfg{.max_seq_length = 64, .whole_word_mask = true};
  Generator data(5), gen(6);
  std::vector<int64_t> labels;
  int64_t words_masked = 0, multi_piece_masked = 0, pieces = 0;
  for (int it = 0; it < 300; ++it) {
    std::vector<int32_t> toks = {v.cls_id};
    for (int i = 0; i < 40; ++i)
      toks.push_back(i > 0 && data.uniform() < 0.4f ? int32_t(kFirstPiece + data.randint(20))
                                                    : int32_t(5 + data.randint(75)));
    toks.push_back(v.sep_id);
    const std::vector<int32_t> orig = toks;
    mask_tokens(toks, labels, cfg, v, gen);
    for (size_t i = 1; i + 1 < orig.size();) {
      size_t j = i + 1;
      while (j + 1 < orig.size() && orig[j] >= kFirstPiece) ++j;  // word = [i, j)
      int64_t n_masked = 0;
      for (size_t k = i; k < j; ++k) n_masked += labels[k] != -100;
      EXPECT_TRUE(n_masked == 0 || n_masked == int64_t(j - i))
          << "word at " << i << " of " << (j - i) << " pieces has " << n_masked << " chosen";
      words_masked += n_masked > 0;
      multi_piece_masked += n_masked > 1;
      for (size_t k = i; k < j; ++k) pieces += labels[k] != -100;
      i = j;
    }
  }
  EXPECT_GT(multi_piece_masked, 100);
  // Words are skipped when they would exceed the budget, so at most 15% of tokens.
  EXPECT_LE(double(pieces) / (300.0 * 40.0), 0.151);
  EXPECT_GT(double(pieces) / (300.0 * 40.0), 0.12);
  // Without whole-word masking, pieces are chosen independently.
  cfg.whole_word_mask = false;
  int64_t split_words = 0;
  for (int it = 0; it < 100; ++it) {
    std::vector<int32_t> toks = {v.cls_id, 10, 81, 82, 83, 84, 85, 86, 87, 88, 89, v.sep_id};
    mask_tokens(toks, labels, cfg, v, gen);
    int64_t n = 0;
    for (size_t k = 1; k <= 10; ++k) n += labels[k] != -100;
    split_words += n > 0 && n < 10;
  }
  EXPECT_EQ(split_words, 100);
}

TEST(MlmData, BatchTensors) {
  const auto corpus = synthetic_corpus(30);
  MlmDataset ds(corpus, vocab(), {.max_seq_length = 32, .batch_size = 6, .prefetch = 0});
  const Batch b = ds.next_batch();
  const int64_t T = b.at("input_ids").size(1);
  EXPECT_LE(T, 32);
  for (const char* k : {"input_ids", "token_type_ids", "attention_mask", "mlm_labels"}) {
    EXPECT_EQ(b.at(k).shape(), (Shape{6, T})) << k;
    EXPECT_EQ(b.at(k).dtype(), DType::I64) << k;
  }
  EXPECT_EQ(b.at("nsp_labels").shape(), Shape{6});
  const auto ids = ids_of(b, "input_ids"), attn = ids_of(b, "attention_mask"),
             lab = ids_of(b, "mlm_labels");
  int64_t real = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    real += attn[i];
    if (attn[i] == 0) {
      EXPECT_EQ(ids[i], 0);
      EXPECT_EQ(lab[i], -100);
    }
  }
  EXPECT_EQ(b.num_tokens, real);
  MlmDataset padded(
      corpus, vocab(),
      {.max_seq_length = 32, .batch_size = 6, .pad_to_max_length = true, .prefetch = 0});
  EXPECT_EQ(padded.next_batch().at("input_ids").size(1), 32);
}

TEST(MlmData, DeterministicForSeed) {
  const auto corpus = synthetic_corpus(40);
  const MlmDataConfig cfg{.max_seq_length = 48, .batch_size = 4, .window_documents = 8, .seed = 11};
  MlmDataset a(corpus, vocab(), cfg), b(corpus, vocab(), cfg);
  MlmDataConfig other = cfg;
  other.seed = 12;
  MlmDataset c(corpus, vocab(), other);
  bool differs = false;
  for (int i = 0; i < 10; ++i) {
    const Batch x = a.next_batch(), y = b.next_batch(), z = c.next_batch();
    expect_same_batch(x, y);
    differs |= ids_of(x, "input_ids") != ids_of(z, "input_ids");
  }
  EXPECT_TRUE(differs);
}

// Resume mid-stream, across window and epoch boundaries, with and without prefetching.
TEST(MlmData, ResumeGivesSameNextBatches) {
  const auto corpus = synthetic_corpus(12);
  for (const int64_t prefetch : {0, 3}) {
    for (const bool nsp : {true, false}) {
      const MlmDataConfig cfg{.max_seq_length = 40,
                              .batch_size = 5,
                              .nsp = nsp,
                              .window_documents = 5,
                              .seed = 3,
                              .prefetch = prefetch};
      MlmDataset first(corpus, vocab(), cfg);
      for (int i = 0; i < 7; ++i) first.next_batch();
      const nlohmann::json st = first.state();
      std::vector<Batch> expected;
      for (int i = 0; i < 20; ++i) expected.push_back(first.next_batch());
      EXPECT_GE(first.epoch(), 1) << "the test should cross an epoch";
      // Through text, as a checkpoint stores it.
      MlmDataset second(corpus, vocab(), cfg);
      second.next_batch();  // a used pipeline can be restored too
      second.restore(nlohmann::json::parse(st.dump()));
      for (int i = 0; i < 20; ++i) expect_same_batch(second.next_batch(), expected[size_t(i)]);
    }
  }
}

TEST(MlmData, RestoreRejectsOtherCorpus) {
  MlmDataset a(synthetic_corpus(12), vocab(),
               {.max_seq_length = 40, .batch_size = 2, .prefetch = 0});
  MlmDataset b(synthetic_corpus(13), vocab(),
               {.max_seq_length = 40, .batch_size = 2, .prefetch = 0});
  HEED_EXPECT_ERROR(b.restore(a.state()), "num_documents", "different corpus");
}

TEST(MlmData, FullSentencesPacking) {
  const auto corpus = synthetic_corpus(20);
  const MlmVocab v = vocab();
  const MlmDataConfig cfg{.max_seq_length = 24, .nsp = false};
  std::vector<int64_t> docs(20);
  for (int64_t i = 0; i < 20; ++i) docs[size_t(i)] = i;
  std::vector<MlmInstance> all;
  append_packed_instances(*corpus, docs, cfg, v, all);
  int64_t tokens = 0, seps = 0;
  for (const auto& in : all) {
    ASSERT_LE(int64_t(in.tokens.size()), 24);
    EXPECT_EQ(in.tokens.front(), v.cls_id);
    EXPECT_EQ(in.tokens.back(), v.sep_id);
    EXPECT_EQ(in.nsp_label, -100);
    for (auto s : in.segment_ids) EXPECT_EQ(s, 0);
    for (size_t i = 1; i + 1 < in.tokens.size(); ++i) {
      tokens += in.tokens[i] != v.sep_id;
      seps += in.tokens[i] == v.sep_id;
    }
  }
  EXPECT_EQ(tokens, corpus->num_tokens());  // nothing lost, nothing repeated
  EXPECT_GT(seps, 0);                       // document boundaries inside sequences
  // Whole lines are kept together, so sequences are mostly but not all full.
  EXPECT_GT(double(tokens + seps) / double(all.size() * 22), 0.7);
  MlmDataset ds(corpus, v, {.max_seq_length = 24, .batch_size = 4, .nsp = false, .prefetch = 0});
  for (auto l : ids_of(ds.next_batch(), "nsp_labels")) EXPECT_EQ(l, -100);
}

// Whitespace "tokenizer" over words w<N> -> id N; "bad" throws.
std::vector<int32_t> toy_tokenize(std::string_view s) {
  std::vector<int32_t> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) {
    if (w == "bad") throw Error("cannot tokenize 'bad'");
    out.push_back(int32_t(std::stoi(w.substr(1))));
  }
  return out;
}

TEST(MlmData, LoadsTextFilesWithValidationSplit) {
  testing::ScratchDir dir("corpus");
  // Documents 0..5 in two files; a whitespace-only line separates too; blank runs collapse.
  const std::string f1 =
      dir.write("a.txt", "w5 w6\nw7\n\nw8 w9\n  \n\n\nw10\nw11 w12 w13\n\nw14\n");
  const std::string f2 = dir.write("b.txt", "w15\n\nw16 w17\n");
  for (const bool par : {false, true}) {
    const CorpusSplits s =
        load_text_corpus({f1, f2}, toy_tokenize, {.validation_every = 3, .parallel_tokenize = par});
    // Documents: 0 {5 6|7} 1 {8 9} 2 {10|11 12 13} 3 {14} 4 {15} 5 {16 17}; validation = 2 and 5.
    ASSERT_EQ(s.train.num_documents(), 4);
    ASSERT_EQ(s.validation.num_documents(), 2);
    EXPECT_EQ(s.train.num_lines(0), 2);
    EXPECT_EQ(std::vector<int32_t>(s.train.line(0, 1).begin(), s.train.line(0, 1).end()),
              std::vector<int32_t>{7});
    EXPECT_EQ(s.validation.num_lines(0), 2);
    EXPECT_EQ(s.validation.line(0, 1)[2], 13);
    EXPECT_EQ(s.train.line(3, 0)[0], 15);  // the second file starts a new document
    EXPECT_EQ(s.validation.line(1, 0)[1], 17);
  }
  // More lines than one tokenizer batch (4096): documents must not be split between batches.
  std::string big;
  for (int d = 0; d < 2500; ++d) big += "w5 w6\nw7\nw8\n\n";
  const CorpusSplits bs = load_text_corpus({dir.write("big.txt", big)}, toy_tokenize, {});
  EXPECT_EQ(bs.train.num_documents(), 2500);
  for (int64_t d = 0; d < 2500; ++d) ASSERT_EQ(bs.train.num_lines(d), 3) << d;
  const std::string f3 = dir.write("c.txt", "w5\nw6 bad\n");
  HEED_EXPECT_ERROR(load_text_corpus({f3}, toy_tokenize, {}), "c.txt:2:", "cannot tokenize");
  HEED_EXPECT_ERROR(load_text_corpus({dir.file("none.txt")}, toy_tokenize, {}), "none.txt");
}

TEST(MlmData, SplitsSentences) {
  const auto s = split_sentences(
      "Mr. Smith went to Washington. He arrived at 5 p.m. today! \"Really?\" she asked. "
      "J. R. R. Tolkien wrote it.  The end");
  const std::vector<std::string_view> want = {
      "Mr. Smith went to Washington.", "He arrived at 5 p.m. today!", "\"Really?\" she asked.",
      "J. R. R. Tolkien wrote it.", "The end"};
  EXPECT_EQ(s, want);
  EXPECT_EQ(split_sentences("no end"), std::vector<std::string_view>{"no end"});
  EXPECT_EQ(split_sentences("Ends here. "), std::vector<std::string_view>{"Ends here. "});
}

TEST(MlmData, ValidationBatchesAreFixed) {
  const auto corpus = synthetic_corpus(9);
  const MlmDataConfig cfg{.max_seq_length = 32, .batch_size = 4};
  const auto a = mlm_validation_batches(*corpus, vocab(), cfg);
  const auto b = mlm_validation_batches(*corpus, vocab(), cfg);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) expect_same_batch(a[i], b[i]);
  EXPECT_LE(a.back().at("input_ids").size(0), 4);
}

TEST(MlmData, ConfigErrors) {
  MlmVocab bad = vocab();
  bad.mask_id = 500;
  HEED_EXPECT_ERROR(MlmDataset(synthetic_corpus(3), bad, {}), "mask_id 500");
  HEED_EXPECT_ERROR(MlmDataset(synthetic_corpus(3), vocab(), {.max_seq_length = 4}),
                    "max_seq_length 4");
}

}  // namespace
}  // namespace heed::train
