// heed bench --mode finetune [--peft METHOD]: a timed sequence-classification step on a
// model directory's config; the JSON line reports the trainable parameters, and a PEFT
// method trains only its adapter and the head.
#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"

namespace heed::cli_test {
namespace {

nlohmann::json last_json_line(const std::string& out) {
  const size_t p = out.rfind('{');
  return nlohmann::json::parse(out.substr(p));
}

TEST(BenchCommand, FinetuneStepFullAndPeft) {
  const std::string cfg = std::string(HEED_GOLDEN_DIR) + "/bert/seqcls";
  HeedRun full = run_heed("bench --model-config '" + cfg +
                          "' --mode finetune --batch 2 --seq 16 --iters 2 --warmup 1 --threads 1 --json");
  ASSERT_EQ(full.status, 0) << full.err;
  const nlohmann::json f = last_json_line(full.out);
  EXPECT_EQ(f.at("mode"), "finetune");
  EXPECT_EQ(f.at("trainable_params"), f.at("total_params"));
  for (const char* m : {"lora", "adalora", "ia3", "prefix", "adapter"}) {
    HeedRun r = run_heed("bench --model-config '" + cfg + "' --mode finetune --peft " + m +
                         " --batch 2 --seq 16 --iters 2 --warmup 1 --threads 1 --json");
    ASSERT_EQ(r.status, 0) << m << ": " << r.err;
    const nlohmann::json j = last_json_line(r.out);
    EXPECT_EQ(j.at("peft"), m);
    EXPECT_GT(j.at("trainable_params").get<int64_t>(), 0) << m;
    EXPECT_LT(j.at("trainable_params").get<int64_t>(), f.at("trainable_params").get<int64_t>() / 2) << m;
  }
  HeedRun bad = run_heed("bench --model-config mini --mode infer --peft lora --iters 1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--peft needs --mode finetune"), std::string::npos) << bad.err;
  bad = run_heed("bench --model-config '" + cfg + "' --mode finetune --peft loha --seq 8 --iters 1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("unknown PEFT method"), std::string::npos) << bad.err;
}

// --mode train on a tiny MLM config: the fused head by default, --unfused-head on request;
// the fused head never holds the (B, T, V) logits, so its peak RSS is lower at a vocabulary
// where the logits dominate (here 2 x 256 x 30522 floats = 62 MB, and as much again for
// their gradient).
TEST(BenchCommand, TrainStepFusedAndUnfusedHead) {
  const std::string dir = test_dir().string();
  spit(std::filesystem::path(dir) / "config.json",
       R"({"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 1,
           "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 256})");
  auto run = [&](const std::string& extra) {
    HeedRun r = run_heed("bench --model-config '" + dir + "' --mode train --batch 2 --seq 256 " +
                         "--iters 2 --warmup 1 --threads 1 --json " + extra);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.status == 0 ? last_json_line(r.out) : nlohmann::json::object();
  };
  const nlohmann::json fused = run(""), unfused = run("--unfused-head");
  ASSERT_FALSE(fused.empty());
  ASSERT_FALSE(unfused.empty());
  EXPECT_EQ(fused.at("mlm_head"), "fused");
  EXPECT_EQ(unfused.at("mlm_head"), "unfused");
  EXPECT_LT(fused.at("peak_rss_mb").get<double>() + 60.0, unfused.at("peak_rss_mb").get<double>());
}

}  // namespace
}  // namespace heed::cli_test
