// heed finetune / eval / predict end to end on a tiny random BERT and separable synthetic
// data: train, evaluate as JSON and as tables, predict from a file and from stdin, and
// fail cleanly on bad input.
#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"
#include "tests/tasks/task_test_util.h"

namespace heed::cli_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(FinetuneCommand, FinetuneEvalPredict) {
  const fs::path dir = test_dir();
  heed::testing::write_tiny_bert((dir / "bert").string());
  spit(dir / "train.csv", heed::testing::sentiment_csv(240, 1));
  spit(dir / "dev.csv", heed::testing::sentiment_csv(60, 2));
  const fs::path out = dir / "run";
  HeedRun r = run_heed("finetune --model " + q(dir / "bert") + " --train " + q(dir / "train.csv") +
                       " --eval " + q(dir / "dev.csv") + " --out " + q(out) +
                       " --epochs 5 --lr 2e-3 --batch-size 16 --seed 3 --threads 1 --quiet");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("report: " + (out / "report.html").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("best: epoch"), std::string::npos) << r.out;
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                        "metrics.jsonl", "run_config.json", "eval_results.json", "report.html"})
    EXPECT_TRUE(fs::exists(out / f)) << f;

  // eval --json: exactly one JSON object on stdout.
  r = run_heed("eval --model " + q(out) + " --data " + q(dir / "dev.csv") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const json ev = json::parse(r.out);
  for (const char* k : {"accuracy", "macro_f1", "per_class", "confusion_matrix", "labels",
                        "num_examples"})
    EXPECT_TRUE(ev.contains(k)) << k;
  EXPECT_GE(ev.at("accuracy").get<double>(), 0.9) << r.out;
  EXPECT_EQ(ev.at("labels"), json::array({"neg", "pos"}));
  EXPECT_EQ(ev.at("num_examples"), 60);
  EXPECT_EQ(ev, json::parse(slurp(out / "eval_results.json")));

  // The readable report.
  r = run_heed("eval --model " + q(out) + " --data " + q(dir / "dev.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"accuracy", "macro-F1", "precision", "support", "confusion matrix", "pos"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;

  // predict from a file (CSV, no label column needed) and from stdin (JSONL): same order.
  spit(dir / "in.csv", "id,text\n1,the movie was great\n2,awful plot\n3,\"a good, good film\"\n");
  r = run_heed("predict --model " + q(out) + " --data " + q(dir / "in.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<json> from_file = jsonl(r.out);
  ASSERT_EQ(from_file.size(), 3u) << r.out;
  const std::vector<std::string> want = {"pos", "neg", "pos"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(from_file[i].at("label"), want[i]) << r.out;
    double sum = 0.0;
    for (const auto& [label, p] : from_file[i].at("probabilities").items()) sum += p.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  spit(dir / "in.jsonl",
       "{\"text\": \"the movie was great\"}\n{\"text\": \"awful plot\"}\n"
       "{\"text\": \"a good, good film\"}\n");
  r = run_heed("predict --model " + q(out) + " --data - --out " + q(dir / "pred.jsonl"),
               dir / "in.jsonl");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(jsonl(slurp(dir / "pred.jsonl")), from_file);

  // Bad input: an unknown label names file, line and label; exit status non-zero.
  spit(dir / "odd.csv", "text,label\ngood film,pos\nfine film,meh\n");
  r = run_heed("eval --model " + q(out) + " --data " + q(dir / "odd.csv") + " --json");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("odd.csv:3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"meh\""), std::string::npos) << r.err;
  // ... or is skipped and counted.
  r = run_heed("eval --model " + q(out) + " --data " + q(dir / "odd.csv") + " --json --bad-rows skip");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at("num_examples"), 1);
  EXPECT_NE(r.err.find("1 unknown label, first at line 3"), std::string::npos) << r.err;
}

TEST(FinetuneCommand, BadInputExitsWithAClearError) {
  const fs::path dir = test_dir();
  heed::testing::write_tiny_bert((dir / "bert").string());
  spit(dir / "train.csv", "sentence,label\ngood,pos\nbad,neg\n");
  HeedRun r = run_heed("finetune --model " + q(dir / "bert") + " --train " + q(dir / "train.csv") +
                       " --out " + q(dir / "run") + " --quiet");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("train.csv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'text'"), std::string::npos) << r.err;
  spit(dir / "bad.jsonl", "{\"text\": \"good\"}\n{\"text\": \"bad\"\n");
  r = run_heed("predict --model " + q(dir / "bert") + " --data " + q(dir / "bad.jsonl"));
  EXPECT_EQ(r.status, 1);  // no classifier head in a masked-LM checkpoint
  EXPECT_NE(r.err.find("heed finetune"), std::string::npos) << r.err;
  r = run_heed("finetune --model " + q(dir / "bert") + " --train " + q(dir / "train.csv") +
               " --out " + q(dir / "run") + " --task sort");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--task"), std::string::npos) << r.err;
  for (const char* cmd : {"finetune", "eval", "predict"}) {
    r = run_heed(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("--model"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace heed::cli_test
