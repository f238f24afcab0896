// The fast inference engine behind TextClassifier (--dtype f32|bf16|int8) and int8
// checkpoints from infer::quantize_checkpoint (`heed quantize`), on a tiny random
// classifier: f32 equals the autograd path, bf16/int8 stay close, a quantized directory
// is smaller and predicts as the original, adapters merge or are refused clearly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "heed/base/fs.h"
#include "heed/infer/quantize.h"
#include "heed/peft/peft_model.h"
#include "heed/tasks/text_classification.h"
#include "tests/tasks/task_test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScratchDir;

// The tiny classifier, its classifier scaled up so the logits are not all near zero.
std::string write_tiny_classifier(const ScratchDir& d, const std::string& name = "clf") {
  return testing::write_tiny_classifier(d.file(name), 50.0f);
}

std::vector<train::TableRow> rows_of(const ScratchDir& d, int64_t n) {
  d.write("rows.csv", testing::sentiment_csv(n, 5));
  return read_text_table(d.file("rows.csv"), {}, /*labelled=*/false).rows;
}

// z1 - z0 per example, from the probabilities (the logits up to a shift).
std::vector<double> log_odds(const std::vector<TextPrediction>& ps) {
  std::vector<double> out;
  for (const auto& p : ps) out.push_back(std::log(double(p.probabilities[1])) - std::log(double(p.probabilities[0])));
  return out;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(FastPath, EngineMatchesAutogradAndLowPrecisionIsClose) {
  const testing::SingleThread one_thread;
  ScratchDir d("fast_engine");
  const TextClassifier clf = TextClassifier::load(write_tiny_classifier(d));
  const auto rows = rows_of(d, 40);
  const std::vector<double> ref = log_odds(clf.predict(rows, {.batch_size = 7}));
  double spread = 0.0;
  for (double v : ref) spread = std::max(spread, std::fabs(v));
  EXPECT_GT(spread, 0.05);  // the comparison means something
  EXPECT_LT(max_diff(log_odds(clf.predict(rows, {.batch_size = 7, .dtype = "f32"})), ref), 1e-4);
  EXPECT_LT(max_diff(log_odds(clf.predict(rows, {.batch_size = 7, .dtype = "bf16"})), ref), 5e-2);
  EXPECT_LT(max_diff(log_odds(clf.predict(rows, {.batch_size = 7, .dtype = "int8"})), ref), 5e-2);
  // Back to f32 after another precision: the engine is rebuilt.
  EXPECT_LT(max_diff(log_odds(clf.predict(rows, {.dtype = "f32"})), ref), 1e-4);

  // evaluate: same loss on the f32 engine.
  d.write("dev.csv", testing::sentiment_csv(30, 6));
  train::Table t1 = read_text_table(d.file("dev.csv"), {}, true);
  train::Table t2 = read_text_table(d.file("dev.csv"), {}, true);
  const TextEvaluation a = clf.evaluate(t1, train::BadRows::Error);
  const TextEvaluation b = clf.evaluate(t2, train::BadRows::Error, {.dtype = "f32"});
  EXPECT_NEAR(a.loss, b.loss, 1e-5);
  EXPECT_EQ(a.classification.accuracy, b.classification.accuracy);

  EXPECT_NE(error_of([&] { clf.predict(rows, {.dtype = "fp8"}); }).find("fp8"), std::string::npos);
}

TEST(FastPath, QuantizedDirectoryIsSmallerAndPredictsAsTheOriginal) {
  const testing::SingleThread one_thread;
  ScratchDir d("fast_quant");
  const std::string src = write_tiny_classifier(d);
  const infer::QuantizeReport r = infer::quantize_checkpoint(src, d.file("q"));
  EXPECT_EQ(r.quantized_tensors, 2 * 6);  // 2 layers x q, k, v, attention out, intermediate, out
  EXPECT_LT(r.bytes_out, r.bytes_in);
  EXPECT_EQ(r.bytes_in, int64_t(fs::file_size(src + "/model.safetensors")));
  EXPECT_GT(r.max_abs_error, 0.0);
  const json cfg = json::parse(read_file(d.file("q/config.json")));
  EXPECT_EQ(cfg.at("quantization_config").at("quant_method"), "heed_int8");
  EXPECT_EQ(cfg.at("id2label"), json::parse(read_file(src + "/config.json")).at("id2label"));
  EXPECT_TRUE(fs::is_regular_file(d.file("q/vocab.txt")));
  EXPECT_TRUE(infer::is_quantized_checkpoint(d.file("q")));
  EXPECT_FALSE(infer::is_quantized_checkpoint(src));

  // The file: encoder Linear weights as I8 with per-channel scales, the rest F32.
  const std::string bytes = read_file(d.file("q/model.safetensors"));
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const std::string header = bytes.substr(8, n);
  EXPECT_NE(header.find(R"("bert.encoder.layer.0.attention.self.query.weight":{"dtype":"I8")"),
            std::string::npos);
  EXPECT_NE(header.find(R"("bert.encoder.layer.0.attention.self.query.weight_scale":{"dtype":"F32")"),
            std::string::npos);
  EXPECT_NE(header.find(R"("classifier.weight":{"dtype":"F32")"), std::string::npos);

  const auto rows = rows_of(d, 40);
  const TextClassifier orig = TextClassifier::load(src);
  const TextClassifier quant = TextClassifier::load(d.file("q"));
  EXPECT_EQ(quant.labels(), orig.labels());
  const std::vector<double> ref = log_odds(orig.predict(rows));
  EXPECT_LT(max_diff(log_odds(quant.predict(rows)), ref), 5e-2);
  EXPECT_LT(max_diff(log_odds(quant.predict(rows, {.dtype = "int8"})), ref), 1e-1);
  d.write("dev.csv", testing::sentiment_csv(30, 6));
  EXPECT_NO_THROW(evaluate({.model_dir = d.file("q"), .data_file = d.file("dev.csv")}));

  // Errors.
  fs::create_directories(d.file("empty"));
  fs::copy_file(src + "/config.json", d.file("empty/config.json"));
  EXPECT_NE(error_of([&] { infer::quantize_checkpoint(d.file("empty"), d.file("q2")); }).find("empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] { infer::quantize_checkpoint(src, d.file("q3"), {.dtype = "int4"}); })
                .find("unsupported --dtype \"int4\""),
            std::string::npos);
  EXPECT_NE(error_of([&] { infer::quantize_checkpoint(d.file("q"), d.file("q4")); }).find("already quantized"),
            std::string::npos);
}

TEST(FastPath, QuantizableWeights) {
  for (const char* k : {"bert.encoder.layer.0.attention.self.query.weight",
                        "encoder.layer.11.attention.self.key.weight",
                        "bert.encoder.layer.3.attention.self.value.weight",
                        "bert.encoder.layer.3.attention.output.dense.weight",
                        "bert.encoder.layer.3.intermediate.dense.weight",
                        "bert.encoder.layer.3.output.dense.weight"})
    EXPECT_TRUE(infer::is_quantizable_weight(k)) << k;
  for (const char* k : {"bert.encoder.layer.0.attention.self.query.bias",
                        "bert.encoder.layer.0.attention.output.LayerNorm.weight",
                        "bert.encoder.layer.x.output.dense.weight", "bert.pooler.dense.weight",
                        "classifier.weight", "bert.embeddings.word_embeddings.weight",
                        "xencoder.layer.0.output.dense.weight"})
    EXPECT_FALSE(infer::is_quantizable_weight(k)) << k;
}

TEST(FastPath, AdaptersMergeForTheEngineOrAreRefused) {
  const testing::SingleThread one_thread;
  ScratchDir d("fast_adapter");
  const std::string src = write_tiny_classifier(d);
  auto save = [&](peft::PeftType type, const std::string& out) {
    auto base = models::bert_from_pretrained(
        src, {.head = models::BertHead::SequenceClassification, .load = {.quiet = true}});
    peft::PeftModel pm(std::shared_ptr<models::BertPreTrainedModel>(std::move(base.model)));
    peft::PeftConfig pc = peft::PeftConfig::make(type);
    pc.task_type = "SEQ_CLS";
    pm.add_adapter("default", pc, 4);
    // A non-trivial LoRA change (B starts at zero).
    for (auto& [k, t] : pm.named_parameters())
      if (k.find("lora_B") != std::string::npos) {
        float* w = t.data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) w[i] = 0.05f * float((i % 7) - 3);
      }
    pm.save_adapter(d.file(out));
  };
  save(peft::PeftType::Lora, "lora");
  save(peft::PeftType::Bottleneck, "bottleneck");
  const auto rows = rows_of(d, 24);

  const TextClassifier lora = TextClassifier::load(src, d.file("lora"));
  const std::vector<double> ref = log_odds(lora.predict(rows));
  EXPECT_GT(max_diff(ref, log_odds(TextClassifier::load(src).predict(rows))), 1e-3);  // it matters
  EXPECT_LT(max_diff(log_odds(lora.predict(rows, {.dtype = "f32"})), ref), 1e-4);
  EXPECT_EQ(log_odds(lora.predict(rows)), ref);  // unmerged again, bit for bit

  const TextClassifier bn = TextClassifier::load(src, d.file("bottleneck"));
  const std::string err = error_of([&] { bn.predict(rows, {.dtype = "int8"}); });
  EXPECT_NE(err.find("needs an adapter that merges"), std::string::npos) << err;
  EXPECT_NO_THROW(bn.predict(rows));
}

}  // namespace
}  // namespace heed::tasks
