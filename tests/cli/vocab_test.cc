// heed vocab end to end: train on a small corpus, load the result with heed tokenize.
#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"

namespace heed::cli_test {
namespace {

namespace fs = std::filesystem;

TEST(VocabCommand, TrainsAVocabThatTokenizeLoads) {
  const fs::path dir = test_dir();
  std::string corpus;
  for (int i = 0; i < 50; ++i) {
    corpus += "The lowest, lower and newest widest roads. Café número " + std::to_string(i) + "\n";
  }
  spit(dir / "a.txt", corpus);
  spit(dir / "b.txt", "Another file: Ünïcödé words and 東京.\n");
  const HeedRun r =
      run_heed("vocab --corpus '" + (dir / "a.txt").string() + "' '" + (dir / "b.txt").string() +
               "' --size 120 --min-frequency 1 --out '" + (dir / "tok").string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("vocab: 120 tokens"), std::string::npos) << r.out;
  const std::string vocab = slurp(dir / "tok" / "vocab.txt");
  EXPECT_EQ(vocab.substr(0, 31), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
  EXPECT_NE(vocab.find("\ncafe\n"), std::string::npos);  // uncased: lowercased, accents stripped
  const auto cfg = nlohmann::json::parse(slurp(dir / "tok" / "tokenizer_config.json"));
  EXPECT_EQ(cfg.at("do_lower_case"), true);

  spit(dir / "in.jsonl", "{\"text\": \"The newest CAFÉ, número 7: ünïcödé 東京\"}\n");
  const HeedRun t = run_heed("tokenize --model '" + (dir / "tok").string() + "'", dir / "in.jsonl");
  ASSERT_EQ(t.status, 0) << t.err;
  const auto out = nlohmann::json::parse(t.out);
  for (const auto& id : out.at("input_ids")) EXPECT_NE(id, 1) << t.out;  // no [UNK]
}

TEST(VocabCommand, Cased) {
  const fs::path dir = test_dir();
  spit(dir / "a.txt", "Hello World hello world Café\n");
  const HeedRun r = run_heed("vocab --cased --corpus '" + (dir / "a.txt").string() +
                             "' --size 60 --out '" + (dir / "tok").string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string vocab = slurp(dir / "tok" / "vocab.txt");
  EXPECT_NE(vocab.find("\nH\n"), std::string::npos);
  EXPECT_NE(vocab.find("\n##é\n"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(slurp(dir / "tok" / "tokenizer_config.json")).at("do_lower_case"),
            false);
}

TEST(VocabCommand, ClearErrors) {
  const fs::path dir = test_dir();
  HeedRun r = run_heed("vocab --corpus '" + (dir / "missing.txt").string() +
                       "' --size 100 --out '" + (dir / "tok").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos) << r.err;
  spit(dir / "a.txt", "abcdefghij klmnopqrst\n");
  r = run_heed("vocab --corpus '" + (dir / "a.txt").string() + "' --size 10 --out '" +
               (dir / "tok").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("smaller than the initial vocabulary"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "tok" / "vocab.txt"));
}

}  // namespace
}  // namespace heed::cli_test
