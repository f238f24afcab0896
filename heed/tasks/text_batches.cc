#include "heed/tasks/text_batches.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "heed/base/error.h"
#include "heed/base/rng.h"

namespace heed::tasks {

train::Batch collate_text(const std::vector<TextExample>& examples, std::span<const int64_t> rows,
                          int32_t pad_id, TextTask task, bool with_labels) {
  HEED_CHECK(!rows.empty(), "collate_text: no rows");
  const int64_t B = int64_t(rows.size());
  int64_t T = 0;
  for (const int64_t r : rows) T = std::max<int64_t>(T, int64_t(examples[size_t(r)].input_ids.size()));
  std::vector<int64_t> ids(size_t(B * T), pad_id), types(size_t(B * T), 0), mask(size_t(B * T), 0);
  std::vector<int64_t> labels;
  std::vector<float> values;
  train::Batch b;
  for (int64_t i = 0; i < B; ++i) {
    const TextExample& e = examples[size_t(rows[size_t(i)])];
    for (size_t t = 0; t < e.input_ids.size(); ++t) {
      const size_t k = size_t(i * T) + t;
      ids[k] = e.input_ids[t];
      types[k] = e.token_type_ids[t];
      mask[k] = 1;
    }
    b.num_tokens += int64_t(e.input_ids.size());
    if (task == TextTask::Classify)
      labels.push_back(e.label);
    else
      values.push_back(e.value);
  }
  b.tensors["input_ids"] = Tensor::from_vector(ids, Shape{B, T});           // (B, T)
  b.tensors["token_type_ids"] = Tensor::from_vector(types, Shape{B, T});    // (B, T)
  b.tensors["attention_mask"] = Tensor::from_vector(mask, Shape{B, T});     // (B, T)
  if (with_labels)
    b.tensors["labels"] = task == TextTask::Classify ? Tensor::from_vector(labels, Shape{B})
                                                     : Tensor::from_vector(values, Shape{B});
  return b;
}

ShuffledTextBatches::ShuffledTextBatches(const std::vector<TextExample>& examples,
                                         TextBatchesConfig cfg)
    : examples_(examples), cfg_(cfg) {
  HEED_CHECK(!examples_.empty(), "ShuffledTextBatches: no examples");
  HEED_CHECK(cfg_.batch_size >= 1, "ShuffledTextBatches: batch size must be >= 1, got {}",
             cfg_.batch_size);
}

int64_t ShuffledTextBatches::batches_per_epoch() const {
  const int64_t n = int64_t(examples_.size());
  return (n + cfg_.batch_size - 1) / cfg_.batch_size;
}

std::vector<int64_t> ShuffledTextBatches::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(examples_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  // A stream per epoch: Philox keyed by the seed, one block of draws per epoch.
  Generator g(cfg_.seed);
  g.set_state(cfg_.seed, uint64_t(epoch) << 40);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(g.randint(i))]);
  return order;
}

train::Batch ShuffledTextBatches::next_batch() {
  if (order_epoch_ != epoch_) {
    order_ = epoch_order(epoch_);
    order_epoch_ = epoch_;
  }
  const int64_t n = int64_t(order_.size());
  const int64_t end = std::min(n, position_ + cfg_.batch_size);
  train::Batch b = collate_text(
      examples_, std::span<const int64_t>(order_.data() + position_, size_t(end - position_)),
      cfg_.pad_id, cfg_.task, /*with_labels=*/true);
  position_ = end;
  if (position_ == n) {
    position_ = 0;
    ++epoch_;
  }
  return b;
}

nlohmann::json ShuffledTextBatches::state() const {
  return {{"epoch", epoch_}, {"position", position_}, {"num_examples", examples_.size()}};
}

void ShuffledTextBatches::restore(const nlohmann::json& s) {
  try {
    const auto n = s.at("num_examples").get<int64_t>();
    HEED_CHECK(n == int64_t(examples_.size()),
               "the checkpoint was trained on {} examples but the training data now has {} "
               "(different data or options)",
               n, examples_.size());
    epoch_ = s.at("epoch").get<int64_t>();
    position_ = s.at("position").get<int64_t>();
    HEED_CHECK(epoch_ >= 0 && position_ >= 0 && position_ < n,
               "malformed data state (epoch {}, position {})", epoch_, position_);
  } catch (const nlohmann::json::exception& e) {
    HEED_FAIL("malformed data state in the checkpoint: {}", e.what());
  }
}

}  // namespace heed::tasks
