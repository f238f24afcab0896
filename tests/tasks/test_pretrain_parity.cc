// Recipe parity (issue acceptance): heed's pretraining loss follows PyTorch's on the same
// token stream. tests/golden/pretrain/make_pretrain_parity.py ran heed with these
// options, replayed heed's batches through the reference BERT with torch.optim.AdamW and
// committed PyTorch's per-step losses; here heed reruns (same seed, so the same batches)
// and every step's loss must stay within 2% of PyTorch's.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "heed/tasks/pretrain.h"
#include "tests/test_util.h"
#include "tests/train/train_test_util.h"

namespace heed::tasks {
namespace {

// Runs the golden recipe and compares every step's loss with PyTorch's (f32).
double check_parity(bool bf16, double tolerance) {
  const std::string dir = heed::testing::golden_path("pretrain");
  std::ifstream in(dir + "/torch_losses.json");
  EXPECT_TRUE(in.good()) << dir << "/torch_losses.json";
  if (!in.good()) return 1.0;
  const nlohmann::json golden = nlohmann::json::parse(in);
  const auto torch_losses = golden.at("losses").get<std::vector<double>>();
  EXPECT_EQ(int64_t(torch_losses.size()), golden.at("steps").get<int64_t>());

  heed::testing::ScratchDir out("parity");
  // Keep in sync with ARGS in make_pretrain_parity.py.
  PretrainConfig c;
  c.model_config = dir + "/config.json";
  c.corpus = {dir + "/corpus.txt"};
  c.vocab_dir = dir + "/vocab";
  c.out_dir = out.path() + "/run";
  c.steps = golden.at("steps").get<int64_t>();
  c.batch_size = 16;
  c.max_seq_length = 64;
  c.lr = 1e-3f;
  c.warmup_ratio = 0.1f;
  c.weight_decay = 0.01f;
  c.max_grad_norm = 1.0f;
  c.dropout = 0.0;
  c.validation_every = 0;
  c.log_every = 1;
  c.eval_every = 0;
  c.save_every = 0;
  c.seed = 1234;
  c.progress = false;
  c.bf16 = bf16;
  const PretrainResult r = run_pretraining(c);
  EXPECT_EQ(r.steps, c.steps);

  std::ifstream log(c.out_dir + "/metrics.jsonl");
  std::vector<double> heed_losses;
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("type") == "train") heed_losses.push_back(j.at("loss").get<double>());
  }
  EXPECT_EQ(heed_losses.size(), torch_losses.size());
  if (heed_losses.size() != torch_losses.size() || heed_losses.empty()) return 1.0;
  double worst = 0.0;
  for (size_t i = 0; i < heed_losses.size(); ++i) {
    const double rel = std::abs(heed_losses[i] - torch_losses[i]) / torch_losses[i];
    worst = std::max(worst, rel);
    EXPECT_LT(rel, tolerance) << "step " << i + 1 << ": heed " << heed_losses[i] << " torch "
                         << torch_losses[i];
  }
  // Training did something (the test is not comparing two flat lines).
  EXPECT_LT(heed_losses.back(), heed_losses.front() - 0.5);
  ::testing::Test::RecordProperty("worst_relative_gap", std::to_string(worst));
  std::printf("heed%s vs PyTorch f32 over %zu steps: worst relative loss gap %.2e\n",
              bf16 ? " bf16 mixed precision" : "", heed_losses.size(), worst);
  return worst;
}

TEST(PretrainParity, LossWithinTwoPercentOfPyTorchAtEveryStep) { check_parity(false, 0.02); }

// bf16 mixed precision (Linear layers in bf16, the rest f32) on the same recipe: a
// rounding of the f32 run, so it must follow PyTorch's f32 curve as closely as the
// issue asks of f32.
TEST(PretrainParity, Bf16MixedPrecisionLossWithinTwoPercentOfPyTorchF32) {
  const double worst = check_parity(true, 0.02);
  // The bf16 path really ran: f32 matches PyTorch to ~1e-6 here, bf16 rounding moves the
  // losses by more (4.2e-5 when this was written).
  EXPECT_GT(worst, 5e-6);
}

}  // namespace
}  // namespace heed::tasks
