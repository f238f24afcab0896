// Trainer: bit-identical resume (with gradient accumulation and dropout on), Ctrl-C,
// NaN stop, checkpoint atomicity and rotation, metrics.jsonl, time budget.
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "heed/base/fs.h"
#include "heed/nn/nn.h"
#include "heed/ops/autocast.h"
#include "heed/ops/ops.h"
#include "heed/train/checkpoint.h"
#include "heed/train/early_stopping.h"
#include "heed/train/trainer.h"
#include "train_test_util.h"

namespace heed::train {
namespace {

namespace fs = std::filesystem;

// x (B, 6) -> Linear(6, 16) -> gelu -> Dropout(0.3) -> LayerNorm -> Linear(16, 3).
class TinyNet : public nn::Module {
 public:
  explicit TinyNet(uint64_t init_seed) {
    Generator g(init_seed);
    fc1_ = register_module("fc1",
                           std::make_shared<nn::Linear>(nn::LinearConfig{.in = 6, .out = 16}, g));
    drop_ = register_module("drop", std::make_shared<nn::Dropout>(0.3f));
    norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(16, 1e-5f));
    fc2_ = register_module("fc2",
                           std::make_shared<nn::Linear>(nn::LinearConfig{.in = 16, .out = 3}, g));
  }
  Tensor forward(const Tensor& x) const {
    return fc2_->forward(norm_->forward(drop_->forward(ops::gelu(fc1_->forward(x)))));  // (B, 3)
  }

 private:
  std::shared_ptr<nn::Linear> fc1_, fc2_;
  std::shared_ptr<nn::Dropout> drop_;
  std::shared_ptr<nn::LayerNorm> norm_;
};

// Batches drawn from a Generator: the label is which of the first three features is largest.
class SyntheticData : public DataSource {
 public:
  explicit SyntheticData(uint64_t seed) : gen_(seed) {}
  Batch next_batch() override {
    constexpr int64_t B = 8;
    Batch b;
    Tensor x = Tensor::randn(Shape{B, 6}, gen_);
    std::vector<int64_t> y(B);
    const float* px = x.data<float>();
    for (int64_t i = 0; i < B; ++i) {
      const float* r = px + i * 6;
      y[size_t(i)] = r[0] >= r[1] && r[0] >= r[2] ? 0 : (r[1] >= r[2] ? 1 : 2);
    }
    b.tensors["x"] = x;
    b.tensors["labels"] = Tensor::from_vector(y, Shape{B});
    b.num_tokens = B * 6;
    ++served_;
    return b;
  }
  nlohmann::json state() const override {
    return {{"rng", {gen_.seed(), gen_.offset()}}, {"served", served_}};
  }
  void restore(const nlohmann::json& s) override {
    gen_.set_state(s.at("rng").at(0).get<uint64_t>(), s.at("rng").at(1).get<uint64_t>());
    served_ = s.at("served").get<int64_t>();
  }
  int64_t served() const { return served_; }

 private:
  Generator gen_;
  int64_t served_ = 0;
};

StepOutput ce_loss(TinyNet& net, const Batch& b) {
  const Tensor logits = net.forward(b.at("x"));  // (B, 3)
  const auto pred = ops::argmax(logits, -1).to_ids(), gold = b.at("labels").to_ids();
  double ok = 0;
  for (size_t i = 0; i < gold.size(); ++i) ok += pred[i] == gold[i];
  return {.loss = ops::cross_entropy(logits, b.at("labels")),
          .metrics = {{"acc", ok / double(gold.size())}}};
}

TrainerConfig base_cfg(const std::string& out) {
  return {.max_steps = 12,
          .grad_accum_steps = 3,
          .lr = 3e-2f,
          .weight_decay = 0.1f,
          .warmup_steps = 3,
          .schedule = ScheduleKind::Cosine,
          .max_grad_norm = 0.5f,
          .eval_every = 5,
          .save_every = 4,
          .log_every = 2,
          .out_dir = out,
          .seed = 5,
          .keep_last_n = 0,
          .progress = false};
}

std::string weight_bytes(const nn::Module& m) {
  std::string s;
  for (const auto& [n, t] : m.state_dict()) {
    s += n;
    s.append(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * dtype_size(t.dtype()));
  }
  return s;
}

std::string adam_bytes(Trainer& tr) {
  std::string s;
  for (auto* v : {&tr.optimizer().exp_avg(), &tr.optimizer().exp_avg_sq()})
    for (const Tensor& t : *v)
      s.append(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * 4);
  return s + std::to_string(tr.optimizer().step_count());
}

// The deterministic fields of the log (no timings).
std::vector<std::string> log_values(const std::vector<std::string>& history) {
  std::vector<std::string> out;
  for (const auto& line : history) {
    auto j = nlohmann::json::parse(line);
    j.erase("elapsed");
    j.erase("tokens_per_s");
    out.push_back(j.dump());
  }
  return out;
}

struct RunOutcome {
  std::string weights, adam;
  std::vector<std::string> log;
  TrainResult result;
};

// A run from scratch to max_steps; `interrupt_at` raises SIGINT inside that step's loss.
RunOutcome run_fresh(const std::string& out, int64_t interrupt_at = -1) {
  TinyNet net(1);
  SyntheticData data(9);
  int64_t calls = 0;
  const TrainerConfig cfg = base_cfg(out);
  LossFn loss = [&](const Batch& b) {
    if (++calls == (interrupt_at - 1) * cfg.grad_accum_steps + 2) std::raise(SIGINT);
    return ce_loss(net, b);
  };
  SyntheticData eval_data(77);
  const Batch eval_batch = eval_data.next_batch();
  Trainer tr(net, loss, data, cfg, [&] {
    const StepOutput o = ce_loss(net, eval_batch);
    return std::map<std::string, double>{{"loss", o.loss.item()},
                                         {"accuracy", o.metrics.at("acc")}};
  });
  RunOutcome r;
  r.result = tr.train();
  r.weights = weight_bytes(net);
  r.adam = adam_bytes(tr);
  r.log = log_values(tr.log_history());
  return r;
}

// A new process-like start: different init weights and data seed, everything restored.
RunOutcome run_resumed(const std::string& out, const std::string& from_dir = "") {
  TinyNet net(123);
  SyntheticData data(456);
  SyntheticData eval_data(77);
  const Batch eval_batch = eval_data.next_batch();
  Trainer tr(
      net, [&](const Batch& b) { return ce_loss(net, b); }, data, base_cfg(out),
      [&] {
        const StepOutput o = ce_loss(net, eval_batch);
        return std::map<std::string, double>{{"loss", o.loss.item()},
                                             {"accuracy", o.metrics.at("acc")}};
      });
  if (from_dir.empty())
    EXPECT_TRUE(tr.resume_latest());
  else
    tr.resume(from_dir);
  RunOutcome r;
  r.result = tr.train();
  r.weights = weight_bytes(net);
  r.adam = adam_bytes(tr);
  r.log = log_values(tr.log_history());
  return r;
}

TEST(Trainer, ResumeIsBitIdentical) {
  testing::ScratchDir full("full"), cut("cut");
  const RunOutcome ref = run_fresh(full.path());
  EXPECT_EQ(ref.result.steps, 12);
  EXPECT_FALSE(ref.result.interrupted);

  // From a periodic checkpoint (step 8) in a fresh trainer.
  testing::ScratchDir copy("copy");
  fs::copy(fs::path(full.path()) / checkpoint_dir_name(8),
           fs::path(copy.path()) / checkpoint_dir_name(8), fs::copy_options::recursive);
  const RunOutcome from8 =
      run_resumed(copy.path(), (fs::path(copy.path()) / checkpoint_dir_name(8)).string());
  EXPECT_EQ(from8.weights, ref.weights);
  EXPECT_EQ(from8.adam, ref.adam);
  EXPECT_EQ(from8.log, ref.log);

  // Ctrl-C during step 7: the step completes, a checkpoint is written, train() returns.
  const RunOutcome stopped = run_fresh(cut.path(), 7);
  EXPECT_TRUE(stopped.result.interrupted);
  EXPECT_EQ(stopped.result.stop_reason, "SIGINT");
  EXPECT_EQ(stopped.result.steps, 7);
  EXPECT_TRUE(is_complete_checkpoint(stopped.result.last_checkpoint));
  EXPECT_NE(stopped.weights, ref.weights);
  const RunOutcome resumed = run_resumed(cut.path());
  EXPECT_EQ(resumed.result.steps, 12);
  EXPECT_EQ(resumed.weights, ref.weights);
  EXPECT_EQ(resumed.adam, ref.adam);
  EXPECT_EQ(resumed.log, ref.log);  // losses, lrs, grad norms and evals match too

  // metrics.jsonl holds exactly the history: no records from past the resume point twice.
  std::ifstream in(cut.file("metrics.jsonl"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  EXPECT_EQ(log_values(lines), ref.log);
}

TEST(Trainer, DropoutAndClippingAreExercised) {
  // Guards the resume test against passing vacuously.
  TinyNet net(1);
  SyntheticData data(9);
  TrainerConfig cfg = base_cfg("");
  cfg.max_steps = 3;
  Trainer tr(
      net, [&](const Batch& b) { return ce_loss(net, b); }, data, cfg);
  tr.train();
  EXPECT_GT(net.generator()->offset(), 0u);
  EXPECT_EQ(data.served(), 9);  // 3 steps x 3 micro-batches
  bool clipped = false;
  for (const auto& l : tr.log_history()) {
    const auto j = nlohmann::json::parse(l);
    if (j["type"] == "train") clipped |= j["grad_norm"].get<double>() > 0.5;
  }
  EXPECT_TRUE(clipped);
}

// bf16 mixed precision: the loss callback (forward) runs under Autocast, evaluation does
// not, and the setting does not leak out of train().
TEST(Trainer, Bf16RunsTheLossUnderAutocastOnly) {
  TinyNet net(1);
  SyntheticData data(9);
  TrainerConfig cfg = base_cfg("");
  cfg.max_steps = 2;
  cfg.eval_every = 1;
  cfg.bf16 = true;
  int loss_calls = 0, loss_bf16 = 0, eval_calls = 0, eval_bf16 = 0;
  Trainer tr(
      net,
      [&](const Batch& b) {
        ++loss_calls;
        loss_bf16 += ops::matmul_precision() == ops::MatmulPrecision::BF16;
        return ce_loss(net, b);
      },
      data, cfg, [&]() -> std::map<std::string, double> {
        ++eval_calls;
        eval_bf16 += ops::matmul_precision() == ops::MatmulPrecision::BF16;
        return {{"loss", 1.0}};
      });
  tr.train();
  EXPECT_GT(loss_calls, 0);
  EXPECT_EQ(loss_bf16, loss_calls);
  EXPECT_GT(eval_calls, 0);
  EXPECT_EQ(eval_bf16, 0);
  EXPECT_EQ(ops::matmul_precision(), ops::MatmulPrecision::F32);
}

TEST(Trainer, MetricsLogRecords) {
  testing::ScratchDir dir("log");
  run_fresh(dir.path());
  std::ifstream in(dir.file("metrics.jsonl"));
  int train = 0, eval = 0;
  for (std::string l; std::getline(in, l);) {
    const auto j = nlohmann::json::parse(l);
    if (j["type"] == "train") {
      ++train;
      for (const char* k : {"step", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed", "acc"})
        EXPECT_TRUE(j.contains(k)) << k << " missing in " << l;
      EXPECT_EQ(j["step"].get<int64_t>() % 2, 0);
    } else {
      ++eval;
      EXPECT_EQ(j["type"], "eval");
      EXPECT_TRUE(j.contains("accuracy"));
    }
  }
  EXPECT_EQ(train, 6);  // every 2 steps of 12
  EXPECT_EQ(eval, 3);   // steps 5, 10 and the end (12)
}

TEST(Trainer, NanLossStopsNamingTheStep) {
  TinyNet net(1);
  SyntheticData data(9);
  TrainerConfig cfg = base_cfg("");
  cfg.grad_accum_steps = 1;
  int64_t calls = 0;
  Trainer tr(
      net,
      [&](const Batch& b) {
        StepOutput o = ce_loss(net, b);
        if (++calls == 4) o.loss = ops::scale(o.loss, std::numeric_limits<float>::quiet_NaN());
        return o;
      },
      data, cfg);
  HEED_EXPECT_ERROR(tr.train(), "loss is nan", "at step 4");
  calls = 0;
  TinyNet net2(1);
  Trainer tr2(
      net2,
      [&](const Batch& b) {
        StepOutput o = ce_loss(net2, b);
        if (++calls == 2) o.loss = ops::scale(o.loss, std::numeric_limits<float>::infinity());
        return o;
      },
      data, cfg);
  HEED_EXPECT_ERROR(tr2.train(), "loss is inf", "at step 2");
}

extern "C" void marker_handler(int) {}

TEST(Trainer, RestoresPreviousSignalHandlers) {
  struct sigaction mine {
  }, old{}, after{};
  mine.sa_handler = marker_handler;
  sigemptyset(&mine.sa_mask);
  sigaction(SIGTERM, &mine, &old);
  {
    TinyNet net(1);
    SyntheticData data(9);
    TrainerConfig cfg = base_cfg("");
    cfg.max_steps = 1;
    Trainer tr(
        net, [&](const Batch& b) { return ce_loss(net, b); }, data, cfg);
    tr.train();
  }
  sigaction(SIGTERM, &old, &after);
  EXPECT_EQ(after.sa_handler, marker_handler);
}

TEST(Trainer, IncompleteCheckpointIsIgnored) {
  testing::ScratchDir dir("atomic");
  {
    TinyNet net(1);
    SyntheticData data(9);
    TrainerConfig cfg = base_cfg(dir.path());
    cfg.max_steps = 4;
    Trainer tr(
        net, [&](const Batch& b) { return ce_loss(net, b); }, data, cfg);
    tr.train();
  }
  // A save of step 8 that died before its marker: files present, COMPLETE absent.
  const fs::path good = fs::path(dir.path()) / checkpoint_dir_name(4);
  const fs::path broken = fs::path(dir.path()) / checkpoint_dir_name(8);
  fs::copy(good, broken, fs::copy_options::recursive);
  fs::remove(broken / kCheckpointMarker);
  std::ofstream(broken / kCheckpointModelFile, std::ios::trunc) << "half";
  // And a leftover temporary directory.
  fs::create_directories(fs::path(dir.path()) / ".tmp-checkpoint-00000012-1");

  const CheckpointScan s = scan_checkpoints(dir.path());
  EXPECT_EQ(s.latest_step, 4);
  ASSERT_EQ(s.incomplete.size(), 1u);
  EXPECT_NE(s.message.find(checkpoint_dir_name(8)), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("incomplete"), std::string::npos) << s.message;

  TinyNet net(1);
  SyntheticData data(9);
  Trainer tr(
      net, [&](const Batch& b) { return ce_loss(net, b); }, data, base_cfg(dir.path()));
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(tr.resume_latest());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(tr.step(), 4);
  EXPECT_NE(err.find("ignoring incomplete checkpoint"), std::string::npos) << err;
  const std::string broken_name = checkpoint_dir_name(8);
  HEED_EXPECT_ERROR(tr.resume(broken.string()), broken_name.c_str(), "not a complete checkpoint");

  // Saving a step that already has a complete checkpoint keeps it (same state).
  EXPECT_EQ(tr.save(), good.string());
}

TEST(Trainer, KeepsLastNCheckpoints) {
  testing::ScratchDir dir("rotate");
  TinyNet net(1);
  SyntheticData data(9);
  TrainerConfig cfg = base_cfg(dir.path());
  cfg.max_steps = 8;
  cfg.save_every = 2;
  cfg.keep_last_n = 2;
  Trainer tr(
      net, [&](const Batch& b) { return ce_loss(net, b); }, data, cfg);
  tr.train();
  const CheckpointScan s = scan_checkpoints(dir.path());
  ASSERT_EQ(s.complete.size(), 2u);
  EXPECT_EQ(s.complete[0].first, 6);
  EXPECT_EQ(s.complete[1].first, 8);
  for (const char* f : {kCheckpointModelFile, kCheckpointOptimizerFile, kCheckpointStateFile})
    EXPECT_TRUE(fs::exists(fs::path(s.latest) / f)) << f;
  const auto st =
      nlohmann::json::parse(read_file((fs::path(s.latest) / kCheckpointStateFile).string()));
  for (const char* k : {"step", "total_steps", "model_rng", "data", "log_history", "config"})
    EXPECT_TRUE(st.contains(k)) << k;
  EXPECT_EQ(st["data"]["served"], 24);
}

TEST(Trainer, TimeBudgetStops) {
  TinyNet net(1);
  SyntheticData data(9);
  TrainerConfig cfg = base_cfg("");
  cfg.max_steps = 0;
  cfg.time_budget_minutes = 0.1 / 60.0;  // 0.1 s
  cfg.eval_every = 0;
  ::testing::internal::CaptureStderr();
  Trainer tr(
      net, [&](const Batch& b) { return ce_loss(net, b); }, data, cfg);
  const TrainResult r = tr.train();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("the lr schedule follows elapsed time"), std::string::npos) << err;
  EXPECT_GT(r.steps, 0);
  EXPECT_GT(tr.total_steps(), 0);
  EXPECT_EQ(r.stop_reason, "time budget");
  // The schedule follows elapsed time, so the decay has (almost) reached 0 at the budget
  // whatever the step estimate was.
  ASSERT_FALSE(tr.log_history().empty());
  const auto last = nlohmann::json::parse(tr.log_history().back());
  EXPECT_LT(last.at("lr").get<double>(), 0.25 * cfg.lr) << last.dump();
}

TEST(Trainer, ConfigErrors) {
  TinyNet net(1);
  SyntheticData data(9);
  auto loss = [&](const Batch& b) { return ce_loss(net, b); };
  HEED_EXPECT_ERROR(Trainer(net, loss, data, {.max_steps = 0}), "max_steps", "time_budget_minutes");
  HEED_EXPECT_ERROR(Trainer(net, loss, data, {.max_steps = 1, .grad_accum_steps = 0}),
                    "grad_accum_steps");
  HEED_EXPECT_ERROR(
      Trainer(net, loss, data, {.max_steps = 1, .warmup_steps = 2, .warmup_ratio = 0.1f}),
      "not both");
}

// A scripted validation score by step: best at step 4, then no improvement.
double scripted_accuracy(int64_t step) {
  switch (step) {
    case 2: return 0.5;
    case 4: return 0.7;
    case 6: return 0.6;
    default: return 0.7;  // equal is not better
  }
}

struct HookRun {
  TrainResult result;
  std::string weights;
  int64_t best_step = -1, improvements = 0;
  std::vector<std::string> log;
};

// eval every 2 steps, checkpoints every 2 steps into out/ckpt, patience 2.
HookRun run_with_hook(const std::string& out, const std::string& resume_from = "") {
  TinyNet net(resume_from.empty() ? 1 : 123);
  SyntheticData data(resume_from.empty() ? 9 : 456);
  TrainerConfig cfg = base_cfg(out);
  cfg.max_steps = 20;
  cfg.eval_every = 2;
  cfg.save_every = 2;
  cfg.checkpoint_dir = out + "/ckpt";
  Trainer* trp = nullptr;
  Trainer tr(
      net, [&](const Batch& b) { return ce_loss(net, b); }, data, cfg,
      [&] { return std::map<std::string, double>{{"accuracy", scripted_accuracy(trp->step())}}; });
  trp = &tr;
  HookRun r;
  EarlyStopping es({.metric = "accuracy", .greater_is_better = true, .patience = 2},
                   [&](int64_t step, const std::map<std::string, double>& m) {
                     ++r.improvements;
                     return nlohmann::json{{"step", step}, {"accuracy", m.at("accuracy")}};
                   });
  tr.set_eval_hook(&es);
  if (!resume_from.empty()) tr.resume(resume_from);
  r.result = tr.train();
  r.weights = weight_bytes(net);
  r.best_step = es.best_step();
  r.log = log_values(tr.log_history());
  EXPECT_EQ(es.best_info().at("step"), es.best_step());
  return r;
}

TEST(Trainer, EvalHookStopsEarlyAndResumesIdentically) {
  testing::ScratchDir full("hook_full"), copy("hook_copy");
  const HookRun ref = run_with_hook(full.path());
  EXPECT_EQ(ref.result.stop_reason, "early stopping");
  EXPECT_EQ(ref.result.steps, 8);  // evals at 6 and 8 do not beat step 4
  EXPECT_EQ(ref.best_step, 4);
  EXPECT_EQ(ref.improvements, 2);
  EXPECT_TRUE(fs::exists(fs::path(full.path()) / "ckpt" / checkpoint_dir_name(8)));
  EXPECT_TRUE(fs::exists(fs::path(full.path()) / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(fs::path(full.path()) / checkpoint_dir_name(8)));

  // From step 6 (one evaluation without improvement already counted) in a new process.
  fs::create_directories(fs::path(copy.path()) / "ckpt");
  fs::copy(fs::path(full.path()) / "ckpt" / checkpoint_dir_name(6),
           fs::path(copy.path()) / "ckpt" / checkpoint_dir_name(6), fs::copy_options::recursive);
  const HookRun resumed = run_with_hook(
      copy.path(), (fs::path(copy.path()) / "ckpt" / checkpoint_dir_name(6)).string());
  EXPECT_EQ(resumed.result.stop_reason, "early stopping");
  EXPECT_EQ(resumed.result.steps, 8);
  EXPECT_EQ(resumed.best_step, 4);
  EXPECT_EQ(resumed.improvements, 0);
  EXPECT_EQ(resumed.weights, ref.weights);
  EXPECT_EQ(resumed.log, ref.log);

  // Resuming the stopped run stops at once.
  const HookRun again = run_with_hook(
      copy.path(), (fs::path(full.path()) / "ckpt" / checkpoint_dir_name(8)).string());
  EXPECT_EQ(again.result.steps, 8);
  EXPECT_EQ(again.weights, ref.weights);

  // A checkpoint without hook state cannot feed a trainer with a hook.
  testing::ScratchDir plain("hook_plain");
  run_fresh(plain.path());
  HEED_EXPECT_ERROR(run_with_hook(plain.path(),
                                  (fs::path(plain.path()) / checkpoint_dir_name(12)).string()),
                    "no eval-hook state");
}

TEST(EarlyStopping, ImprovementPatienceAndState) {
  EarlyStopping es({.metric = "loss", .greater_is_better = false, .patience = 2});
  HEED_EXPECT_ERROR(es.after_eval(1, {{"accuracy", 0.5}}), "no metric 'loss'", "accuracy");
  es.after_eval(1, {{"loss", std::nan("")}});  // the first evaluation is the best, even NaN
  EXPECT_EQ(es.best_step(), 1);
  es.after_eval(2, {{"loss", 2.0}});  // a number beats NaN
  EXPECT_EQ(es.best_step(), 2);
  es.after_eval(3, {{"loss", 1.0}});
  es.after_eval(4, {{"loss", 1.0}});  // equal: not better
  EXPECT_FALSE(es.should_stop());
  EarlyStopping copy({.metric = "loss", .greater_is_better = false, .patience = 2});
  copy.restore(es.state());
  EXPECT_EQ(copy.best_step(), 3);
  EXPECT_EQ(copy.evals_without_improvement(), 1);
  es.after_eval(5, {{"loss", std::nan("")}});
  EXPECT_TRUE(es.should_stop());
  EXPECT_DOUBLE_EQ(es.best(), 1.0);
  // More patience on resume carries on; another metric is refused.
  EarlyStopping patient({.metric = "loss", .greater_is_better = false, .patience = 3});
  patient.restore(es.state());
  EXPECT_FALSE(patient.should_stop());
  EarlyStopping other({.metric = "accuracy", .greater_is_better = true});
  HEED_EXPECT_ERROR(other.restore(es.state()), "'loss'", "'accuracy'");
}

}  // namespace
}  // namespace heed::train
