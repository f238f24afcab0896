// Parity of heed's PEFT adapters with the PyTorch reference of
// tests/golden/peft/make_peft_goldens.py (PEFT's formulas on HF's BERT): adapters in
// PEFT's on-disk layout load onto the committed BERT classifier (tests/golden/bert/seqcls)
// and give the reference logits, loss, and gradients for every trainable tensor (the
// adapter's and the classifier's), with the base frozen.
//
// Tolerances: logits and loss 1e-5 relative + 1e-6 elementwise; gradients within 1e-5
// of the tensor's largest reference gradient, max|heed - torch| <= 1e-5 max|torch| (both
// sides are f32, so single small elements, sums of cancelling terms, differ by ~1e-7
// absolute; elementwise 1e-5 relative is below f32 resolution for them).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "heed/autograd/engine.h"
#include "heed/base/fs.h"
#include "heed/io/safetensors.h"
#include "heed/models/bert_pretrained.h"
#include "heed/ops/cross_entropy.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/view.h"
#include "heed/peft/peft_model.h"
#include "tests/peft/peft_test_util.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using testing::all_close;
using testing::golden_path;

// max|a - b| <= rel * max|b|.
::testing::AssertionResult close_to_scale(const Tensor& a, const Tensor& b, double rel) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << fmt::format("shapes {} vs {}", a.shape(), b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double scale = 0, worst = 0;
  for (float v : vb) scale = std::max(scale, double(std::abs(v)));
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, double(std::abs(va[i] - vb[i])));
  if (!(worst <= rel * scale))
    return ::testing::AssertionFailure() << "max |diff| " << worst << " > " << rel << " * " << scale;
  return ::testing::AssertionSuccess();
}

const io::SafetensorsFile& goldens() {
  static const io::SafetensorsFile g = io::load_safetensors(golden_path("peft/goldens.safetensors"));
  return g;
}

models::BertInputs inputs() { return testing::bert_inputs(); }
std::shared_ptr<models::BertPreTrainedModel> base_model() { return testing::seqcls_base_model(); }

Tensor loss_of(const peft::PeftModel& pm) {
  const models::BertOutput out = pm.forward(inputs());
  return ops::cross_entropy(out.logits, goldens().at("seqcls_labels"));
}

// The golden key of an in-memory parameter name (PEFT's saved naming).
std::string golden_key(const std::string& n, bool prompt_learning, bool saved_prompts) {
  std::string k = n;
  if (k.starts_with("prompt_encoder."))
    return saved_prompts ? "prompt_embeddings" : k;
  for (size_t p; (p = k.find(".default")) != std::string::npos;) k.erase(p, 8);
  if (prompt_learning && k.starts_with("base_model.model.")) k.erase(10, 6);  // base_model.classifier...
  return k;
}

// Logits, loss and every trainable gradient against the goldens "<X>.*"; returns the
// number of gradients compared.
int expect_matches(peft::PeftModel& pm, const std::string& x, bool prompt_learning,
                   bool saved_prompts) {
  const auto& g = goldens();
  pm.eval();
  const Tensor logits = pm.forward(inputs()).logits;
  EXPECT_TRUE(all_close(logits, g.at(x + ".logits"), 1e-5, 1e-6)) << x;
  const Tensor loss = loss_of(pm);
  EXPECT_TRUE(all_close(ops::reshape(loss, Shape{1}), g.at(x + ".loss"), 1e-5, 1e-6)) << x;
  pm.zero_grad();
  autograd::backward(loss);
  int n = 0;
  std::set<std::string> seen;
  for (auto& [name, t] : pm.named_parameters()) {
    if (!t.requires_grad()) {
      EXPECT_FALSE(t.grad().defined()) << name << " is frozen but got a gradient";
      continue;
    }
    const std::string key = x + ".grad." + golden_key(name, prompt_learning, saved_prompts);
    if (!g.contains(key)) {
      ADD_FAILURE() << "no golden " << key << " for trainable " << name;
      continue;
    }
    if (!t.grad().defined()) {
      ADD_FAILURE() << name << " got no gradient";
      continue;
    }
    EXPECT_TRUE(close_to_scale(t.grad(), g.at(key), 1e-5)) << key;
    seen.insert(key);
    ++n;
  }
  for (const auto& k : g.names)  // every golden gradient of this adapter was compared
    if (k.starts_with(x + ".grad.")) {
      EXPECT_TRUE(seen.count(k)) << "not trainable in heed: " << k;
    }
  return n;
}

std::unique_ptr<peft::PeftModel> with_adapter(const std::string& dir) {
  auto pm = std::make_unique<peft::PeftModel>(base_model());
  pm->load_adapter(golden_path("peft/" + dir));
  return pm;
}

TEST(PeftGolden, BaseModelMatches) {
  auto base = base_model();
  base->eval();
  EXPECT_TRUE(all_close(base->forward(inputs()).logits, goldens().at("base.logits"), 1e-5, 1e-6));
}

TEST(PeftGolden, LoraForwardAndGradients) {
  auto pm = with_adapter("lora");
  // Trainable: 2 layers x {query, value} x {A, B} + classifier weight and bias.
  EXPECT_EQ(expect_matches(*pm, "lora", false, false), 10);
}

TEST(PeftGolden, IA3ForwardAndGradients) {
  auto pm = with_adapter("ia3");
  EXPECT_EQ(expect_matches(*pm, "ia3", false, false), 2 * 4 + 2);
}

TEST(PeftGolden, AdaLoraForwardGradientsAndOrthogonality) {
  auto pm = with_adapter("adalora");
  EXPECT_EQ(expect_matches(*pm, "adalora", false, false), 2 * 2 * 3 + 2);
  // Kept ranks from the saved rank pattern, the divisor still init_r.
  const auto ranks = pm->adalora_ranks();
  EXPECT_EQ(ranks.at("bert.encoder.layer.0.attention.self.query"), 4);
  EXPECT_EQ(ranks.at("bert.encoder.layer.0.attention.self.value"), 3);
  EXPECT_EQ(ranks.at("bert.encoder.layer.1.attention.self.query"), 5);
  const Tensor reg = pm->regularization_loss();
  ASSERT_TRUE(reg.defined());
  // The golden orth_reg is unweighted; orth_reg_weight is 0.5 in the config.
  EXPECT_TRUE(all_close(ops::reshape(ops::scale(reg, 2.0f), Shape{1}), goldens().at("adalora.orth_reg"),
                        1e-5, 1e-6));
  pm->zero_grad();
  const Tensor total = ops::add(loss_of(*pm), reg);
  EXPECT_TRUE(all_close(ops::reshape(total, Shape{1}), goldens().at("adalora.loss_with_orth_reg"), 1e-5, 1e-6));
  autograd::backward(total);
  for (auto& [name, t] : pm->named_parameters()) {
    if (!t.requires_grad()) continue;
    EXPECT_TRUE(close_to_scale(t.grad(), goldens().at("adalora.grad_with_orth_reg." + golden_key(name, false, false)),
                               1e-5))
        << name;
  }
}

TEST(PeftGolden, PrefixForwardAndGradients) {
  auto pm = with_adapter("prefix");
  EXPECT_EQ(expect_matches(*pm, "prefix", true, true), 3);
}

TEST(PeftGolden, PrefixWithProjectionTrainsThroughTheMlp) {
  // As trained (inference_mode false): the MLP's tensors from trainable.safetensors.
  auto pm = std::make_unique<peft::PeftModel>(base_model());
  nlohmann::json cfg = nlohmann::json::parse(read_file(golden_path("peft/prefix_proj/adapter_config.json")));
  cfg["inference_mode"] = false;
  pm->add_adapter("default", peft::PeftConfig::make(peft::PeftType::PrefixTuning, cfg), 1);
  const io::SafetensorsFile tr = io::load_safetensors(golden_path("peft/prefix_proj/trainable.safetensors"));
  const io::SafetensorsFile ad = io::load_safetensors(golden_path("peft/prefix_proj/adapter_model.safetensors"));
  int loaded = 0;
  for (auto& [name, t] : pm->named_parameters()) {
    if (tr.contains(name)) {
      t.copy_(tr.at(name));
      ++loaded;
    }
    if (name == "base_model.model.classifier.weight" || name == "base_model.model.classifier.bias") {
      t.copy_(ad.at("base_model" + name.substr(16)));
      ++loaded;
    }
  }
  EXPECT_EQ(loaded, 7);
  EXPECT_EQ(expect_matches(*pm, "prefix_proj", true, false), 7);
  // Saved as PEFT saves it: the MLP's output as prompt_embeddings.
  const auto sd = pm->adapter_state_dict();
  ASSERT_EQ(sd[0].first, "prompt_embeddings");
  EXPECT_TRUE(close_to_scale(sd[0].second, ad.at("prompt_embeddings"), 1e-6));
  // And PEFT's saved file (inference mode: plain prompts) gives the same logits.
  auto loaded_pm = with_adapter("prefix_proj");
  loaded_pm->eval();
  EXPECT_TRUE(all_close(loaded_pm->forward(inputs()).logits, goldens().at("prefix_proj.saved_logits"), 1e-5, 1e-6));
}

TEST(PeftGolden, BottleneckHoulsbyAndPfeiffer) {
  auto h = with_adapter("bottleneck");
  EXPECT_EQ(expect_matches(*h, "bottleneck", false, false), 2 * 2 * 4 + 2);
  auto p = with_adapter("bottleneck_pfeiffer");
  EXPECT_EQ(expect_matches(*p, "bottleneck_pfeiffer", false, false), 2 * 4 + 2);
}

}  // namespace
}  // namespace heed
