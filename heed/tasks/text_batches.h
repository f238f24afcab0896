// Batches of TextExamples for training: padded to the longest example of the batch
// ("dynamic padding", HF's DataCollatorWithPadding), and a DataSource that walks the
// examples in a seeded random order, a new order each epoch.
//
// Resumable: the order of epoch e is a pure function of (seed, e), so the state is two
// integers, (epoch, position), and restore(state()) continues with exactly the batches
// that would have come next. An epoch ends with a short batch when the batch size does
// not divide the number of examples (drop_last = False).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <vector>

#include "heed/tasks/text_data.h"
#include "heed/train/data_source.h"

namespace heed::tasks {

// input_ids, token_type_ids, attention_mask (B, T) i64 with T the longest of the batch;
// with labels also "labels" (B) i64 (classify) or f32 (regress).
train::Batch collate_text(const std::vector<TextExample>& examples, std::span<const int64_t> rows,
                          int32_t pad_id, TextTask task, bool with_labels);

struct TextBatchesConfig {
  int64_t batch_size = 32;
  uint64_t seed = 0;
  int32_t pad_id = 0;
  TextTask task = TextTask::Classify;
};

class ShuffledTextBatches : public train::DataSource {
 public:
  // `examples` must outlive the source.
  ShuffledTextBatches(const std::vector<TextExample>& examples, TextBatchesConfig cfg);

  train::Batch next_batch() override;
  nlohmann::json state() const override;  // {"epoch", "position"}
  void restore(const nlohmann::json& state) override;

  int64_t batches_per_epoch() const;
  int64_t epoch() const { return epoch_; }
  // The visiting order of an epoch (a permutation of the example indices).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  const std::vector<TextExample>& examples_;
  TextBatchesConfig cfg_;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;
  int64_t order_epoch_ = -1;
};

}  // namespace heed::tasks
