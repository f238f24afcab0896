// End-to-end `heed demo --full` on the bundled data at toy size (BERT-tiny, a 1,000-token
// vocabulary, seconds of pretraining, one epoch per task): every stage runs, every artefact
// lands in the run directory, the debian_topic stage uses its own recipe (epochs, learning
// rate, balanced class weights), and running the same command again resumes (each finished
// stage is kept) and reports the same scores. The real figures are in the README.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"

namespace heed::cli_test {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // the whole pipeline takes minutes under ASan
#else
constexpr bool kSanitized = false;
#endif

TEST(DemoCli, FullPipelineAtToySizeThenResumes) {
  if (kSanitized) GTEST_SKIP() << "release builds only (minutes under ASan)";
  const auto dir = test_dir();
  const auto run = dir / "demo";
  const std::string args = "demo --full --data " + q(HEED_DATA_DIR) + " --out " + q(run) +
                           " --model-config tiny --vocab-size 1000 --minutes 0.05 --seq 64 "
                           "--epochs 1 --topic-epochs 1 --topic-lr 5e-4";
  const HeedRun first = run_heed(args);
  ASSERT_EQ(first.status, 0) << first.err;
  for (const char* f : {"vocab/vocab.txt", "vocab/tokenizer.json", "pretrain/model.safetensors",
                        "pretrain/config.json", "pretrain/report.html", "fine_foods/config.json",
                        "fine_foods/model.safetensors", "fine_foods/report.html",
                        "fine_foods/test_eval.json", "debian_topic/model.safetensors",
                        "debian_topic/test_eval.json", "summary.json"})
    EXPECT_TRUE(std::filesystem::exists(run / f)) << f;
  const auto summary = nlohmann::json::parse(slurp(run / "summary.json"));
  EXPECT_EQ(summary["fine_foods_test"]["examples"], 1000);
  EXPECT_EQ(summary["debian_topic_validation"]["examples"], 1513);
  for (const char* task : {"fine_foods_test", "debian_topic_validation"}) {
    const double acc = summary[task]["accuracy"];
    EXPECT_GT(acc, 0.0) << task;
    EXPECT_LE(acc, 1.0) << task;
  }
  // Each task's recipe reached its fine-tuning run.
  const auto topic = nlohmann::json::parse(slurp(run / "debian_topic/run_config.json"));
  const auto foods = nlohmann::json::parse(slurp(run / "fine_foods/run_config.json"));
  EXPECT_EQ(topic.value("class_weights", ""), "balanced") << topic.dump();
  EXPECT_EQ(topic.value("epochs", 0), 1);
  EXPECT_FLOAT_EQ(topic.value("lr", 0.0f), 5e-4f);
  EXPECT_EQ(foods.value("class_weights", ""), "none") << foods.dump();
  EXPECT_FLOAT_EQ(foods.value("lr", 0.0f), 1e-4f);
  EXPECT_NE(first.out.find("TF-IDF + logistic regression"), std::string::npos) << first.out;

  const HeedRun again = run_heed(args);
  ASSERT_EQ(again.status, 0) << again.err;
  for (const char* kept : {"(already trained", "(already pretrained", "(already fine-tuned"})
    EXPECT_NE(again.out.find(kept), std::string::npos) << kept << "\n" << again.out;
  const auto summary2 = nlohmann::json::parse(slurp(run / "summary.json"));
  EXPECT_EQ(summary2["fine_foods_test"], summary["fine_foods_test"]);
  EXPECT_EQ(summary2["debian_topic_validation"], summary["debian_topic_validation"]);
}

TEST(DemoCli, MissingDataFolderAndBadRecipesAreNamed) {
  const auto dir = test_dir();
  const HeedRun r = run_heed("demo --data " + q(dir / "nowhere") + " --out " + q(dir / "o"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("nowhere/en_pretrain"), std::string::npos) << r.err;
  for (const char* bad : {"--topic-epochs 0", "--topic-lr -1", "--epochs 0", "--finetune-lr 0"}) {
    const HeedRun b = run_heed(std::string("demo --full ") + bad + " --out " + q(dir / "o"));
    EXPECT_NE(b.status, 0) << bad;
    EXPECT_NE(b.err.find(std::string(bad).substr(0, std::string(bad).find(' '))), std::string::npos)
        << bad << ": " << b.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "o")) << bad << ": ran before failing";
  }
}

}  // namespace
}  // namespace heed::cli_test
