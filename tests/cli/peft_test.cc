// heed finetune --peft / predict --adapter / eval --adapter / merge / forward --adapter end
// to end on a tiny random BERT: a LoRA adapter directory in PEFT's layout, predictions
// through it, a merged model predicting the same, and clear errors for bad input.
#include <nlohmann/json.hpp>

#include "heed/io/npy.h"
#include "tests/cli/run_heed.h"
#include "tests/tasks/task_test_util.h"

namespace heed::cli_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(PeftCommand, FinetuneLoraPredictMerge) {
  const fs::path dir = test_dir();
  heed::testing::write_tiny_bert((dir / "bert").string());
  spit(dir / "train.csv", heed::testing::sentiment_csv(96, 1));
  spit(dir / "dev.csv", heed::testing::sentiment_csv(32, 2));
  const std::string base_weights = slurp(dir / "bert" / "model.safetensors");
  const fs::path out = dir / "lora";
  HeedRun r = run_heed("finetune --model " + q(dir / "bert") + " --train " + q(dir / "train.csv") +
                       " --eval " + q(dir / "dev.csv") + " --out " + q(out) +
                       " --peft lora --epochs 2 --lr 5e-3 --batch-size 16 --seed 3 --threads 1 "
                       "--quiet");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("finetune: lora: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("trainable parameters of"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("adapter: "), std::string::npos) << r.out;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "head_config.json",
                        "vocab.txt", "report.html"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_EQ(slurp(dir / "bert" / "model.safetensors"), base_weights);
  const json ac = json::parse(slurp(out / "adapter_config.json"));
  EXPECT_EQ(ac.at("peft_type"), "LORA");
  EXPECT_EQ(ac.at("task_type"), "SEQ_CLS");

  spit(dir / "in.csv", "text\nthe movie was great\nawful plot\na good film and a bad actor\n");
  r = run_heed("predict --model " + q(dir / "bert") + " --adapter " + q(out) + " --data " +
               q(dir / "in.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<json> with_adapter = jsonl(r.out);
  ASSERT_EQ(with_adapter.size(), 3u) << r.out;
  for (const auto& p : with_adapter) {
    EXPECT_TRUE(p.at("label") == "pos" || p.at("label") == "neg") << p.dump();
    EXPECT_EQ(p.at("probabilities").size(), 2u);
  }

  r = run_heed("eval --model " + q(dir / "bert") + " --adapter " + q(out) + " --data " +
               q(dir / "dev.csv") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::parse(slurp(out / "eval_results.json")));

  r = run_heed("merge --model " + q(dir / "bert") + " --adapter " + q(out) + " --out " +
               q(dir / "merged"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("LORA"), std::string::npos) << r.out;
  r = run_heed("predict --model " + q(dir / "merged") + " --data " + q(dir / "in.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<json> merged = jsonl(r.out);
  ASSERT_EQ(merged.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(merged[i].at("label"), with_adapter[i].at("label")) << i;
    for (const auto& [label, p] : merged[i].at("probabilities").items())
      EXPECT_NEAR(p.get<double>(), with_adapter[i].at("probabilities").at(label).get<double>(), 1e-5);
  }

  // forward --adapter: every output of the adapted model, logits among them.
  fs::create_directories(dir / "inputs");
  io::save_npy((dir / "inputs" / "input_ids.npy").string(),
               Tensor::from_vector(std::vector<int64_t>{2, 15, 20, 3}, Shape{1, 4}));
  r = run_heed("forward --model " + q(dir / "bert") + " --adapter " + q(out) + " --inputs " +
               q(dir / "inputs") + " --out " + q(dir / "fwd") + " --no-attentions");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "fwd" / "logits.npy")) << r.out;
  EXPECT_TRUE(fs::exists(dir / "fwd" / "hidden_states_02.npy")) << r.out;

  // Two adapters on one base; --use picks one (the same as loading it alone).
  r = run_heed("finetune --model " + q(dir / "bert") + " --train " + q(dir / "train.csv") +
               " --out " + q(dir / "lora2") +
               " --peft lora --epochs 1 --lr 5e-3 --batch-size 16 --seed 4 --threads 1 --quiet");
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_heed("predict --model " + q(dir / "bert") + " --adapter " + q(dir / "lora2") +
               " --data " + q(dir / "in.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string second_alone = r.out;
  r = run_heed("predict --model " + q(dir / "bert") + " --adapter a=" + q(out) + " --adapter b=" +
               q(dir / "lora2") + " --use b --data " + q(dir / "in.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, second_alone);
  r = run_heed("predict --model " + q(dir / "bert") + " --adapter a=" + q(out) + " --adapter b=" +
               q(dir / "lora2") + " --use a --data " + q(dir / "in.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(jsonl(r.out), with_adapter);
  r = run_heed("predict --model " + q(dir / "bert") + " --adapter a=" + q(out) +
               " --use z --data " + q(dir / "in.csv"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no adapter named \"z\""), std::string::npos) << r.err;

  for (const char* cmd : {"merge", "finetune", "predict", "eval", "forward"}) {
    r = run_heed(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("--adapter"), std::string::npos) << cmd << "\n" << r.out;
  }
}

TEST(PeftCommand, BadInputExitsWithAClearError) {
  const fs::path dir = test_dir();
  heed::testing::write_tiny_bert((dir / "bert").string());
  spit(dir / "train.csv", heed::testing::sentiment_csv(40, 1));
  HeedRun r = run_heed("finetune --model " + q(dir / "bert") + " --train " + q(dir / "train.csv") +
                       " --out " + q(dir / "run") + " --peft lorax --quiet");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown --peft \"lorax\""), std::string::npos) << r.err;
  fs::create_directories(dir / "half");
  spit(dir / "half" / "adapter_config.json", R"({"peft_type": "LORA", "task_type": "SEQ_CLS"})");
  spit(dir / "in.csv", "text\ngood\n");
  r = run_heed("predict --model " + q(dir / "bert") + " --adapter " + q(dir / "half") +
               " --data " + q(dir / "in.csv"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("adapter_model.safetensors"), std::string::npos) << r.err;
  r = run_heed("merge --model " + q(dir / "bert") + " --adapter " + q(dir / "half") + " --out " +
               q(dir / "m"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("adapter_model.safetensors"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace heed::cli_test
