#include "heed/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "heed/autograd/engine.h"
#include "heed/base/fs.h"
#include "heed/base/progress.h"
#include "heed/io/safetensors.h"
#include "heed/ops/autocast.h"
#include "heed/train/checkpoint.h"
#include "heed/train/stop_signal.h"

namespace heed::train {

using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A float as the shortest decimal that reads back to it ("1e-04", not 9.99999974e-05).
double tidy(float v) { return std::stod(fmt::format("{}", v)); }

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::Constant:
      return "constant";
    case ScheduleKind::Linear:
      return "linear";
    case ScheduleKind::Cosine:
      return "cosine";
  }
  return "?";
}

json config_json(const TrainerConfig& c) {
  return {{"max_steps", c.max_steps},
          {"time_budget_minutes", c.time_budget_minutes},
          {"grad_accum_steps", c.grad_accum_steps},
          {"lr", tidy(c.lr)},
          {"weight_decay", tidy(c.weight_decay)},
          {"beta1", tidy(c.beta1)},
          {"beta2", tidy(c.beta2)},
          {"eps", tidy(c.eps)},
          {"warmup_steps", c.warmup_steps},
          {"warmup_ratio", tidy(c.warmup_ratio)},
          {"schedule", schedule_name(c.schedule)},
          {"max_grad_norm", tidy(c.max_grad_norm)},
          {"eval_every", c.eval_every},
          {"save_every", c.save_every},
          {"log_every", c.log_every},
          {"out_dir", c.out_dir},
          {"checkpoint_dir", c.checkpoint_dir},
          {"seed", c.seed},
          {"keep_last_n", c.keep_last_n}};
}

// Eval mode and no gradients for the duration of a scope, even on exceptions.
class EvalScope {
 public:
  explicit EvalScope(nn::Module& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalScope() { m_.train(was_training_); }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;

 private:
  nn::Module& m_;
  bool was_training_;
  autograd::NoGradGuard no_grad_;
};

}  // namespace

Trainer::Trainer(nn::Module& model, LossFn loss, DataSource& data, TrainerConfig cfg, EvalFn eval)
    : model_(model),
      loss_(std::move(loss)),
      data_(data),
      cfg_(std::move(cfg)),
      eval_(std::move(eval)) {
  HEED_CHECK(loss_ != nullptr, "Trainer: no loss function");
  if (cfg_.bf16) {  // forward under autocast; each op's backward keeps its precision
    loss_ = [inner = std::move(loss_)](const Batch& b) {
      ops::Autocast bf16;
      return inner(b);
    };
  }
  HEED_CHECK(cfg_.max_steps > 0 || cfg_.time_budget_minutes > 0,
             "Trainer: set max_steps or time_budget_minutes (both are 0)");
  HEED_CHECK(cfg_.max_steps >= 0 && cfg_.time_budget_minutes >= 0,
             "Trainer: max_steps {} and time_budget_minutes {} must not be negative",
             cfg_.max_steps, cfg_.time_budget_minutes);
  HEED_CHECK(cfg_.grad_accum_steps >= 1, "Trainer: grad_accum_steps must be >= 1, got {}",
             cfg_.grad_accum_steps);
  HEED_CHECK(cfg_.warmup_steps >= 0 && cfg_.warmup_ratio >= 0 && cfg_.warmup_ratio <= 1,
             "Trainer: warmup_steps {} / warmup_ratio {} out of range", cfg_.warmup_steps,
             cfg_.warmup_ratio);
  HEED_CHECK(!(cfg_.warmup_steps > 0 && cfg_.warmup_ratio > 0),
             "Trainer: give warmup_steps ({}) or warmup_ratio ({}), not both", cfg_.warmup_steps,
             cfg_.warmup_ratio);
  HEED_CHECK(cfg_.log_every >= 0 && cfg_.eval_every >= 0 && cfg_.save_every >= 0,
             "Trainer: log_every, eval_every and save_every must not be negative");
  if (!model_.generator()) model_.set_generator(std::make_shared<Generator>(cfg_.seed));
  opt_ = std::make_unique<AdamW>(
      decay_groups(model_.named_parameters(), cfg_.weight_decay),
      AdamWConfig{.lr = cfg_.lr, .beta1 = cfg_.beta1, .beta2 = cfg_.beta2, .eps = cfg_.eps});
  for (const auto& g : opt_->groups())
    for (const auto& [n, p] : g.params) params_.push_back(p);
  HEED_CHECK(!params_.empty(), "Trainer: the model has no trainable parameters");
}

Trainer::~Trainer() = default;

std::string Trainer::metrics_path() const {
  return (std::filesystem::path(cfg_.out_dir) / "metrics.jsonl").string();
}

const std::string& Trainer::checkpoint_dir() const {
  return cfg_.checkpoint_dir.empty() ? cfg_.out_dir : cfg_.checkpoint_dir;
}

void Trainer::append_record(const std::string& line) {
  history_.push_back(line);
  if (cfg_.out_dir.empty()) return;
  std::ofstream out(metrics_path(), std::ios::app | std::ios::binary);
  HEED_CHECK(out.good(), "{}: cannot append", metrics_path());
  out << line << '\n';
}

int64_t Trainer::estimate_steps_for_budget() {
  // Time a few micro-batches (the first one warms up), then undo every effect: the
  // data position, the dropout RNG and the gradients. Nothing else has changed.
  const json data_state = data_.state();
  Generator& gen = *model_.generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  model_.train();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    const StepOutput o = loss_(data_.next_batch());
    autograd::backward(o.loss);
    if (i > 0) best = std::min(best, seconds_since(t0));
  }
  opt_->zero_grad();
  data_.restore(data_state);
  gen.set_state(seed, offset);
  // ~5% for the optimizer step, clipping and logging.
  const double step_seconds = best * double(cfg_.grad_accum_steps) * 1.05;
  const double budget = cfg_.time_budget_minutes * 60.0 - elapsed_before_;
  const int64_t steps = std::max<int64_t>(step_ + 1, step_ + int64_t(budget / step_seconds));
  std::fprintf(stderr,
               "trainer: time budget %s at ~%.3g s/step (~%lld steps); the lr schedule follows "
               "elapsed time\n",
               format_duration(cfg_.time_budget_minutes * 60.0).c_str(), step_seconds,
               static_cast<long long>(steps));
  return steps;
}

void Trainer::resolve_total_steps() {
  if (cfg_.max_steps > 0)
    total_steps_ = cfg_.max_steps;
  else if (total_steps_ <= 0)  // time budget only; a resumed run keeps its saved estimate
    total_steps_ = estimate_steps_for_budget();
  // ceil, as HF's TrainingArguments.get_warmup_steps.
  warmup_steps_ = cfg_.warmup_ratio > 0
                      ? int64_t(std::ceil(double(cfg_.warmup_ratio) * double(total_steps_)))
                      : cfg_.warmup_steps;
}

std::string Trainer::state_json() const {
  json hist = json::array();
  for (const auto& h : history_) hist.push_back(json::parse(h));
  json sums = json::object();
  for (const auto& [k, v] : win_.metric_sums) sums[k] = v;
  const Generator& gen = *model_.generator();
  return json{{"format", "heed-trainer-state"},
              {"version", 1},
              {"step", step_},
              {"total_steps", total_steps_},
              {"warmup_steps", warmup_steps_},
              {"schedule", schedule_name(cfg_.schedule)},
              {"model_rng", {gen.seed(), gen.offset()}},
              {"data", data_.state()},
              {"elapsed_seconds", elapsed_before_},
              {"log_window",
               {{"loss_sum", win_.loss_sum},
                {"grad_norm_sum", win_.grad_norm_sum},
                {"micro_batches", win_.micro_batches},
                {"steps", win_.steps},
                {"tokens", win_.tokens},
                {"seconds", win_.seconds},
                {"metric_sums", sums}}},
              {"log_history", hist},
              {"eval_hook", hook_ ? hook_->state() : json(nullptr)},
              {"config", config_json(cfg_)}}
      .dump(1);
}

std::string Trainer::save() {
  HEED_CHECK(!cfg_.out_dir.empty(), "Trainer::save: no out_dir configured");
  CheckpointContents c;
  c.model = model_.state_dict();
  size_t k = 0;
  for (const auto& g : opt_->groups())
    for (const auto& [name, p] : g.params) {
      c.optimizer.emplace_back("exp_avg." + name, opt_->exp_avg()[k]);
      c.optimizer.emplace_back("exp_avg_sq." + name, opt_->exp_avg_sq()[k]);
      ++k;
    }
  c.optimizer_step = opt_->step_count();
  c.trainer_state_json = state_json();
  last_saved_ = save_checkpoint(checkpoint_dir(), step_, c);
  prune_checkpoints(checkpoint_dir(), cfg_.keep_last_n);
  return last_saved_;
}

void Trainer::resume(const std::string& dir) {
  namespace fs = std::filesystem;
  HEED_CHECK(is_complete_checkpoint(dir),
             "{}: not a complete checkpoint (no {} marker; the save was interrupted)", dir,
             kCheckpointMarker);
  // Model.
  const io::TensorFile mf = io::load_safetensors((fs::path(dir) / kCheckpointModelFile).string());
  const auto lr = model_.load_state_dict(mf.tensors);
  HEED_CHECK(lr.missing_keys.empty() && lr.unexpected_keys.empty(),
             "{}: the checkpoint does not match the model: missing [{}], unexpected [{}]", mf.path,
             fmt::join(lr.missing_keys, ", "), fmt::join(lr.unexpected_keys, ", "));
  // Optimizer.
  const io::TensorFile of =
      io::load_safetensors((fs::path(dir) / kCheckpointOptimizerFile).string());
  size_t k = 0;
  for (const auto& g : opt_->groups())
    for (const auto& [name, p] : g.params) {
      for (auto [prefix, dst] : {std::pair{"exp_avg.", &opt_->exp_avg()[k]},
                                 std::pair{"exp_avg_sq.", &opt_->exp_avg_sq()[k]}}) {
        const Tensor& src = of.at(prefix + name);
        HEED_CHECK(src.shape() == dst->shape(), "{}: {}{} has shape {} but the parameter has {}",
                   of.path, prefix, name, src.shape(), dst->shape());
        dst->copy_(src);
      }
      ++k;
    }
  HEED_CHECK(of.names.size() == 2 * k,
             "{}: {} tensors for {} trainable parameters (a different model?)", of.path,
             of.names.size(), k);
  HEED_CHECK(of.metadata.count("step"), "{}: no \"step\" in the metadata", of.path);
  opt_->set_step_count(std::stoll(of.metadata.at("step")));
  // Trainer state.
  const std::string state_path = (fs::path(dir) / kCheckpointStateFile).string();
  try {
    const json st = json::parse(read_file(state_path));
    HEED_CHECK(st.at("format") == "heed-trainer-state", "{}: not a heed trainer state", state_path);
    step_ = st.at("step").get<int64_t>();
    total_steps_ = st.at("total_steps").get<int64_t>();
    model_.generator()->set_state(st.at("model_rng").at(0).get<uint64_t>(),
                                  st.at("model_rng").at(1).get<uint64_t>());
    data_.restore(st.at("data"));
    elapsed_before_ = st.at("elapsed_seconds").get<double>();
    const json& w = st.at("log_window");
    win_ = Window{};
    win_.loss_sum = w.at("loss_sum").get<double>();
    win_.grad_norm_sum = w.at("grad_norm_sum").get<double>();
    win_.micro_batches = w.at("micro_batches").get<int64_t>();
    win_.steps = w.at("steps").get<int64_t>();
    win_.tokens = w.at("tokens").get<int64_t>();
    win_.seconds = w.at("seconds").get<double>();
    for (const auto& [key, v] : w.at("metric_sums").items())
      win_.metric_sums[key] = v.get<double>();
    history_.clear();
    for (const auto& h : st.at("log_history")) history_.push_back(h.dump());
    if (hook_) {
      const auto it = st.find("eval_hook");
      HEED_CHECK(it != st.end() && !it->is_null(),
                 "{}: no eval-hook state (early stopping / best model): the checkpoint was saved "
                 "by a run without one",
                 state_path);
      hook_->restore(*it);
    }
    const json& saved_cfg = st.at("config");
    if (cfg_.max_steps > 0 && cfg_.max_steps != total_steps_)
      std::fprintf(stderr,
                   "trainer: %s was saved by a run of %lld steps; the lr schedule now spans %lld\n",
                   dir.c_str(), static_cast<long long>(total_steps_),
                   static_cast<long long>(cfg_.max_steps));
    if (saved_cfg.at("grad_accum_steps") != cfg_.grad_accum_steps ||
        saved_cfg.at("lr") != tidy(cfg_.lr))
      std::fprintf(stderr,
                   "trainer: resuming %s with a different lr or grad_accum_steps than it was saved "
                   "with; the run will not match an uninterrupted one\n",
                   dir.c_str());
  } catch (const json::exception& e) {
    HEED_FAIL("{}: malformed trainer state: {}", state_path, e.what());
  }
  // metrics.jsonl = the history up to this checkpoint (drops records of a run that went
  // on past its last save).
  if (!cfg_.out_dir.empty()) {
    fs::create_directories(cfg_.out_dir);
    std::string text;
    for (const auto& h : history_) text += h + "\n";
    write_file_atomic(metrics_path(), text);
  }
  last_saved_ = dir;
}

bool Trainer::resume_latest() {
  HEED_CHECK(!cfg_.out_dir.empty(), "Trainer::resume_latest: no out_dir configured");
  const CheckpointScan s = scan_checkpoints(checkpoint_dir());
  if (!s.message.empty()) std::fprintf(stderr, "trainer: %s", s.message.c_str());
  if (s.latest.empty()) return false;
  std::fprintf(stderr, "trainer: resuming from %s (step %lld)\n", s.latest.c_str(),
               static_cast<long long>(s.latest_step));
  resume(s.latest);
  return true;
}

void Trainer::log_train_record() {
  if (win_.steps == 0) return;
  json rec = {{"type", "train"},
              {"step", step_},
              {"loss", win_.loss_sum / double(std::max<int64_t>(1, win_.micro_batches))},
              {"lr", tidy(last_lr_)},
              {"grad_norm", win_.grad_norm_sum / double(win_.steps)},
              {"tokens_per_s", win_.seconds > 0 ? double(win_.tokens) / win_.seconds : 0.0},
              {"elapsed", elapsed_before_}};
  for (const auto& [k, v] : win_.metric_sums)
    rec[k] = finite_or_null(v / double(std::max<int64_t>(1, win_.micro_batches)));
  append_record(rec.dump());
  win_ = Window{};
}

std::map<std::string, double> Trainer::run_eval() {
  std::map<std::string, double> m;
  {
    EvalScope scope(model_);
    m = eval_();
  }
  json rec = {{"type", "eval"}, {"step", step_}, {"elapsed", elapsed_before_}};
  for (const auto& [k, v] : m) rec[k] = finite_or_null(v);
  append_record(rec.dump());
  if (hook_) hook_->after_eval(step_, m);
  return m;
}

TrainResult Trainer::train() {
  StopSignalGuard signals(cfg_.handle_signals);
  resolve_total_steps();
  if (!cfg_.out_dir.empty()) {
    std::filesystem::create_directories(cfg_.out_dir);
    if (step_ == 0 && history_.empty()) write_file_atomic(metrics_path(), "");  // a fresh run
  }
  const LRSchedule sched{
      .kind = cfg_.schedule, .warmup_steps = warmup_steps_, .total_steps = total_steps_};
  const double budget_s = cfg_.time_budget_minutes * 60.0;
  const int64_t accum = cfg_.grad_accum_steps;
  const float max_norm =
      cfg_.max_grad_norm > 0 ? cfg_.max_grad_norm : std::numeric_limits<float>::infinity();
  TrainResult r;
  r.stop_reason = "max_steps";
  // With only a time budget, the schedule follows elapsed time: step k uses the factor at
  // elapsed / budget * total_steps (total_steps_ is then the estimate, a nominal length),
  // so a machine that speeds up or slows down mid-run still ends its decay at the budget.
  const bool by_time = cfg_.max_steps == 0;
  // Counts from the resume point, so that the bar's rate and ETA are this session's; a
  // time-budget bar counts per mille of the budget.
  const int64_t first_step = step_;
  const int64_t first_mille = by_time ? int64_t(1000.0 * elapsed_before_ / budget_s) : 0;
  ProgressBar bar(first_step > 0 ? fmt::format("train from step {}", first_step) : "train",
                  by_time ? 1000 - first_mille : total_steps_ - first_step, cfg_.progress);
  model_.train();
  while (by_time || step_ < total_steps_) {
    if (const int sig = StopSignalGuard::received()) {
      r.interrupted = true;
      r.stop_reason = sig == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
    if (budget_s > 0 && elapsed_before_ >= budget_s) {
      r.stop_reason = "time budget";
      break;
    }
    if (hook_ && hook_->should_stop()) {
      r.stop_reason = "early stopping";
      break;
    }
    const auto t_step = Clock::now();
    opt_->zero_grad();
    const float lr =
        cfg_.lr * (by_time ? sched.factor_at(elapsed_before_ / budget_s * double(total_steps_))
                           : sched.factor(step_));
    opt_->set_lr(lr);
    for (int64_t micro = 0; micro < accum; ++micro) {
      const Batch batch = data_.next_batch();
      const StepOutput out = loss_(batch);
      HEED_CHECK(out.loss.defined() && out.loss.numel() == 1,
                 "trainer: the loss function must return a scalar loss");
      const float lv = out.loss.item();
      HEED_CHECK(std::isfinite(lv),
                 "trainer: the loss is {} at step {} (micro-batch {} of {}, lr {:.3g}); stopping. "
                 "Lower the learning rate or check the data; the last checkpoint is {}",
                 lv, step_ + 1, micro + 1, accum, lr, last_saved_.empty() ? "(none)" : last_saved_);
      // Each micro-batch loss is a mean; scaling by 1/accum makes the accumulated
      // gradient the mean over micro-batches.
      autograd::backward(out.loss, accum > 1 ? Tensor::scalar(1.0f / float(accum)) : Tensor());
      win_.loss_sum += lv;
      ++win_.micro_batches;
      win_.tokens += out.num_tokens > 0 ? out.num_tokens : batch.num_tokens;
      for (const auto& [k, v] : out.metrics) win_.metric_sums[k] += v;
    }
    const float gn = clip_grad_norm(params_, max_norm);
    HEED_CHECK(std::isfinite(gn),
               "trainer: the gradient norm is {} at step {} (loss was finite); stopping", gn,
               step_ + 1);
    opt_->step();
    if (step_hook_) step_hook_->after_step(step_, total_steps_);
    ++step_;
    ++win_.steps;
    win_.grad_norm_sum += gn;
    last_lr_ = lr;
    const double step_s = seconds_since(t_step);
    win_.seconds += step_s;  // tokens/s counts training steps only
    elapsed_before_ += step_s;
    const double shown_loss = win_.loss_sum / double(std::max<int64_t>(1, win_.micro_batches));
    const double tps = win_.seconds > 0 ? double(win_.tokens) / win_.seconds : 0.0;
    if (cfg_.log_every > 0 && step_ % cfg_.log_every == 0) log_train_record();
    if (eval_ && cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0) r.last_eval = run_eval();
    if (!cfg_.out_dir.empty() && cfg_.save_every > 0 && step_ % cfg_.save_every == 0)
      r.last_checkpoint = save();
    if (by_time)
      bar.update(std::min<int64_t>(1000, int64_t(1000.0 * elapsed_before_ / budget_s)) - first_mille,
                 fmt::format("step {} loss {:.4f} lr {:.2e} {:.0f} tok/s", step_, shown_loss, lr, tps));
    else
      bar.update(step_ - first_step,
                 fmt::format("loss {:.4f} lr {:.2e} {:.0f} tok/s", shown_loss, lr, tps));
    // The time budget is wall time: evaluation and saving count too.
    elapsed_before_ += seconds_since(t_step) - step_s;
  }
  if (!r.interrupted) {
    log_train_record();  // a partial window at the end
    if (eval_ && (cfg_.eval_every == 0 || step_ % cfg_.eval_every != 0)) r.last_eval = run_eval();
  }
  if (!cfg_.out_dir.empty()) r.last_checkpoint = save();
  bar.finish(fmt::format("{} at step {}", r.stop_reason, step_));
  if (r.interrupted)
    std::fprintf(stderr, "trainer: stopped by %s at step %lld; checkpoint %s\n",
                 r.stop_reason.c_str(), static_cast<long long>(step_),
                 r.last_checkpoint.empty() ? "(none: no out_dir)" : r.last_checkpoint.c_str());
  r.steps = step_;
  return r;
}

}  // namespace heed::train
