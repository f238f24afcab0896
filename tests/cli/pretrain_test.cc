// End-to-end `heed pretrain`: an HF directory comes out, bad options fail clearly, and a
// run interrupted by Ctrl-C (SIGINT) and resumed with --resume ends with weights
// byte-identical to an uninterrupted run (issue acceptance: resume at tiny size).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"

namespace heed::cli_test {
namespace {

const std::string kFixtures = std::string(HEED_GOLDEN_DIR) + "/pretrain";

std::string common_args(const std::filesystem::path& out) {
  return "pretrain --model-config '" + kFixtures + "/config.json' --corpus '" + kFixtures +
         "/corpus.txt' --vocab '" + kFixtures + "/vocab' --steps 60 --batch-size 8 "
         "--max-seq-length 32 --lr 1e-3 --save-every 10 --eval-every 10 --eval-batches 2 "
         "--validation-every 10 --keep-checkpoints 0 --seed 5 --quiet --out '" + out.string() + "'";
}

std::vector<nlohmann::json> train_records(const std::filesystem::path& metrics) {
  std::vector<nlohmann::json> out;
  std::istringstream in(slurp(metrics));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    // Wall-clock fields differ between runs; everything else must not.
    j.erase("elapsed");
    j.erase("tokens_per_s");
    out.push_back(j);
  }
  return out;
}

TEST(PretrainCli, InterruptedAndResumedRunIsBitIdentical) {
  const auto dir = test_dir();
  const auto ref = dir / "ref", cut = dir / "cut";
  const HeedRun full = run_heed(common_args(ref));
  ASSERT_EQ(full.status, 0) << full.err;
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                        "metrics.jsonl", "run_config.json", "eval_results.json", "report.html"})
    EXPECT_TRUE(std::filesystem::exists(ref / f)) << f;

  // Start, wait for the first complete checkpoint (up to 10 minutes: sanitizer builds on a
  // loaded machine are slow), then Ctrl-C.
  const std::string script =
      "OMP_NUM_THREADS=2 '" + std::string(HEED_BIN) + "' " + common_args(cut) + " > '" +
      (dir / "cut.log").string() + "' 2>&1 & pid=$!; "
      "for i in $(seq 1 60000); do [ -f '" + (cut / "checkpoint-00000010" / "COMPLETE").string() +
      "' ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done; kill -INT $pid; wait $pid";
  spit(dir / "cut.sh", script + "\n");
  ASSERT_EQ(std::system(("bash '" + (dir / "cut.sh").string() + "'").c_str()), 0)
      << slurp(dir / "cut.log");
  const std::string log = slurp(dir / "cut.log");
  ASSERT_NE(log.find("interrupted at step"), std::string::npos)
      << "the run ended before SIGINT arrived, so nothing was tested:\n" << log;
  EXPECT_FALSE(std::filesystem::exists(cut / "model.safetensors"));

  const HeedRun resumed = run_heed(common_args(cut) + " --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(slurp(cut / "model.safetensors"), slurp(ref / "model.safetensors"))
      << "resumed weights differ from the uninterrupted run's";
  EXPECT_EQ(train_records(cut / "metrics.jsonl"), train_records(ref / "metrics.jsonl"));
}

TEST(PretrainCli, RefusesToOverwriteAnEarlierRunWithoutResume) {
  const auto dir = test_dir();
  ASSERT_EQ(run_heed(common_args(dir / "a")).status, 0);
  const HeedRun again = run_heed(common_args(dir / "a"));
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.err.find("already holds checkpoints"), std::string::npos) << again.err;
}

TEST(PretrainCli, BadInputsGiveClearErrors) {
  const auto dir = test_dir();
  HeedRun r = run_heed("pretrain --model-config huge --corpus '" + kFixtures + "/corpus.txt' --vocab '" +
                       kFixtures + "/vocab' --steps 1 --out '" + (dir / "x").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("neither a preset"), std::string::npos) << r.err;
  r = run_heed("pretrain --corpus '" + kFixtures + "/corpus.txt' --vocab '" + kFixtures +
               "/vocab' --out '" + (dir / "y").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("steps or a time budget"), std::string::npos) << r.err;
  spit(dir / "bad.json", "{\"hidden_size\": 30, \"num_attention_heads\": 4}");
  r = run_heed("pretrain --model-config '" + (dir / "bad.json").string() + "' --corpus '" + kFixtures +
               "/corpus.txt' --vocab '" + kFixtures + "/vocab' --steps 1 --out '" +
               (dir / "z").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace heed::cli_test
