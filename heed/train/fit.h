// A compact supervised training loop for classifiers over in-memory tensors: shuffled
// mini-batches, AdamW with the no-decay list, linear warmup + decay, global-norm
// clipping, per-epoch evaluation, a progress bar. (The full Trainer with checkpoints
// and resume is heed/train/trainer.h.)
#pragma once

#include <functional>
#include <vector>

#include "heed/nn/module.h"

namespace heed::train {

struct ClassificationData {
  Tensor inputs;                // (N, ...) any dtype; rows are gathered per batch
  std::vector<int64_t> labels;  // N
  int64_t size() const { return int64_t(labels.size()); }
};

struct FitConfig {
  int64_t epochs = 10, batch_size = 32;
  float lr = 1e-3f, weight_decay = 0.01f, warmup_frac = 0.1f, max_grad_norm = 1.0f;
  uint64_t seed = 0;
  bool progress = true;
};

struct EpochLog {
  int64_t epoch = 0;
  double train_loss = 0.0, eval_accuracy = -1.0, seconds = 0.0;
};

using LogitsFn = std::function<Tensor(const Tensor& batch_inputs)>;  // -> (B, num_labels)

std::vector<EpochLog> fit_classifier(nn::Module& model, const LogitsFn& logits,
                                     const ClassificationData& train,
                                     const ClassificationData* eval, const FitConfig& cfg);

// Predicted labels in eval mode, without recording gradients.
std::vector<int64_t> predict_labels(nn::Module& model, const LogitsFn& logits, const Tensor& inputs,
                                    int64_t batch_size);
double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);

// Rows idx of x along dim 0 (a copy; not differentiable).
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& idx);

}  // namespace heed::train
