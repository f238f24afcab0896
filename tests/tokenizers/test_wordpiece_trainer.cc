#include <gtest/gtest.h>

#include <filesystem>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tokenizers/bert_tokenizer.h"
#include "heed/tokenizers/wordpiece_trainer.h"

namespace heed::tokenizers {
namespace {

// Sennrich et al.'s toy corpus: low x5, lower x2, newest x6, widest x3.
const WordCounts kToy = {{"low", 5}, {"lower", 2}, {"newest", 6}, {"widest", 3}};

// clang-format off
const std::vector<std::string> kToyInitial = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",                    // specials
    "d", "e", "i", "l", "n", "o", "r", "s", "t", "w",                // alphabet
    "##d", "##e", "##i", "##o", "##r", "##s", "##t", "##w"};         // inside a word
// clang-format on

std::vector<std::string> merged_tokens(const WordPieceVocab& v) {
  return {v.vocab.begin() + int64_t(kToyInitial.size()), v.vocab.end()};
}

std::string temp_dir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("heed_wp_trainer_" + name);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

TEST(WordPieceTrainer, ToyCorpusMergesByHand) {
  // Pair counts: (##e,##s) = (##s,##t) = 9 tie -> "##e" < "##s"; then ##est 9; then 7:
  // (##o,##w) before (l,##ow); 6: (##e,##w), (##ew,##est), (n,##ewest); 3: widest from
  // the right; 2: ##er, lower.
  const WordPieceVocab v = train_wordpiece(kToy, {.vocab_size = 100, .min_frequency = 2});
  EXPECT_EQ(
      std::vector<std::string>(v.vocab.begin(), v.vocab.begin() + int64_t(kToyInitial.size())),
      kToyInitial);
  EXPECT_EQ(merged_tokens(v),
            (std::vector<std::string>{"##es", "##est", "##ow", "low", "##ew", "##ewest", "newest",
                                      "##dest", "##idest", "widest", "##er", "lower"}));
  ASSERT_EQ(v.merges.size(), 12u);
  EXPECT_EQ(v.merges[0].left, "##e");
  EXPECT_EQ(v.merges[0].right, "##s");
  EXPECT_EQ(v.merges[0].count, 9);
  EXPECT_EQ(v.merges[3].left, "l");
  EXPECT_EQ(v.merges[3].right, "##ow");
  EXPECT_EQ(v.merges[3].count, 7);
  EXPECT_EQ(v.merges[11].left, "low");
  EXPECT_EQ(v.merges[11].right, "##er");
  EXPECT_EQ(v.merges[11].count, 2);
  EXPECT_EQ(v.alphabet_size, 10);
}

TEST(WordPieceTrainer, MinFrequencyStopsMerging) {
  const WordPieceVocab v = train_wordpiece(kToy, {.vocab_size = 100, .min_frequency = 3});
  EXPECT_EQ(merged_tokens(v).size(),
            10u);  // everything up to "widest"; the count-2 merges are not made
  EXPECT_EQ(merged_tokens(v).back(), "widest");
  for (const WordPieceMerge& m : v.merges) EXPECT_GE(m.count, 3);
}

TEST(WordPieceTrainer, VocabSizeIsRespected) {
  for (int32_t size : {23, 24, 26, 30, 35, 36}) {
    const WordPieceVocab v = train_wordpiece(kToy, {.vocab_size = size, .min_frequency = 0});
    EXPECT_EQ(v.vocab.size(), size_t(std::min(size, 35))) << size;  // 35: every word is one token
  }
  const WordPieceVocab v = train_wordpiece(kToy, {.vocab_size = 26});
  EXPECT_EQ(merged_tokens(v), (std::vector<std::string>{"##es", "##est", "##ow"}));
}

TEST(WordPieceTrainer, SpecialTokensFirstInGivenOrder) {
  const WordPieceVocab v = train_wordpiece(
      {{"abc", 3}},
      {.vocab_size = 20, .special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}});
  EXPECT_EQ(std::vector<std::string>(v.vocab.begin(), v.vocab.begin() + 5),
            (std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  EXPECT_EQ(v.vocab[5], "a");
}

TEST(WordPieceTrainer, LimitAlphabetKeepsMostFrequentAndInitialAlphabet) {
  // x is rare; with limit 3 the alphabet is {a, b, z} (z forced by initial_alphabet).
  const WordCounts words = {{"ab", 10}, {"ba", 10}, {"x", 1}, {"bb", 5}};
  const WordPieceVocab v =
      train_wordpiece(words, {.vocab_size = 12, .limit_alphabet = 3, .initial_alphabet = {U'z'}});
  EXPECT_EQ(v.alphabet_size, 3);
  EXPECT_EQ(std::vector<std::string>(v.vocab.begin() + 5, v.vocab.begin() + 10),
            (std::vector<std::string>{"a", "b", "z", "##a", "##b"}));
  EXPECT_EQ(std::find(v.vocab.begin(), v.vocab.end(), "x"), v.vocab.end());
}

TEST(WordPieceTrainer, DeterministicAcrossThreadsAndInsertionOrder) {
  std::vector<std::string> lines;
  for (int i = 0; i < 4000; ++i) {
    lines.push_back("Line " + std::to_string(i % 97) +
                    ": the quick brown fox jumps over the lazy dog; naïve café " +
                    std::string(i % 3 ? "résumé" : "RÉSUMÉ") + " 東京 tokyo-" +
                    std::to_string(i % 13));
  }
  const std::vector<std::string_view> views(lines.begin(), lines.end());
  const int saved = num_threads();
  std::vector<WordPieceVocab> runs;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    WordCounter counter(NormalizerConfig{});
    counter.add_texts(views);
    runs.push_back(train_wordpiece(counter.counts(), {.vocab_size = 120}));
    // The same counts inserted in the reverse order train the same vocab.
    std::vector<std::pair<std::string, int64_t>> items(counter.counts().begin(),
                                                       counter.counts().end());
    WordCounts reversed;
    for (auto it = items.rbegin(); it != items.rend(); ++it) reversed.insert(*it);
    EXPECT_EQ(train_wordpiece(reversed, {.vocab_size = 120}).vocab, runs.back().vocab);
  }
  set_num_threads(saved);
  EXPECT_EQ(runs[0].vocab.size(), 120u);
  for (const WordPieceVocab& r : runs) EXPECT_EQ(r.vocab, runs[0].vocab);
}

TEST(WordPieceTrainer, CountsWithTheTokenizerPipeline) {
  WordCounter uncased(NormalizerConfig{});
  const std::vector<std::string_view> texts = {"Héllo, WORLD! [MASK] hello", "東京x"};
  uncased.add_texts(texts);
  const WordCounts want = {{"hello", 2}, {",", 1},  {"world", 1}, {"!", 1},
                           {"東", 1},    {"京", 1}, {"x", 1}};
  EXPECT_EQ(uncased.counts(), want);  // accents stripped, lowercased, [MASK] not counted, CJK split

  NormalizerConfig keep_case;
  keep_case.lowercase = false;
  WordCounter cased(keep_case);
  cased.add_texts(texts);
  EXPECT_EQ(cased.counts().at("Héllo"), 1);
  EXPECT_EQ(cased.counts().at("WORLD"), 1);
}

TEST(WordPieceTrainer, FileStreamingMatchesInMemory) {
  const std::string dir = temp_dir("stream");
  const std::string text = "first line\r\nsecond  line\n\n third, line without newline";
  write_file_atomic(dir + "/c.txt", text);
  WordCounter from_file(NormalizerConfig{});
  int64_t last = 0;
  from_file.add_file(dir + "/c.txt", [&](int64_t bytes) { last = bytes; });
  EXPECT_EQ(last, int64_t(text.size()));
  WordCounter in_memory(NormalizerConfig{});
  const std::vector<std::string_view> one = {text};
  in_memory.add_texts(one);
  EXPECT_EQ(from_file.counts(), in_memory.counts());
  EXPECT_EQ(from_file.counts().at("line"), 3);
}

TEST(WordPieceTrainer, TrainedVocabRoundTripsThroughTheTokenizer) {
  const std::string dir = temp_dir("roundtrip");
  const std::string corpus =
      "The quick brown fox jumps over the lazy dog.\n"
      "Naïve café owners résumé: 3.14159 apples, ¿qué? — «quotes» & symbols #1 @home\n"
      "東京 and 北京 are cities; Ελληνικά and русский text too.\n"
      "lower lowest newer newest wider widest\n";
  write_file_atomic(dir + "/corpus.txt", corpus);
  const NormalizerConfig norm;
  const WordPieceVocab v =
      train_wordpiece_from_files({dir + "/corpus.txt"}, norm, {.vocab_size = 200});
  save_wordpiece_tokenizer(dir + "/tok", v.vocab, norm);
  for (const char* f : {"vocab.txt", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/tok/" + f)) << f;
  }
  const BertTokenizer tok = BertTokenizer::from_pretrained(dir + "/tok");
  EXPECT_EQ(tok.vocab().tokens(), v.vocab);
  EXPECT_EQ(tok.unk_token_id(), 1);
  EXPECT_EQ(tok.pad_token_id(), 0);
  EXPECT_EQ(tok.cls_token_id(), 2);
  EXPECT_EQ(tok.sep_token_id(), 3);
  EXPECT_EQ(tok.mask_token_id(), 4);
  size_t n = 0;
  for (const Token& t : tok.tokenize(corpus)) {
    EXPECT_NE(t.id, tok.unk_token_id()) << "token at " << t.start;
    ++n;
  }
  EXPECT_GT(n, 40u);
  // An unseen word made of seen characters still has no [UNK]; an unseen character does.
  for (const Token& t : tok.tokenize("quixotic brownie")) EXPECT_NE(t.id, tok.unk_token_id());
  EXPECT_EQ(tok.tokenize("Ω").at(0).id, tok.unk_token_id());
  // tokenizer.json alone loads to the same tokenizer.
  const BertTokenizer from_json = BertTokenizer::from_tokenizer_json(dir + "/tok/tokenizer.json");
  EXPECT_EQ(from_json.encode(corpus).input_ids, tok.encode(corpus).input_ids);

  // Cased: the config keeps case and the vocab has capitals.
  NormalizerConfig cased;
  cased.lowercase = false;
  const WordPieceVocab vc =
      train_wordpiece_from_files({dir + "/corpus.txt"}, cased, {.vocab_size = 200});
  save_wordpiece_tokenizer(dir + "/cased", vc.vocab, cased);
  const BertTokenizer tc = BertTokenizer::from_pretrained(dir + "/cased");
  EXPECT_FALSE(tc.normalizer_config().lowercase);
  EXPECT_NE(std::find(vc.vocab.begin(), vc.vocab.end(), "T"), vc.vocab.end());
  for (const Token& t : tc.tokenize(corpus)) EXPECT_NE(t.id, tc.unk_token_id());
}

TEST(WordPieceTrainer, BadInputsGiveClearErrors) {
  const std::string dir = temp_dir("bad");
  try {
    train_wordpiece_from_files({dir + "/missing.txt"}, NormalizerConfig{}, {});
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_wordpiece_from_files({}, NormalizerConfig{}, {}), Error);
  try {
    train_wordpiece(kToy, {.vocab_size = 22});  // 23 needed
    FAIL() << "no error for a vocab size below the initial vocabulary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smaller than the initial vocabulary of 23"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace heed::tokenizers
