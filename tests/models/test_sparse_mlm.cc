// BertInputs::sparse_mlm runs the LM head on the labelled positions only, and
// BertInputs::fused_mlm_loss computes the MLM loss without the logits
// (ops::linear_cross_entropy); alone or together, the loss and every gradient must equal
// the dense unfused path's (HF's computation, checked against PyTorch goldens elsewhere).
#include <gtest/gtest.h>

#include "heed/autograd/engine.h"
#include "heed/models/bert_heads.h"
#include "tests/test_util.h"

namespace heed::models {
namespace {

BertConfig tiny() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 32;
  c.hidden_dropout_prob = 0.0;
  c.attention_probs_dropout_prob = 0.0;
  return c;
}

const Tensor& head_logits(const BertPreTrainedModel& m, const BertOutput& out) {
  return m.head() == BertHead::PreTraining ? out.prediction_logits : out.logits;
}

struct Grads {
  float loss;
  std::vector<std::pair<std::string, Tensor>> g;
};

Grads run(BertPreTrainedModel& m, bool sparse, bool nsp, bool fused = false) {
  for (auto& [n, p] : m.named_parameters()) p.zero_grad();
  BertInputs in;
  in.input_ids = Tensor::from_vector<int64_t>({2, 7, 9, 4, 3, 0, 2, 11, 12, 13, 14, 3}, Shape{2, 6});
  in.attention_mask = Tensor::from_vector<int64_t>({1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1}, Shape{2, 6});
  in.labels = Tensor::from_vector<int64_t>(
      {-100, 8, -100, 5, -100, -100, -100, -100, 30, -100, 41, -100}, Shape{2, 6});
  if (nsp) in.next_sentence_label = Tensor::from_vector<int64_t>({0, 1}, Shape{2});
  in.sparse_mlm = sparse;
  in.fused_mlm_loss = fused;
  const BertOutput out = m.forward(in);
  EXPECT_EQ((head_logits(m, out)).defined(), !fused);
  autograd::backward(out.loss);
  Grads r{out.loss.item(), {}};
  for (auto& [n, p] : m.named_parameters()) r.g.emplace_back(n, p.grad().defined() ? p.grad().contiguous() : Tensor());
  return r;
}

void expect_same(BertHead head, bool nsp, bool sparse_path, bool fused) {
  Generator gen(3);
  auto m = make_bert(tiny(), head, gen);
  m->train();
  const Grads dense = run(*m, false, nsp), sparse = run(*m, sparse_path, nsp, fused);
  EXPECT_NEAR(dense.loss, sparse.loss, 1e-5f * std::abs(dense.loss));
  ASSERT_EQ(dense.g.size(), sparse.g.size());
  for (size_t i = 0; i < dense.g.size(); ++i) {
    SCOPED_TRACE(dense.g[i].first);
    ASSERT_EQ(dense.g[i].second.defined(), sparse.g[i].second.defined());
    if (!dense.g[i].second.defined()) continue;
    EXPECT_TRUE(heed::testing::all_close(sparse.g[i].second, dense.g[i].second, 1e-5, 1e-6));
  }
}

TEST(SparseMlm, PreTrainingLossAndGradientsEqualDense) {
  expect_same(BertHead::PreTraining, true, true, false);
}
TEST(SparseMlm, MaskedLmLossAndGradientsEqualDense) {
  expect_same(BertHead::MaskedLM, false, true, false);
}
TEST(FusedMlmLoss, PreTrainingLossAndGradientsEqualUnfused) {
  expect_same(BertHead::PreTraining, true, false, true);
  expect_same(BertHead::PreTraining, true, true, true);
}
TEST(FusedMlmLoss, MaskedLmLossAndGradientsEqualUnfused) {
  expect_same(BertHead::MaskedLM, false, false, true);
  expect_same(BertHead::MaskedLM, false, true, true);
}

TEST(SparseMlm, LogitsHaveOneRowPerLabelledPosition) {
  Generator gen(1);
  auto m = make_bert(tiny(), BertHead::MaskedLM, gen);
  BertInputs in;
  in.input_ids = Tensor::from_vector<int64_t>({2, 7, 9, 3}, Shape{1, 4});
  in.labels = Tensor::from_vector<int64_t>({-100, 8, 5, -100}, Shape{1, 4});
  in.sparse_mlm = true;
  EXPECT_EQ(m->forward(in).logits.shape(), (Shape{2, 50}));
  in.labels = Tensor::from_vector<int64_t>({-100, -100, -100, -100}, Shape{1, 4});
  EXPECT_THROW(m->forward(in), heed::Error);
}

}  // namespace
}  // namespace heed::models
