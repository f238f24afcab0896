// Parity with the PyTorch reference BERT of tests/golden/bert/make_bert_goldens.py (HF's
// modeling_bert formulas and names): every forward output, the pretraining loss and its
// gradient for every parameter, from model.safetensors, pytorch_model.bin and the
// legacy variant layout; and the task heads' logits and losses.
//
// Tolerances: forward |heed - torch| <= 1e-5 + 1e-5 |torch|; gradients
// |heed - torch| <= 1e-4 |torch| + 1e-6 (the key-bias gradients, exactly zero in exact
// arithmetic, absolutely within 1e-5). The max errors seen are printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "bert_test_util.h"
#include "heed/autograd/engine.h"
#include "heed/models/bert_pretrained.h"
#include "heed/ops/view.h"

namespace heed {

namespace {

constexpr double kOutRtol = 1e-5, kOutAtol = 1e-5;
constexpr double kGradRtol = 1e-4, kGradAtol = 1e-6;

using models::BertHead;

models::BertInputs golden_inputs(bool all_outputs) {
  const auto& g = testing::bert_goldens();
  models::BertInputs in;
  in.input_ids = g.at("input_ids");
  in.attention_mask = g.at("attention_mask");
  in.token_type_ids = g.at("token_type_ids");
  in.output_hidden_states = all_outputs;
  in.output_attentions = all_outputs;
  return in;
}

std::unique_ptr<models::BertPreTrainedModel> load(const std::string& sub, BertHead head,
                                                  models::WeightsFormat format,
                                                  models::LoadReport* report = nullptr) {
  models::BertFromPretrainedOptions o;
  o.head = head;
  o.load.format = format;
  o.load.quiet = true;
  auto r = models::bert_from_pretrained(testing::bert_dir(sub), o);
  if (report) *report = r.report;
  return std::move(r.model);
}

// Compares every named output that has a golden "<prefix>.<name>"; returns how many.
int expect_outputs_match(const models::BertOutput& out, const std::string& prefix) {
  const auto& g = testing::bert_goldens();
  int n = 0;
  testing::ErrStats worst;
  for (const auto& [name, t] : out.named()) {
    const std::string key = prefix + "." + name;
    if (!g.contains(key)) continue;
    const Tensor want = g.at_f32(key);
    const Tensor got = name == "loss" ? ops::reshape(t, Shape{1}) : t;
    EXPECT_TRUE(testing::all_close(got, want, kOutRtol, kOutAtol)) << key;
    const auto e = testing::err_stats(got, want);
    worst.max_abs = std::max(worst.max_abs, e.max_abs);
    worst.max_rel = std::max(worst.max_rel, e.max_rel);
    ++n;
  }
  std::printf("  [%s] %d outputs, max abs err %.3g, max rel err %.3g\n", prefix.c_str(), n,
              worst.max_abs, worst.max_rel);
  return n;
}

class PretrainingGolden : public ::testing::TestWithParam<models::WeightsFormat> {};

TEST_P(PretrainingGolden, EveryOutputMatchesTorch) {
  auto m = load("pretraining", BertHead::PreTraining, GetParam());
  const models::BertOutput out = m->forward(golden_inputs(true));
  EXPECT_EQ(out.hidden_states.size(), 3u);
  EXPECT_EQ(out.attentions.size(), 2u);
  EXPECT_EQ(out.attentions[0].shape(), Shape({3, 4, 11, 11}));
  // hidden_states 00..02, attentions 00..01, both logits.
  EXPECT_EQ(expect_outputs_match(out, "pretraining"), 7);
}

TEST_P(PretrainingGolden, BaseModelOutputsMatchTorch) {
  auto m = load("pretraining", BertHead::Base, GetParam());
  const models::BertOutput out = m->forward(golden_inputs(true));
  // last_hidden_state, pooler_output, 3 hidden states, 2 attentions.
  EXPECT_EQ(expect_outputs_match(out, "pretraining"), 7);
}

TEST_P(PretrainingGolden, LossAndEveryParameterGradientMatchTorch) {
  auto m = load("pretraining", BertHead::PreTraining, GetParam());
  const auto& g = testing::bert_goldens();
  models::BertInputs in = golden_inputs(false);
  in.labels = g.at("labels");
  in.next_sentence_label = g.at("next_sentence_label");
  const models::BertOutput out = m->forward(in);
  ASSERT_TRUE(out.loss.defined());
  EXPECT_TRUE(testing::all_close(ops::reshape(out.loss, Shape{1}), g.at_f32("pretraining.loss"),
                                 kOutRtol, kOutAtol));
  autograd::backward(out.loss);

  // The parameter set is exactly torch's named_parameters() (tied decoder counted once).
  std::set<std::string> golden_names;
  for (const auto& n : g.names)
    if (n.rfind("grad.", 0) == 0) golden_names.insert(n.substr(5));
  std::set<std::string> ours;
  double worst_rel = 0.0, worst_abs = 0.0;
  for (const auto& [name, p] : m->named_parameters()) {
    ours.insert(name);
    ASSERT_TRUE(p.grad().defined()) << name;
    ASSERT_TRUE(g.contains("grad." + name)) << name;
    const Tensor want = g.at_f32("grad." + name);
    const bool key_bias = name.find("self.key.bias") != std::string::npos;
    EXPECT_TRUE(testing::all_close(p.grad(), want, key_bias ? 0.0 : kGradRtol,
                                   key_bias ? 1e-5 : kGradAtol))
        << name;
    if (!key_bias) {
      const auto e = testing::err_stats(p.grad(), want);
      worst_rel = std::max(worst_rel, e.max_rel);
      worst_abs = std::max(worst_abs, e.max_abs);
    }
  }
  EXPECT_EQ(ours, golden_names);
  std::printf("  [grads] %zu parameters, max abs err %.3g, max rel err %.3g\n", ours.size(),
              worst_abs, worst_rel);
}

INSTANTIATE_TEST_SUITE_P(SafetensorsAndBin, PretrainingGolden,
                         ::testing::Values(models::WeightsFormat::Safetensors,
                                           models::WeightsFormat::Torch),
                         [](const auto& info) {
                           return info.param == models::WeightsFormat::Torch ? "pytorch_model_bin"
                                                                             : "model_safetensors";
                         });

TEST(BertVariantLayout, NoPrefixGammaBetaFloat16MatchTorch) {
  models::LoadReport report;
  auto m = load("variant", BertHead::PreTraining, models::WeightsFormat::Auto, &report);
  EXPECT_TRUE(report.missing_keys.empty()) << models::python_list(report.missing_keys);
  EXPECT_TRUE(report.unexpected_keys.empty()) << models::python_list(report.unexpected_keys);
  EXPECT_EQ(report.renamed_keys.size(), 2u * (1 + 2 * 2) + 2u);  // every LayerNorm
  const models::BertOutput out = m->forward(golden_inputs(false));
  EXPECT_EQ(expect_outputs_match(out, "variant"), 2);  // both logits
  auto base = load("variant", BertHead::Base, models::WeightsFormat::Auto, &report);
  EXPECT_TRUE(report.missing_keys.empty());
  EXPECT_EQ(expect_outputs_match(base->forward(golden_inputs(false)), "variant"), 2);
}

TEST(BertHeadsGolden, SequenceClassificationLogitsAndLoss) {
  models::LoadReport report;
  auto m = load("seqcls", BertHead::SequenceClassification, models::WeightsFormat::Auto, &report);
  EXPECT_TRUE(report.messages.empty()) << report.messages.front();
  models::BertInputs in = golden_inputs(false);
  in.labels = testing::bert_goldens().at("seqcls_labels");
  EXPECT_EQ(expect_outputs_match(m->forward(in), "seqcls"), 2);
}

TEST(BertHeadsGolden, TokenClassificationLogitsAndLoss) {
  models::LoadReport report;
  auto m = load("tokcls", BertHead::TokenClassification, models::WeightsFormat::Auto, &report);
  EXPECT_TRUE(report.messages.empty()) << report.messages.front();
  models::BertInputs in = golden_inputs(false);
  in.labels = testing::bert_goldens().at("tokcls_labels");
  EXPECT_EQ(expect_outputs_match(m->forward(in), "tokcls"), 2);
}

TEST(BertHeadsGolden, QuestionAnsweringLogitsAndClampedLoss) {
  models::LoadReport report;
  auto m = load("qa", BertHead::QuestionAnswering, models::WeightsFormat::Auto, &report);
  EXPECT_TRUE(report.messages.empty()) << report.messages.front();
  models::BertInputs in = golden_inputs(false);
  in.start_positions = testing::bert_goldens().at("start_positions");  // one is 40 > T: ignored
  in.end_positions = testing::bert_goldens().at("end_positions");
  EXPECT_EQ(expect_outputs_match(m->forward(in), "qa"), 3);
}

TEST(BertHeadsGolden, MaskedLMFromPretrainingCheckpointReportsPoolerAndNsp) {
  models::LoadReport report;
  auto m = load("pretraining", BertHead::MaskedLM, models::WeightsFormat::Auto, &report);
  EXPECT_TRUE(report.missing_keys.empty());
  // As transformers >= 4.31: BertForMaskedLM has no pooler and no NSP head.
  EXPECT_EQ(report.unexpected_keys,
            (std::vector<std::string>{"bert.pooler.dense.bias", "bert.pooler.dense.weight",
                                      "cls.seq_relationship.bias", "cls.seq_relationship.weight"}));
  const models::BertOutput out = m->forward(golden_inputs(false));
  EXPECT_TRUE(testing::all_close(out.logits, testing::bert_goldens().at_f32("pretraining.prediction_logits"),
                                 kOutRtol, kOutAtol));
}

}  // namespace

}  // namespace heed
