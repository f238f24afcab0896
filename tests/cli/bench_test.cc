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

}  // namespace
}  // namespace heed::cli_test
