#include "heed/train/fit.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "heed/autograd/engine.h"
#include "heed/base/progress.h"
#include "heed/ops/cross_entropy.h"
#include "heed/ops/reduce.h"
#include "heed/train/lr_schedule.h"
#include "heed/train/optimizer.h"

namespace heed::train {

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& idx) {
  const Tensor xc = x.contiguous();
  std::vector<int64_t> d = x.shape().dims();
  const int64_t row = x.numel() / std::max<int64_t>(1, d[0]);
  const size_t rb = size_t(row) * dtype_size(x.dtype());
  d[0] = int64_t(idx.size());
  Tensor out = Tensor::empty(Shape(d), x.dtype());
  const char* src = static_cast<const char*>(xc.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < idx.size(); ++i) {
    HEED_CHECK(idx[i] >= 0 && idx[i] < x.size(0), "gather_rows: index {} out of range for {} rows",
               idx[i], x.size(0));
    std::memcpy(dst + i * rb, src + size_t(idx[i]) * rb, rb);
  }
  return out;
}

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
  HEED_CHECK(pred.size() == gold.size(), "accuracy: {} predictions for {} labels", pred.size(),
             gold.size());
  if (gold.empty()) return 0.0;
  int64_t ok = 0;
  for (size_t i = 0; i < gold.size(); ++i) ok += pred[i] == gold[i];
  return double(ok) / double(gold.size());
}

std::vector<int64_t> predict_labels(nn::Module& model, const LogitsFn& logits, const Tensor& inputs,
                                    int64_t batch_size) {
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard ng;
  std::vector<int64_t> pred;
  const int64_t N = inputs.size(0);
  for (int64_t s = 0; s < N; s += batch_size) {
    std::vector<int64_t> idx(size_t(std::min(batch_size, N - s)));
    std::iota(idx.begin(), idx.end(), s);
    const auto am = ops::argmax(logits(gather_rows(inputs, idx)), -1).to_ids();
    pred.insert(pred.end(), am.begin(), am.end());
  }
  model.train(was_training);
  return pred;
}

std::vector<EpochLog> fit_classifier(nn::Module& model, const LogitsFn& logits,
                                     const ClassificationData& train,
                                     const ClassificationData* eval, const FitConfig& cfg) {
  HEED_CHECK(train.size() > 0, "fit: the training set is empty");
  HEED_CHECK(cfg.batch_size > 0 && cfg.epochs > 0, "fit: batch_size and epochs must be positive");
  Generator shuffle_gen(cfg.seed ^ 0x5eedULL);
  model.set_generator(std::make_shared<Generator>(cfg.seed));
  model.train();
  AdamW opt(decay_groups(model.named_parameters(), cfg.weight_decay), {.lr = cfg.lr});
  const int64_t steps_per_epoch = (train.size() + cfg.batch_size - 1) / cfg.batch_size;
  const int64_t total = steps_per_epoch * cfg.epochs;
  const LRSchedule sched{.kind = ScheduleKind::Linear,
                         .warmup_steps = int64_t(cfg.warmup_frac * float(total)),
                         .total_steps = total};
  const Tensor labels_all = Tensor::from_vector(train.labels, Shape{train.size()});
  std::vector<EpochLog> logs;
  ProgressBar bar("train", total, cfg.progress);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < cfg.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> order(size_t(train.size()));
    std::iota(order.begin(), order.end(), 0);
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[shuffle_gen.randint(i + 1)]);
    double loss_sum = 0.0;
    for (int64_t b = 0; b < steps_per_epoch; ++b, ++step) {
      const auto first = order.begin() + b * cfg.batch_size;
      const std::vector<int64_t> idx(first, first + std::min<int64_t>(cfg.batch_size,
                                                                      train.size() - b * cfg.batch_size));
      opt.zero_grad();
      opt.set_lr(cfg.lr * sched.factor(step));
      Tensor loss = ops::cross_entropy(logits(gather_rows(train.inputs, idx)),
                                       gather_rows(labels_all, idx));
      const float lv = loss.item();
      HEED_CHECK(std::isfinite(lv), "fit: loss became {} at step {} (epoch {})", lv, step, epoch);
      autograd::backward(loss);
      if (cfg.max_grad_norm > 0) clip_grad_norm(model.parameters(), cfg.max_grad_norm);
      opt.step();
      loss_sum += lv;
      bar.update(step + 1, fmt::format("epoch {} loss {:.4f} lr {:.2e}", epoch + 1,
                                       loss_sum / double(b + 1), opt.lr()));
    }
    EpochLog log;
    log.epoch = epoch + 1;
    log.train_loss = loss_sum / double(steps_per_epoch);
    if (eval) log.eval_accuracy = accuracy(predict_labels(model, logits, eval->inputs, 256), eval->labels);
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    logs.push_back(log);
  }
  bar.finish();
  return logs;
}

}  // namespace heed::train
