// PeftModel behaviour: merging, PEFT-format round trips, several adapters, frozen base,
// AdaLoRA's rank schedule inside the Trainer, and errors for bad adapter files.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "heed/autograd/engine.h"
#include "heed/base/fs.h"
#include "heed/io/safetensors.h"
#include "heed/models/bert_heads.h"
#include "heed/models/bert_pretrained.h"
#include "heed/ops/cross_entropy.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/reduce.h"
#include "heed/ops/view.h"
#include "heed/peft/peft_model.h"
#include "heed/train/trainer.h"
#include "tests/peft/peft_test_util.h"
#include "tests/test_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using testing::all_close;
using testing::golden_path;
using json = nlohmann::json;


models::BertInputs inputs() { return testing::bert_inputs(); }
std::shared_ptr<models::BertPreTrainedModel> base_model() { return testing::seqcls_base_model(); }

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("heed_peft_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<std::pair<std::string, std::vector<float>>> base_weights(peft::PeftModel& pm) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (auto& [n, t] : pm.base().named_parameters()) out.emplace_back(n, t.to_vector());
  return out;
}

TEST(PeftModel, MergeEqualsUnmergedAndUnmergeRestoresBitForBit) {
  for (const char* dir : {"lora", "ia3", "adalora"}) {
    peft::PeftModel pm(base_model());
    pm.load_adapter(golden_path(std::string("peft/") + dir));
    pm.eval();
    const auto before = base_weights(pm);
    const Tensor unmerged = pm.forward(inputs()).logits;
    pm.merge();
    EXPECT_TRUE(pm.merged());
    const Tensor merged = pm.forward(inputs()).logits;
    EXPECT_TRUE(all_close(merged, unmerged, 1e-5, 1e-5)) << dir;
    EXPECT_NE(base_weights(pm), before) << dir << ": merging changed no weight";
    pm.unmerge();
    EXPECT_EQ(base_weights(pm), before) << dir << ": unmerge is not bit-exact";
    EXPECT_TRUE(all_close(pm.forward(inputs()).logits, unmerged, 0, 0)) << dir;
  }
}

TEST(PeftModel, PrefixAndBottleneckRefuseToMerge) {
  for (const char* dir : {"prefix", "bottleneck"}) {
    peft::PeftModel pm(base_model());
    pm.load_adapter(golden_path(std::string("peft/") + dir));
    EXPECT_THROW(pm.merge(), Error) << dir;
  }
}

// heed writes exactly PEFT's keys and config fields: save what was loaded, compare
// with the PEFT-layout fixture, reload, same outputs.
TEST(PeftModel, SavedAdaptersHavePeftKeysAndFields) {
  for (const char* dir : {"lora", "ia3", "adalora", "prefix", "prefix_proj", "bottleneck"}) {
    const std::string src = golden_path(std::string("peft/") + dir);
    peft::PeftModel pm(base_model());
    pm.load_adapter(src);
    pm.eval();
    const std::string out = temp_dir(dir);
    pm.save_adapter(out, "", "tests/golden/bert/seqcls");
    const io::SafetensorsFile want = io::load_safetensors(src + "/adapter_model.safetensors");
    const io::SafetensorsFile got = io::load_safetensors(out + "/adapter_model.safetensors");
    EXPECT_EQ(std::set<std::string>(got.names.begin(), got.names.end()),
              std::set<std::string>(want.names.begin(), want.names.end()))
        << dir;
    for (const auto& k : want.names)
      if (got.contains(k)) {
        EXPECT_TRUE(all_close(got.at(k), want.at(k), 0, 0)) << dir << " " << k;
      }
    EXPECT_EQ(got.metadata.at("format"), "pt");
    const json jw = json::parse(read_file(src + "/adapter_config.json"));
    const json jg = json::parse(read_file(out + "/adapter_config.json"));
    std::set<std::string> kw, kg;
    for (auto& [k, v] : jw.items()) kw.insert(k);
    for (auto& [k, v] : jg.items()) kg.insert(k);
    EXPECT_EQ(kg, kw) << dir;
    for (const char* f : {"peft_type", "task_type", "r", "lora_alpha", "target_modules", "rank_pattern",
                          "init_r", "target_r", "num_virtual_tokens", "feedforward_modules",
                          "modules_to_save", "inference_mode", "base_model_name_or_path"})
      if (jw.contains(f)) {
        EXPECT_EQ(jg[f], jw[f]) << dir << " field " << f;
      }
    // Reloaded: the same outputs.
    peft::PeftModel again(base_model());
    again.load_adapter(out);
    again.eval();
    EXPECT_TRUE(all_close(again.forward(inputs()).logits, pm.forward(inputs()).logits, 0, 0)) << dir;
    fs::remove_all(out);
  }
}

TEST(PeftModel, SeveralAdaptersSwitchPerRequest) {
  peft::PeftModel pm(base_model());
  pm.load_adapter(golden_path("peft/lora"), "lora");
  pm.load_adapter(golden_path("peft/ia3"), "ia3");
  pm.load_adapter(golden_path("peft/prefix"), "prefix");
  pm.eval();
  const auto& g = io::load_safetensors(golden_path("peft/goldens.safetensors"));
  for (const char* name : {"lora", "prefix", "ia3", "lora", "ia3", "prefix"}) {
    pm.set_adapter(name);
    EXPECT_TRUE(all_close(pm.forward(inputs()).logits, g.at(std::string(name) + ".logits"), 1e-5, 1e-6))
        << name;
  }
  EXPECT_THROW(pm.set_adapter("nope"), Error);
}

TEST(PeftModel, FreshLoraTrainsOnlyAdapterAndHeadAndStartsAtTheBase) {
  auto base = base_model();
  base->eval();
  const Tensor base_logits = base->forward(inputs()).logits;
  peft::PeftModel pm(base);
  pm.add_adapter("default",
                 peft::PeftConfig::make(peft::PeftType::Lora,
                                        {{"r", 8}, {"lora_alpha", 16}, {"task_type", "SEQ_CLS"}}),
                 7);
  pm.eval();
  // B starts at zero: the function is the base model's.
  EXPECT_TRUE(all_close(pm.forward(inputs()).logits, base_logits, 0, 0));
  std::set<std::string> trainable;
  for (auto& [n, t] : pm.named_parameters())
    if (t.requires_grad()) trainable.insert(n);
  EXPECT_EQ(trainable.size(), 2u * 2u * 2u + 2u);
  EXPECT_TRUE(trainable.count("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight"));
  EXPECT_TRUE(trainable.count("base_model.model.classifier.weight"));
  // Gradients only for the trainable tensors; frozen weights get no buffers.
  pm.set_generator(std::make_shared<Generator>(5));
  pm.train();
  autograd::backward(ops::cross_entropy(pm.forward(inputs()).logits,
                                        io::load_safetensors(golden_path("peft/goldens.safetensors")).at("seqcls_labels")));
  for (auto& [n, t] : pm.named_parameters()) EXPECT_EQ(t.grad().defined(), trainable.count(n) != 0) << n;
  // Saved keys are PEFT's.
  const auto sd = pm.adapter_state_dict();
  std::set<std::string> keys;
  for (auto& [k, t] : sd) keys.insert(k);
  EXPECT_TRUE(keys.count("base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight"));
  EXPECT_TRUE(keys.count("base_model.model.classifier.bias"));
  EXPECT_EQ(keys.size(), 10u);
}

// The budget: LoRA r=8 on query/value of BERT-mini (4 layers, hidden 256) and of
// BERT-base (12 layers, hidden 768) trains well under 2% of the parameters.
TEST(PeftModel, LoraTrainsUnderTwoPercentOfBert) {
  // BERT-base is counted, not built (109,483,778 parameters with a 2-label head).
  EXPECT_LT(double(12 * 2 * (8 * 768 * 2) + 2 * 768 + 2) / 109483778.0, 0.02);
  for (auto [layers, hidden] : {std::pair<int64_t, int64_t>{4, 256}}) {
    models::BertConfig c;
    c.num_hidden_layers = layers;
    c.hidden_size = hidden;
    c.num_attention_heads = hidden / 64;
    c.intermediate_size = 4 * hidden;
    c.vocab_size = 30522;
    c.num_labels = 2;
    Generator gen(1);
    std::shared_ptr<models::BertPreTrainedModel> m(
        models::make_bert(c, models::BertHead::SequenceClassification, gen));
    const int64_t total = m->num_parameters();
    peft::PeftModel pm(m);
    pm.add_adapter("default",
                   peft::PeftConfig::make(peft::PeftType::Lora, {{"r", 8}, {"task_type", "SEQ_CLS"}}), 1);
    const int64_t want = layers * 2 * (8 * hidden * 2) + 2 * hidden + 2;
    EXPECT_EQ(pm.num_trainable_parameters(), want);
    EXPECT_LT(double(want) / double(total), 0.02) << layers << " layers";
  }
}

// modules_to_save names a module and covers everything under it, as PEFT's
// ModulesToSaveWrapper does: "pooler" trains and saves bert.pooler.dense.*.
TEST(PeftModel, ModulesToSaveCoverWholeSubtrees) {
  peft::PeftModel pm(base_model());
  pm.add_adapter("default",
                 peft::PeftConfig::make(peft::PeftType::Lora,
                                        {{"task_type", "SEQ_CLS"}, {"modules_to_save", {"classifier", "pooler"}}}),
                 1);
  std::set<std::string> keys;
  for (auto& [k, t] : pm.adapter_state_dict()) keys.insert(k);
  EXPECT_TRUE(keys.count("base_model.model.bert.pooler.dense.weight"));
  EXPECT_TRUE(keys.count("base_model.model.bert.pooler.dense.bias"));
  EXPECT_TRUE(keys.count("base_model.model.classifier.weight"));
  int64_t trainable_pooler = 0;
  for (auto& [n, t] : pm.named_parameters())
    if (n.find(".pooler.") != std::string::npos && t.requires_grad()) trainable_pooler += t.numel();
  EXPECT_EQ(trainable_pooler, 32 * 32 + 32);
}

TEST(PeftModel, TargetsByPatternAndBadTargetsAreErrors) {
  peft::PeftModel pm(base_model());
  pm.add_adapter("a", peft::PeftConfig::make(peft::PeftType::Lora, {{"target_modules", {"attention.*"}}}), 1);
  int adapted = 0;
  for (auto& [n, t] : pm.named_parameters())
    if (n.find("lora_A.a.weight") != std::string::npos) ++adapted;
  EXPECT_EQ(adapted, 2 * 4);  // query, key, value, attention.output.dense per layer
  try {
    pm.add_adapter("b", peft::PeftConfig::make(peft::PeftType::Lora, {{"target_modules", {"q_proj"}}}), 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matched no Linear layer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(peft::PeftConfig::make(peft::PeftType::Lora, {{"lora_dropout", 1.5}}), Error);
  EXPECT_THROW(peft::PeftConfig::make(peft::PeftType::Lora, {{"bias", "some"}}), Error);
  EXPECT_THROW(peft::PeftConfig::make(peft::PeftType::AdaLora, {{"init_r", 4}, {"target_r", 8}}), Error);
  EXPECT_THROW(peft::parse_peft_type("loha"), Error);
}

TEST(PeftModel, BadAdapterFilesNameTheFileAndKey) {
  const std::string dir = temp_dir("bad");
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
    fs::copy_file(golden_path(std::string("peft/lora/") + f), dir + "/" + f);
  auto expect_error = [&](const std::string& needle) {
    peft::PeftModel pm(base_model());
    try {
      pm.load_adapter(dir);
      ADD_FAILURE() << "no error, expected " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // A key missing.
  {
    auto f = io::load_safetensors(golden_path("peft/lora/adapter_model.safetensors"));
    std::vector<std::pair<std::string, Tensor>> t;
    for (auto& n : f.names)
      if (n.find("layer.1.attention.self.value.lora_B") == std::string::npos) t.emplace_back(n, f.at(n));
    io::save_safetensors(dir + "/adapter_model.safetensors", t, {{"format", "pt"}});
    expect_error("layer.1.attention.self.value.lora_B.weight\" is missing");
  }
  // A classifier for another number of labels.
  {
    auto f = io::load_safetensors(golden_path("peft/lora/adapter_model.safetensors"));
    std::vector<std::pair<std::string, Tensor>> t;
    for (auto& n : f.names)
      t.emplace_back(n, n == "base_model.model.classifier.weight" ? Tensor::zeros(Shape{5, 32}) : f.at(n));
    io::save_safetensors(dir + "/adapter_model.safetensors", t, {{"format", "pt"}});
    expect_error("another number of labels");
  }
  // An unknown key.
  {
    auto f = io::load_safetensors(golden_path("peft/lora/adapter_model.safetensors"));
    std::vector<std::pair<std::string, Tensor>> t;
    for (auto& n : f.names) t.emplace_back(n, f.at(n));
    t.emplace_back("base_model.model.bert.pooler.dense.lora_A.weight", Tensor::zeros(Shape{8, 32}));
    io::save_safetensors(dir + "/adapter_model.safetensors", t, {{"format", "pt"}});
    expect_error("unexpected keys");
  }
  // A config of an unsupported type, and a broken one.
  write_file_atomic(dir + "/adapter_config.json", R"({"peft_type": "LOHA", "r": 8})");
  expect_error("LOHA");
  write_file_atomic(dir + "/adapter_config.json", R"({"peft_type": "LORA", "r": "eight"})");
  expect_error("field \"r\" must be an integer");
  write_file_atomic(dir + "/adapter_config.json", "{not json");
  expect_error("not valid JSON");
  fs::remove_all(dir);
}

// A data source of the golden batch, repeated.
class RepeatSource : public train::DataSource {
 public:
  train::Batch next_batch() override {
    train::Batch b;
    const auto in = inputs();
    b.tensors["input_ids"] = in.input_ids;
    b.tensors["attention_mask"] = in.attention_mask;
    b.tensors["token_type_ids"] = in.token_type_ids;
    b.num_tokens = 33;
    return b;
  }
  nlohmann::json state() const override { return json::object(); }
  void restore(const nlohmann::json&) override {}
};

TEST(PeftModel, AdaLoraRankBudgetFallsInsideTheTrainer) {
  peft::PeftModel pm(base_model());
  pm.add_adapter("default",
                 peft::PeftConfig::make(peft::PeftType::AdaLora,
                                        {{"init_r", 6}, {"target_r", 2}, {"tinit", 5}, {"tfinal", 5},
                                         {"deltaT", 2}, {"lora_alpha", 8}, {"task_type", "SEQ_CLS"}}),
                 3);
  const Tensor labels = io::load_safetensors(golden_path("peft/goldens.safetensors")).at("seqcls_labels");
  RepeatSource data;
  std::vector<int64_t> budget;
  train::Trainer trainer(
      pm,
      [&](const train::Batch& b) {
        models::BertInputs in;
        in.input_ids = b.at("input_ids");
        in.attention_mask = b.at("attention_mask");
        in.token_type_ids = b.at("token_type_ids");
        Tensor loss = ops::cross_entropy(pm.forward(in).logits, labels);
        if (const Tensor r = pm.regularization_loss(); r.defined()) loss = ops::add(loss, r);
        int64_t kept = 0;
        for (auto& [m, r] : pm.adalora_ranks()) kept += r;
        budget.push_back(kept);
        return train::StepOutput{.loss = loss};
      },
      data, {.max_steps = 30, .lr = 1e-2f, .progress = false, .handle_signals = false});
  ASSERT_NE(pm.step_hook(), nullptr);
  trainer.set_step_hook(pm.step_hook());
  trainer.train();
  int64_t kept = 0;
  for (auto& [m, r] : pm.adalora_ranks()) kept += r;
  budget.push_back(kept);
  ASSERT_EQ(budget.size(), 31u);
  EXPECT_EQ(budget.front(), 6 * 4);  // init_r x 4 modules
  EXPECT_EQ(budget.back(), 2 * 4);   // target_r x 4 modules
  for (size_t i = 1; i < budget.size(); ++i) EXPECT_LE(budget[i], budget[i - 1]) << "step " << i;
  // Strictly between at some point: the decay is gradual, not a jump.
  EXPECT_TRUE(std::any_of(budget.begin(), budget.end(), [](int64_t b) { return b < 24 && b > 8; }));
  // Saved with PEFT's rank_pattern and the tensors cut to the kept ranks.
  const std::string out = temp_dir("adalora_trained");
  pm.save_adapter(out);
  const json cfg = json::parse(read_file(out + "/adapter_config.json"));
  ASSERT_TRUE(cfg["rank_pattern"].is_object());
  EXPECT_EQ(cfg["rank_pattern"].size(), 4u);
  const auto f = io::load_safetensors(out + "/adapter_model.safetensors");
  int64_t saved_ranks = 0;
  for (auto& n : f.names)
    if (n.ends_with(".lora_E")) saved_ranks += f.at(n).size(0);
  EXPECT_EQ(saved_ranks, 2 * 4);
  // Reloaded, it gives the trained model's outputs.
  pm.eval();
  peft::PeftModel again(base_model());
  again.load_adapter(out);
  again.eval();
  EXPECT_TRUE(all_close(again.forward(inputs()).logits, pm.forward(inputs()).logits, 1e-5, 1e-6));
  fs::remove_all(out);
}

}  // namespace
}  // namespace heed

namespace heed {
namespace {

// Prefix tuning with every BERT head (HF/PEFT issue 26578: prefixes broke some encoder
// heads): the forward runs with padding, padding changes nothing for the real tokens
// (the mask is extended over the prefix correctly), and gradients reach the prompts.
TEST(PeftModel, PrefixTuningWorksWithEveryHeadAndPadding) {
  const models::BertConfig cfg = models::BertConfig::from_file(golden_path("bert/seqcls/config.json"));
  for (models::BertHead head : {models::BertHead::Base, models::BertHead::MaskedLM, models::BertHead::PreTraining,
                                models::BertHead::SequenceClassification,
                                models::BertHead::TokenClassification, models::BertHead::QuestionAnswering}) {
    Generator gen(2);
    std::shared_ptr<models::BertPreTrainedModel> m(models::make_bert(cfg, head, gen));
    peft::PeftModel pm(m);
    pm.add_adapter("default", peft::PeftConfig::make(peft::PeftType::PrefixTuning, {{"num_virtual_tokens", 3}}), 4);
    pm.eval();
    // Row 0: 5 real tokens padded to 8; the same 5 tokens alone.
    const std::vector<int64_t> ids{2, 11, 12, 13, 14, 0, 0, 0};
    const std::vector<int64_t> mask{1, 1, 1, 1, 1, 0, 0, 0};
    models::BertInputs padded{.input_ids = Tensor::from_vector(ids, Shape{1, 8}),
                              .attention_mask = Tensor::from_vector(mask, Shape{1, 8})};
    models::BertInputs alone{.input_ids = Tensor::from_vector(std::vector<int64_t>(ids.begin(), ids.begin() + 5), Shape{1, 5})};
    const models::BertOutput a = pm.forward(padded), b = pm.forward(alone);
    const std::string name(models::bert_class_name(head));
    Tensor first, second;
    if (a.logits.defined() && head == models::BertHead::SequenceClassification) {
      first = a.logits, second = b.logits;
    } else if (a.start_logits.defined()) {
      first = ops::slice(a.start_logits, 1, 0, 5), second = b.start_logits;
    } else if (a.prediction_logits.defined()) {
      first = ops::slice(a.prediction_logits, 1, 0, 5), second = b.prediction_logits;
    } else if (a.logits.defined()) {
      first = ops::slice(a.logits, 1, 0, 5), second = b.logits;
    } else {
      first = ops::slice(a.last_hidden_state, 1, 0, 5), second = b.last_hidden_state;
    }
    EXPECT_TRUE(all_close(first.contiguous(), second.contiguous(), 1e-5, 1e-5)) << name;
    // The prefix matters, and gradients reach it.
    pm.train();
    pm.set_generator(std::make_shared<Generator>(1));
    pm.zero_grad();
    const models::BertOutput o = pm.forward(padded);
    const Tensor out = o.logits.defined()            ? o.logits
                       : o.start_logits.defined()      ? o.start_logits
                       : o.prediction_logits.defined() ? o.prediction_logits
                                                       : o.last_hidden_state;
    autograd::backward(ops::sum(ops::mul(out, out)));
    bool prompt_grad = false;
    for (auto& [n, t] : pm.named_parameters())
      if (n.starts_with("prompt_encoder.") && t.grad().defined()) prompt_grad = true;
    EXPECT_TRUE(prompt_grad) << name;
  }
}

}  // namespace
}  // namespace heed
