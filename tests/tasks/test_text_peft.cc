// Parameter-efficient fine-tuning through the task pipeline on a tiny random BERT: a
// LoRA run writes a PEFT adapter directory (config, exactly the adapter's and the head's
// tensors, labels), leaves the base untouched, predicts through TextClassifier with the
// adapter, merges into a model directory that predicts the same, and bad inputs fail
// with clear errors. AdaLoRA and prefix tuning run through the same path.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/io/safetensors.h"
#include "heed/tasks/text_classification.h"
#include "heed/tasks/text_finetune.h"
#include "heed/tasks/text_peft.h"
#include "tests/tasks/task_test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScratchDir;

FinetuneOptions peft_options(const ScratchDir& d, const std::string& method) {
  return {.model_dir = d.file("bert"),
          .train_file = d.file("train.csv"),
          .eval_file = d.file("dev.csv"),
          .out_dir = d.file("out"),
          .batch_size = 16,
          .epochs = 2,
          .lr = 5e-3f,
          .seed = 3,
          .progress = false,
          .log_every = 5,
          .peft = method};
}

// The tiny BERT as BertForPreTraining (with pooler weights, as `heed pretrain` leaves it
// with NSP); masked_lm: as testing::write_tiny_bert, without a pooler.
void write_fixture(const ScratchDir& d, bool masked_lm = false) {
  testing::write_tiny_bert(d.file("bert"));
  if (!masked_lm) {
    const models::BertConfig cfg = models::BertConfig::from_file(d.file("bert/config.json"));
    Generator gen(7);
    models::bert_save_pretrained(*models::make_bert(cfg, models::BertHead::PreTraining, gen),
                                 d.file("bert"));
  }
  d.write("train.csv", testing::sentiment_csv(96, 1));
  d.write("dev.csv", testing::sentiment_csv(32, 2));
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(FinetunePeft, LoraWritesAdapterPredictsAndMerges) {
  const testing::SingleThread one_thread;
  ScratchDir d("peft_lora");
  write_fixture(d);
  const std::string base_weights = read_file(d.file("bert/model.safetensors"));
  const FinetuneResult r = finetune(peft_options(d, "lora"));
  EXPECT_EQ(r.peft_type, "LORA");
  EXPECT_EQ(r.steps, 12);
  EXPECT_GT(r.trainable_parameters, 0);
  EXPECT_LT(r.trainable_parameters, r.total_parameters / 10);
  EXPECT_EQ(read_file(d.file("bert/model.safetensors")), base_weights);  // base untouched

  const std::string out = d.file("out");
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "head_config.json",
                        "vocab.txt", "tokenizer.json", "metrics.jsonl", "run_config.json",
                        "eval_results.json"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(out) / f)) << f;
  EXPECT_FALSE(fs::exists(fs::path(out) / "model.safetensors"));
  const json ac = read_json(out + "/adapter_config.json");
  EXPECT_EQ(ac.at("peft_type"), "LORA");
  EXPECT_EQ(ac.at("task_type"), "SEQ_CLS");
  bool has_classifier = false;
  for (const auto& m : ac.at("modules_to_save")) has_classifier |= m == "classifier";
  EXPECT_TRUE(has_classifier) << ac.dump();
  EXPECT_EQ(ac.at("base_model_name_or_path"), d.file("bert"));

  std::set<std::string> want = {"base_model.model.classifier.weight",
                                "base_model.model.classifier.bias"};
  for (int l = 0; l < 2; ++l)
    for (const char* mod : {"query", "value"})
      for (const char* ab : {"lora_A", "lora_B"})
        want.insert(fmt::format("base_model.model.bert.encoder.layer.{}.attention.self.{}.{}.weight",
                                l, mod, ab));
  const io::SafetensorsFile f = io::load_safetensors(out + "/adapter_model.safetensors");
  EXPECT_EQ(std::set<std::string>(f.names.begin(), f.names.end()), want);

  const json head = read_json(out + "/head_config.json");
  EXPECT_EQ(head.at("num_labels"), 2);
  EXPECT_EQ(head.at("id2label"), (json{{"0", "neg"}, {"1", "pos"}}));
  EXPECT_EQ(head.at("problem_type"), "single_label_classification");
  const json rc = read_json(out + "/run_config.json");
  EXPECT_EQ(rc.at("peft"), "lora");
  EXPECT_EQ(rc.at("peft_settings").at("r"), 8);

  // The adapter on its base evaluates to the recorded best evaluation.
  const TextEvaluation e = evaluate({.model_dir = d.file("bert"),
                                     .data_file = d.file("dev.csv"),
                                     .adapter_dir = out,
                                     .columns = {},
                                     .inference = {}});
  EXPECT_EQ(e.to_json(), read_json(out + "/eval_results.json"));

  const TextClassifier clf = TextClassifier::load(d.file("bert"), out);
  EXPECT_EQ(clf.labels(), (std::vector<std::string>{"neg", "pos"}));
  const std::vector<train::TableRow> rows = {{.text = "the movie was great"},
                                             {.text = "awful plot"},
                                             {.text = "a good film and a bad actor"}};
  const std::vector<TextPrediction> p = clf.predict(rows);

  // Merged: a plain model directory with the labels, predicting the same.
  const MergeResult m = merge_adapter(d.file("bert"), out, d.file("merged"));
  EXPECT_EQ(m.peft_type, "LORA");
  const json mc = read_json(d.file("merged/config.json"));
  EXPECT_EQ(mc.at("id2label"), (json{{"0", "neg"}, {"1", "pos"}}));
  EXPECT_TRUE(fs::is_regular_file(d.file("merged/vocab.txt")));
  const TextClassifier merged = TextClassifier::load(d.file("merged"));
  const io::SafetensorsFile mf = io::load_safetensors(d.file("merged/model.safetensors"));
  for (const auto& k : mf.names) EXPECT_EQ(k.find("lora"), std::string::npos) << k;
  const std::vector<TextPrediction> q = merged.predict(rows);
  ASSERT_EQ(p.size(), q.size());
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].label, q[i].label) << i;
    for (size_t c = 0; c < 2; ++c) EXPECT_NEAR(p[i].probabilities[c], q[i].probabilities[c], 1e-5);
  }

  // Continue training the adapter: same labels, the run starts from it.
  FinetuneOptions more = peft_options(d, "");
  more.adapter_dir = out;
  more.out_dir = d.file("out2");
  more.epochs = 1;
  const FinetuneResult r2 = finetune(more);
  EXPECT_EQ(r2.peft_type, "LORA");
  EXPECT_EQ(r2.trainable_parameters, r.trainable_parameters);
  EXPECT_TRUE(fs::is_regular_file(d.file("out2/adapter_model.safetensors")));

  // Both adapters on one base, switched per call: each predicts as when loaded alone.
  TextClassifier both = TextClassifier::load(d.file("bert"), {{"a", out}, {"b", d.file("out2")}}, "b");
  EXPECT_EQ(both.adapter_names(), (std::vector<std::string>{"a", "b"}));
  const std::vector<TextPrediction> b_alone =
      TextClassifier::load(d.file("bert"), d.file("out2")).predict(rows);
  EXPECT_EQ(both.adapter_dir(), d.file("out2"));  // --use b
  for (const std::string name : {"b", "a", "b"}) {
    both.use_adapter(name);
    const std::vector<TextPrediction>& want = name == "a" ? p : b_alone;
    const std::vector<TextPrediction> got = both.predict(rows);
    for (size_t i = 0; i < got.size(); ++i)
      for (size_t c = 0; c < 2; ++c)
        EXPECT_NEAR(got[i].probabilities[c], want[i].probabilities[c], 1e-6) << name << " " << i;
  }
  const std::string err = error_of([&] { both.use_adapter("c"); });
  EXPECT_NE(err.find("no adapter named \"c\" (loaded: a, b)"), std::string::npos) << err;
}

TEST(FinetunePeft, LoraLearnsOnAFrozenBase) {
  const testing::SingleThread one_thread;
  ScratchDir d("peft_learn");
  write_fixture(d);
  FinetuneOptions o = peft_options(d, "lora");
  o.epochs = 12;
  o.lr = 3e-2f;
  const FinetuneResult r = finetune(o);
  EXPECT_GE(r.eval_results.at("accuracy").get<double>(), 0.9) << r.eval_results.dump();
}

TEST(FinetunePeft, AdaLoraAndPrefix) {
  const testing::SingleThread one_thread;
  ScratchDir d("peft_other");
  write_fixture(d, /*masked_lm=*/true);
  d.write("ada.json", R"({"init_r": 4, "target_r": 2, "tinit": 2, "tfinal": 2})");
  FinetuneOptions o = peft_options(d, "adalora");
  o.peft_config_file = d.file("ada.json");
  o.epochs = 1;
  const FinetuneResult r = finetune(o);
  EXPECT_EQ(r.peft_type, "ADALORA");
  const json ac = read_json(d.file("out/adapter_config.json"));
  EXPECT_EQ(ac.at("total_step"), 6);  // the run's steps
  EXPECT_EQ(ac.at("init_r"), 4);
  // A masked-LM base has no pooler: the new one is trained and saved with the adapter, so
  // the adapter reloads to exactly the recorded evaluation.
  const io::SafetensorsFile f = io::load_safetensors(d.file("out/adapter_model.safetensors"));
  EXPECT_TRUE(f.tensors.count("base_model.model.bert.pooler.dense.weight"));
  const TextEvaluation e = evaluate({.model_dir = d.file("bert"),
                                     .data_file = d.file("dev.csv"),
                                     .adapter_dir = d.file("out"),
                                     .columns = {},
                                     .inference = {}});
  EXPECT_EQ(e.to_json(), read_json(d.file("out/eval_results.json")));
  EXPECT_NO_THROW(TextClassifier::load(d.file("bert"), d.file("out")).predict({{.text = "good"}}));

  FinetuneOptions p = peft_options(d, "prefix");
  p.out_dir = d.file("prefix");
  p.epochs = 1;
  EXPECT_EQ(finetune(p).peft_type, "PREFIX_TUNING");
  EXPECT_EQ(TextClassifier::load(d.file("bert"), d.file("prefix")).predict({{.text = "good"}}).size(),
            1u);
  const std::string err =
      error_of([&] { merge_adapter(d.file("bert"), d.file("prefix"), d.file("merged")); });
  EXPECT_NE(err.find("PREFIX_TUNING adapter cannot be merged"), std::string::npos) << err;
}

TEST(FinetunePeft, BadInputsAreClearErrors) {
  ScratchDir d("peft_bad");
  write_fixture(d);
  std::string err = error_of([&] { finetune(peft_options(d, "lorax")); });
  EXPECT_NE(err.find("unknown --peft \"lorax\""), std::string::npos) << err;
  d.write("bad.json", R"({"r": "eight"})");
  FinetuneOptions o = peft_options(d, "lora");
  o.peft_config_file = d.file("bad.json");
  err = error_of([&] { finetune(o); });
  EXPECT_NE(err.find("bad.json"), std::string::npos) << err;
  fs::create_directories(d.file("empty_adapter"));
  err = error_of([&] { TextClassifier::load(d.file("bert"), d.file("empty_adapter")); });
  EXPECT_NE(err.find("missing adapter_config.json"), std::string::npos) << err;
  FinetuneOptions a = peft_options(d, "");
  a.adapter_dir = d.file("empty_adapter");
  err = error_of([&] { finetune(a); });
  EXPECT_NE(err.find("missing adapter_config.json"), std::string::npos) << err;
}

}  // namespace
}  // namespace heed::tasks

namespace heed::tasks {
namespace {

// Ctrl-C after the first epoch, then --resume: the adapter is byte-identical to an
// uninterrupted run's. For AdaLoRA this also covers the rank allocator's state (its
// smoothed importances and masks are buffers, saved in the Trainer's checkpoints).
TEST(FinetunePeft, ResumeIsBitIdentical) {
  const testing::SingleThread one_thread;
  for (const char* method : {"lora", "adalora"}) {
    ScratchDir d(std::string("peft_resume_") + method);
    write_fixture(d);
    d.write("ada.json", R"({"init_r": 4, "target_r": 2, "tinit": 1, "tfinal": 2, "deltaT": 1})");
    FinetuneOptions o = peft_options(d, method);
    if (std::string(method) == "adalora") o.peft_config_file = d.file("ada.json");
    o.epochs = 3;
    o.out_dir = d.file("full");
    const FinetuneResult full = finetune(o);
    o.out_dir = d.file("cut");
    int evals = 0;
    o.on_eval = [&](const std::map<std::string, double>&) {
      if (++evals == 1) std::raise(SIGINT);
    };
    const FinetuneResult cut = finetune(o);
    EXPECT_TRUE(cut.interrupted) << method;
    o.on_eval = {};
    o.resume = true;
    const FinetuneResult resumed = finetune(o);
    EXPECT_EQ(resumed.steps, full.steps) << method;
    for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "eval_results.json"})
      EXPECT_EQ(read_file(d.file("cut") + "/" + f), read_file(d.file("full") + "/" + f)) << method << " " << f;
  }
}

}  // namespace
}  // namespace heed::tasks
