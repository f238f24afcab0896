// BertModel and heads beyond the goldens: names, parameter counts, HF's input defaults,
// padding edge cases, the losses for every problem_type; and the library functions
// behind `heed forward`, `heed inspect` and `heed embed`.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "bert_test_util.h"
#include "heed/autograd/engine.h"
#include "heed/io/npy.h"
#include "heed/models/bert_runner.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {

namespace fs = std::filesystem;
using models::BertHead;

models::BertConfig tiny_config() {
  models::BertConfig c;
  c.vocab_size = 23;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 16;
  c.num_labels = 3;
  c.hidden_dropout_prob = 0.0;
  c.attention_probs_dropout_prob = 0.0;
  return c;
}

Tensor ids_tensor(const std::vector<int64_t>& v, int64_t B, int64_t T) {
  return Tensor::from_vector(v, Shape{B, T});
}

TEST(BertModel, ParameterNamesAreHuggingFaceKeys) {
  Generator gen(0);
  models::BertForPreTraining m(tiny_config(), gen);
  std::vector<std::string> names;
  for (const auto& [n, p] : m.named_parameters()) names.push_back(n);
  const std::vector<std::string> head = {
      "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
      "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
      "bert.embeddings.LayerNorm.bias", "bert.encoder.layer.0.attention.self.query.weight"};
  ASSERT_GT(names.size(), head.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 6), head);
  const std::vector<std::string> tail = {
      "bert.pooler.dense.weight", "bert.pooler.dense.bias",
      "cls.predictions.bias", "cls.predictions.transform.dense.weight",
      "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
      "cls.predictions.transform.LayerNorm.bias", "cls.seq_relationship.weight",
      "cls.seq_relationship.bias"};
  std::vector<std::string> last(names.end() - 9, names.end());
  std::sort(last.begin(), last.end());
  std::vector<std::string> want = tail;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(last, want);
}

TEST(BertModel, ParameterCountFormulaMatchesEveryHead) {
  const auto cfg = tiny_config();
  for (BertHead h : {BertHead::Base, BertHead::PreTraining, BertHead::MaskedLM,
                     BertHead::SequenceClassification, BertHead::TokenClassification,
                     BertHead::QuestionAnswering}) {
    Generator gen(1);
    auto m = models::make_bert(cfg, h, gen);
    EXPECT_EQ(m->num_parameters(), models::bert_num_parameters(cfg, h)) << m->class_name();
    EXPECT_EQ(models::parse_bert_head(models::bert_head_cli_name(h)), h);
    EXPECT_EQ(models::bert_head_from_class_name(m->class_name()), h);
  }
  EXPECT_THROW(models::parse_bert_head("bogus"), Error);
}

TEST(BertModel, HFInitialisation) {
  Generator gen(3);
  auto cfg = tiny_config();
  cfg.vocab_size = 400;
  cfg.hidden_size = 64;
  cfg.intermediate_size = 64;
  cfg.num_attention_heads = 4;
  models::BertModel m(cfg, gen);
  for (const auto& [name, t] : m.named_parameters()) {
    const auto v = t.to_vector();
    if (name.find("LayerNorm.weight") != std::string::npos) {
      for (float x : v) ASSERT_EQ(x, 1.0f) << name;
    } else if (name.find("bias") != std::string::npos) {
      for (float x : v) ASSERT_EQ(x, 0.0f) << name;
    } else {
      double ss = 0;
      for (float x : v) ss += double(x) * x;
      EXPECT_NEAR(std::sqrt(ss / double(v.size())), 0.02, 0.004) << name;
    }
  }
  // The padding row of the word embeddings is zero.
  const auto w = m.embeddings().word_embeddings().to_vector();
  for (int64_t c = 0; c < 64; ++c) EXPECT_EQ(w[size_t(c)], 0.0f);
}

TEST(BertModel, DefaultsAreHFs) {
  Generator gen(4);
  models::BertModel m(tiny_config(), gen);
  m.eval();
  const Tensor ids = ids_tensor({2, 5, 7, 9, 11, 3, 4, 8, 1, 6}, 2, 5);
  const auto implicit = m.forward({.input_ids = ids});
  const auto explicit_ = m.forward({.input_ids = ids,
                                    .attention_mask = Tensor::ones(Shape{2, 5}).to(DType::I64),
                                    .token_type_ids = Tensor::zeros(Shape{2, 5}, DType::I64),
                                    .position_ids = ops::reshape(Tensor::arange(5), Shape{1, 5})});
  EXPECT_TRUE(testing::all_close(implicit.last_hidden_state, explicit_.last_hidden_state, 0, 0));
  EXPECT_TRUE(testing::all_close(implicit.pooler_output, explicit_.pooler_output, 0, 0));
  EXPECT_FALSE(implicit.hidden_states.size());
  EXPECT_FALSE(implicit.attentions.size());
}

TEST(BertModel, PaddedKeysGetZeroProbabilityAndAllPaddingRowsAttendUniformly) {
  Generator gen(5);
  models::BertModel m(tiny_config(), gen);
  m.eval();
  const Tensor ids = ids_tensor({2, 5, 7, 9, 2, 3, 4, 8}, 2, 4);
  // Row 0 has 3 real tokens; row 1 is entirely padding (HF then attends uniformly).
  const Tensor mask = ids_tensor({1, 1, 1, 0, 0, 0, 0, 0}, 2, 4);
  const auto out = m.forward({.input_ids = ids, .attention_mask = mask, .output_attentions = true});
  const auto p = out.attentions[0].to_vector();  // (2, 2, 4, 4)
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t t = 0; t < 4; ++t) {
      EXPECT_EQ(p[size_t(((0 * 2 + h) * 4 + t) * 4 + 3)], 0.0f);
      for (int64_t s = 0; s < 4; ++s) EXPECT_NEAR(p[size_t(((1 * 2 + h) * 4 + t) * 4 + s)], 0.25f, 1e-6);
    }
  // Row 0 is what it is alone, with the plain key-padding path.
  const auto alone = m.forward({.input_ids = ids_tensor({2, 5, 7, 9}, 1, 4),
                                .attention_mask = ids_tensor({1, 1, 1, 0}, 1, 4)});
  EXPECT_TRUE(testing::all_close(ops::slice(out.last_hidden_state, 0, 0, 1), alone.last_hidden_state,
                                 1e-5, 1e-6));
}

TEST(BertModel, InputErrorsNameTheProblem) {
  Generator gen(6);
  models::BertModel m(tiny_config(), gen);
  EXPECT_THROW(m.forward({.input_ids = ids_tensor({1, 2, 99}, 1, 3)}), Error);  // id >= vocab
  EXPECT_THROW(m.forward({.input_ids = Tensor::zeros(Shape{1, 17}, DType::I64)}), Error);  // > max pos
  EXPECT_THROW(m.forward({.input_ids = ids_tensor({1, 2, 3}, 1, 3),
                          .token_type_ids = ids_tensor({0, 2, 0}, 1, 3)}),
               Error);
  EXPECT_THROW(m.forward({.input_ids = ids_tensor({1, 2, 3}, 1, 3),
                          .attention_mask = ids_tensor({1, 1}, 1, 2)}),
               Error);
}

TEST(BertHeads, SequenceClassificationLossForEveryProblemType) {
  auto cfg = tiny_config();
  const Tensor ids = ids_tensor({2, 5, 7, 9, 11, 3, 4, 8}, 2, 4);
  {  // regression (num_labels 1): MSE
    cfg.num_labels = 1;
    Generator gen(7);
    models::BertForSequenceClassification m(cfg, gen);
    m.eval();
    const Tensor y = Tensor::from_vector(std::vector<float>{0.5f, -1.0f}, Shape{2});
    const auto o = m.forward({.input_ids = ids, .labels = y});
    const auto l = o.logits.to_vector();
    const double want = ((l[0] - 0.5) * (l[0] - 0.5) + (l[1] + 1.0) * (l[1] + 1.0)) / 2;
    EXPECT_NEAR(o.loss.item(), want, 1e-6);
  }
  {  // multi-label (float labels): BCE with logits
    cfg.num_labels = 3;
    Generator gen(8);
    models::BertForSequenceClassification m(cfg, gen);
    m.eval();
    const std::vector<float> yv = {1, 0, 1, 0, 0, 1};
    const auto o = m.forward({.input_ids = ids, .labels = Tensor::from_vector(yv, Shape{2, 3})});
    const auto l = o.logits.to_vector();
    double want = 0;
    for (size_t i = 0; i < 6; ++i) {
      const double s = 1.0 / (1.0 + std::exp(-double(l[i])));
      want -= yv[i] * std::log(s) + (1 - yv[i]) * std::log(1 - s);
    }
    EXPECT_NEAR(o.loss.item(), want / 6, 1e-6);
    autograd::backward(o.loss);  // differentiable
    // single-label (integer labels): CE
    const auto c = m.forward({.input_ids = ids, .labels = ids_tensor({2, 0}, 2, 1)});
    const auto lc = c.logits.to_vector();
    auto lse = [&](size_t r) {
      double mx = std::max({lc[3 * r], lc[3 * r + 1], lc[3 * r + 2]}), s = 0;
      for (size_t k = 0; k < 3; ++k) s += std::exp(lc[3 * r + k] - mx);
      return mx + std::log(s);
    };
    EXPECT_NEAR(c.loss.item(), ((lse(0) - lc[2]) + (lse(1) - lc[3])) / 2, 1e-5);
  }
}

TEST(BertHeads, TrainingModeNeedsAndUsesTheGenerator) {
  auto cfg = tiny_config();
  cfg.hidden_dropout_prob = 0.5;
  Generator gen(9);
  models::BertForMaskedLM m(cfg, gen);
  m.train();
  const Tensor ids = ids_tensor({2, 5, 7, 9}, 1, 4);
  EXPECT_THROW(m.forward({.input_ids = ids}), Error);  // no generator: HF would use torch's
  m.set_generator(std::make_shared<Generator>(1));
  const auto a = m.forward({.input_ids = ids}).logits;
  const auto b = m.forward({.input_ids = ids}).logits;
  EXPECT_FALSE(testing::all_close(a, b, 0, 0));  // dropout is on
}

// ---- library side of the CLI ---------------------------------------------------------

TEST(BertForwardNpy, WritesEveryOutputUnderHFNamesMatchingTorch) {
  struct Case {
    BertHead head;
    const char* dir;
    const char* golden_prefix;
    std::vector<std::string> names;
  };
  const std::vector<std::string> hs = {"hidden_states_00", "hidden_states_01", "hidden_states_02",
                                       "attentions_00", "attentions_01"};
  auto with_hs = [&](std::vector<std::string> v) {
    v.insert(v.end(), hs.begin(), hs.end());
    return v;
  };
  const std::vector<Case> cases = {
      {BertHead::Base, "pretraining", "pretraining", with_hs({"last_hidden_state", "pooler_output"})},
      {BertHead::PreTraining, "pretraining", "pretraining",
       with_hs({"prediction_logits", "seq_relationship_logits"})},
      {BertHead::SequenceClassification, "seqcls", "seqcls", with_hs({"logits"})},
      {BertHead::TokenClassification, "tokcls", "tokcls", with_hs({"logits"})},
      {BertHead::QuestionAnswering, "qa", "qa", with_hs({"start_logits", "end_logits"})},
  };
  const auto& g = testing::bert_goldens();
  for (const auto& c : cases) {
    testing::TempDir out;
    const auto written = models::bert_forward_npy({.model_dir = testing::bert_dir(c.dir),
                                                   .inputs_dir = testing::bert_dir("inputs"),
                                                   .out_dir = out.str(),
                                                   .head = c.head,
                                                   .quiet = true});
    EXPECT_EQ(written, c.names) << c.dir;
    for (const auto& name : written) {
      const Tensor t = io::load_npy(out / (name + ".npy"));
      const std::string key = std::string(c.golden_prefix) + "." + name;
      if (g.contains(key)) {
        EXPECT_TRUE(testing::all_close(t, g.at_f32(key), 1e-5, 1e-5)) << key;
      } else {
        EXPECT_EQ(t.shape()[0], 3) << key;  // the heads' hidden states: not in the goldens
      }
    }
  }
}

TEST(BertForwardNpy, BadInputsNameTheFile) {
  testing::TempDir in, out;
  io::save_npy(in / "input_ids.npy", ids_tensor({1, 2, 500}, 1, 3));
  try {
    models::bert_forward_npy({.model_dir = testing::bert_dir("pretraining"), .inputs_dir = in.str(),
                              .out_dir = out.str(), .quiet = true});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(in / "input_ids.npy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("500"), std::string::npos) << e.what();
  }
  io::save_npy(in / "input_ids.npy", ids_tensor({1, 2, 5}, 1, 3));
  io::save_npy(in / "attention_mask.npy", ids_tensor({1, 1}, 1, 2));
  try {
    models::bert_forward_npy({.model_dir = testing::bert_dir("pretraining"), .inputs_dir = in.str(),
                              .out_dir = out.str(), .quiet = true});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(in / "attention_mask.npy"), std::string::npos) << e.what();
  }
  fs::remove(in / "input_ids.npy");
  EXPECT_THROW(models::read_bert_inputs_npy(in.str()), Error);
}

TEST(BertInspect, ReportsConfigParametersAndBytes) {
  const std::string s = models::bert_inspect(testing::bert_dir("pretraining"));
  Generator gen(0);
  const auto cfg = models::BertConfig::from_file(testing::bert_dir("pretraining/config.json"));
  const int64_t n = models::make_bert(cfg, BertHead::PreTraining, gen)->num_parameters();
  EXPECT_NE(s.find("BertForPreTraining"), std::string::npos) << s;
  EXPECT_NE(s.find(fmt::format("parameters   {} ", n)), std::string::npos) << s;
  EXPECT_NE(s.find(fmt::format("({} bytes)", n * 4)), std::string::npos) << s;
  const auto disk = fs::file_size(testing::bert_dir("pretraining/model.safetensors"));
  EXPECT_NE(s.find(fmt::format("({} bytes)", disk)), std::string::npos) << s;
  EXPECT_NE(s.find("  hidden_size "), std::string::npos) << s;
}

TEST(BertEmbed, ClsAndMaskedMeanPooling) {
  const Tensor h = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                                       Shape{2, 3, 2});
  const Tensor mask = ids_tensor({1, 1, 0, 1, 0, 0}, 2, 3);
  EXPECT_EQ(models::pool_embeddings(h, mask, models::Pooling::Cls).to_vector(),
            (std::vector<float>{1, 2, 7, 8}));
  EXPECT_EQ(models::pool_embeddings(h, mask, models::Pooling::Mean).to_vector(),
            (std::vector<float>{2, 3, 7, 8}));
  EXPECT_EQ(models::parse_pooling("mean"), models::Pooling::Mean);
  EXPECT_THROW(models::parse_pooling("max"), Error);
}

}  // namespace

}  // namespace heed
