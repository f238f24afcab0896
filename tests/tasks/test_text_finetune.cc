// Fine-tuning end to end on a tiny random BERT and synthetic separable data: it learns,
// writes a Hugging Face model directory with the label maps, evaluates and predicts
// consistently, regresses, stops early, weights classes, and resumes bit-identically.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <sstream>
#include <nlohmann/json.hpp>

#include "heed/base/fs.h"
#include "heed/tasks/text_classification.h"
#include "heed/tasks/text_finetune.h"
#include "tests/tasks/task_test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScratchDir;

FinetuneOptions quick_options(const ScratchDir& d) {
  return {.model_dir = d.file("bert"),
          .train_file = d.file("train.csv"),
          .eval_file = d.file("dev.csv"),
          .out_dir = d.file("out"),
          .batch_size = 16,
          .epochs = 4,
          .lr = 2e-3f,
          .seed = 3,
          .progress = false,
          .log_every = 5};
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }

// The deterministic fields of metrics.jsonl (no timings).
std::vector<std::string> log_values(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    j.erase("elapsed");
    j.erase("tokens_per_s");
    out.push_back(j.dump());
  }
  return out;
}

TEST(Finetune, ClassifierLearnsAndWritesHfLayout) {
  const testing::SingleThread one_thread;
  ScratchDir d("ft_classify");
  testing::write_tiny_bert(d.file("bert"));
  d.write("train.csv", testing::sentiment_csv(240, 1, 3));
  d.write("dev.csv", testing::sentiment_csv(60, 2, 3));
  std::vector<double> epochs_seen;
  FinetuneOptions o = quick_options(d);
  o.on_eval = [&](const std::map<std::string, double>& m) { epochs_seen.push_back(m.at("epoch")); };
  const FinetuneResult r = finetune(o);
  EXPECT_EQ(r.labels, (std::vector<std::string>{"meh", "neg", "pos"}));  // sorted
  EXPECT_EQ(r.num_train, 240);
  EXPECT_EQ(r.num_eval, 60);
  EXPECT_EQ(r.steps_per_epoch, 15);
  EXPECT_EQ(r.steps, 60);
  EXPECT_EQ(r.stop_reason, "max_steps");
  EXPECT_EQ(r.metric, "macro_f1");
  EXPECT_EQ(epochs_seen, (std::vector<double>{1, 2, 3, 4}));
  ASSERT_GE(r.best_step, 15);
  EXPECT_GE(r.eval_results.at("accuracy").get<double>(), 0.9) << r.eval_results.dump();
  EXPECT_DOUBLE_EQ(r.best_metric, r.eval_results.at("macro_f1").get<double>());

  // A Hugging Face model directory, labels as HF writes them.
  const std::string out = d.file("out");
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                        "metrics.jsonl", "run_config.json", "eval_results.json"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(out) / f)) << f;
  const json cfg = read_json(out + "/config.json");
  EXPECT_EQ(cfg.at("id2label"), (json{{"0", "meh"}, {"1", "neg"}, {"2", "pos"}}));
  EXPECT_EQ(cfg.at("label2id"), (json{{"meh", 0}, {"neg", 1}, {"pos", 2}}));
  EXPECT_EQ(cfg.at("problem_type"), "single_label_classification");
  EXPECT_EQ(cfg.at("architectures"), json::array({"BertForSequenceClassification"}));
  const json ev = read_json(out + "/eval_results.json");
  for (const char* k : {"accuracy", "macro_f1", "per_class", "confusion_matrix", "labels",
                        "num_examples", "loss"})
    EXPECT_TRUE(ev.contains(k)) << k;
  EXPECT_EQ(ev.at("labels"), json::array({"meh", "neg", "pos"}));
  EXPECT_EQ(ev.at("num_examples"), 60);
  EXPECT_EQ(read_json(out + "/run_config.json").at("epochs"), 4);
  // One eval record per epoch in metrics.jsonl.
  int evals = 0;
  for (const auto& line : log_values(out + "/metrics.jsonl"))
    evals += json::parse(line).at("type") == "eval";
  EXPECT_EQ(evals, 4);

  // The saved directory evaluates to exactly the recorded best evaluation.
  const TextEvaluation e =
      evaluate({.model_dir = out, .data_file = d.file("dev.csv"), .columns = {}, .inference = {}});
  EXPECT_EQ(e.to_json(), ev);

  // Predictions: input order, probabilities summing to 1, the obvious labels.
  const TextClassifier clf = TextClassifier::load(out);
  EXPECT_EQ(clf.task(), TextTask::Classify);
  std::vector<train::TableRow> rows = {{.text = "the movie was great"},
                                       {.text = "awful plot"},
                                       {.text = "it is okay"},
                                       {.text = "a good film and a good actor"}};
  const std::vector<TextPrediction> p = clf.predict(rows, {.batch_size = 3});
  ASSERT_EQ(p.size(), 4u);
  const std::vector<std::string> want = {"pos", "neg", "meh", "pos"};
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].label, want[i]) << i;
    double sum = 0.0;
    for (float q : p[i].probabilities) sum += q;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    const json j = clf.prediction_json(p[i]);
    EXPECT_EQ(j.at("label"), want[i]);
    EXPECT_EQ(j.at("probabilities").size(), 3u);
  }
  // Batching and length sorting do not change the results.
  const std::vector<TextPrediction> one = clf.predict({rows[3]}, {.batch_size = 1});
  for (size_t c = 0; c < 3; ++c)
    EXPECT_NEAR(one[0].probabilities[c], p[3].probabilities[c], 1e-5);
}

TEST(Finetune, TextPairsAndValidationSplit) {
  const testing::SingleThread one_thread;
  // The label is the sentiment of the second text; the first holds a random marker as a
  // distractor, so only a model that reads the pair (and its segment ids) gets it right.
  // No eval file: 20% of the training rows are held out by the seed.
  ScratchDir d("ft_pairs");
  testing::write_tiny_bert(d.file("bert"));
  const char* marks[] = {"good", "bad"};
  Generator g(5);
  std::string csv = "premise\thypothesis\tgold\n";
  for (int i = 0; i < 300; ++i) {
    const int a = int(g.randint(2)), b = int(g.randint(2));
    csv += fmt::format("the {} movie\tit was {}\t{}\n", marks[a], marks[b], b == 0 ? "up" : "down");
  }
  d.write("train.tsv", csv);
  FinetuneOptions o = quick_options(d);
  o.train_file = d.file("train.tsv");
  o.eval_file = "";
  o.validation_fraction = 0.2;
  o.columns = {.text_col = "premise", .text_pair_col = "hypothesis", .label_col = "gold"};
  o.epochs = 6;
  o.metric = "accuracy";
  const FinetuneResult r = finetune(o);
  EXPECT_EQ(r.num_train, 240);
  EXPECT_EQ(r.num_eval, 60);
  EXPECT_EQ(r.labels, (std::vector<std::string>{"down", "up"}));
  EXPECT_GE(r.eval_results.at("accuracy").get<double>(), 0.85) << r.eval_results.dump();
  const TextClassifier clf = TextClassifier::load(d.file("out"));
  const auto p = clf.predict({{.text = "the bad movie", .text_pair = "it was good"},
                              {.text = "the good movie", .text_pair = "it was bad"}});
  EXPECT_EQ(p[0].label, "up");
  EXPECT_EQ(p[1].label, "down");
}

TEST(Finetune, Regression) {
  const testing::SingleThread one_thread;
  ScratchDir d("ft_regress");
  testing::write_tiny_bert(d.file("bert"));
  d.write("train.csv", testing::counting_csv(240, 1));
  d.write("dev.csv", testing::counting_csv(60, 2));
  FinetuneOptions o = quick_options(d);
  o.task = TextTask::Regress;
  o.epochs = 8;
  o.lr = 5e-3f;
  const FinetuneResult r = finetune(o);
  EXPECT_EQ(r.metric, "pearson");
  EXPECT_TRUE(r.labels.empty());
  EXPECT_GE(r.eval_results.at("pearson").get<double>(), 0.9) << r.eval_results.dump();
  for (const char* k : {"mse", "pearson", "spearman", "num_examples", "loss"})
    EXPECT_TRUE(r.eval_results.contains(k)) << k;
  const json cfg = read_json(d.file("out") + "/config.json");
  EXPECT_EQ(cfg.at("problem_type"), "regression");
  EXPECT_EQ(cfg.at("id2label"), (json{{"0", "LABEL_0"}}));  // num_labels 1, as HF writes it
  const TextClassifier clf = TextClassifier::load(d.file("out"));
  EXPECT_EQ(clf.task(), TextTask::Regress);
  const TextEvaluation again =
      evaluate({.model_dir = d.file("out"), .data_file = d.file("dev.csv"), .columns = {}, .inference = {}});
  EXPECT_EQ(again.to_json(), r.eval_results);
  const auto p = clf.predict({{.text = "good good good"}, {.text = "bad bad movie"}});
  EXPECT_GT(p[0].score, 1.5f) << r.eval_results.dump();
  EXPECT_LT(p[1].score, -0.5f);
  const json j = clf.prediction_json(p[0]);
  EXPECT_TRUE(j.contains("score"));
  EXPECT_FALSE(j.contains("probabilities"));

  // A label that is not a number names the file, the line and the column.
  d.write("bad.csv", "text,label\ngood movie,1.5\nbad movie,very bad\n");
  o.train_file = d.file("bad.csv");
  o.out_dir = d.file("out_bad");
  HEED_EXPECT_ERROR(finetune(o), "bad.csv:3", "very bad", "'label'", "not a number");
}

TEST(Finetune, EarlyStoppingStopsEarly) {
  const testing::SingleThread one_thread;
  ScratchDir d("ft_early");
  testing::write_tiny_bert(d.file("bert"));
  d.write("train.csv", testing::sentiment_csv(64, 1));
  d.write("dev.csv", testing::sentiment_csv(32, 2));
  FinetuneOptions o = quick_options(d);
  o.lr = 1e-9f;  // nothing changes: no epoch improves on the first
  o.epochs = 10;
  o.patience = 2;
  const FinetuneResult r = finetune(o);
  EXPECT_EQ(r.stop_reason, "early stopping");
  EXPECT_EQ(r.steps, 3 * r.steps_per_epoch);  // best at epoch 1, then 2 without improvement
  EXPECT_EQ(r.best_step, r.steps_per_epoch);
  EXPECT_DOUBLE_EQ(r.epochs_done, 3.0);
}

TEST(Finetune, ClassWeightsChangeTheLoss) {
  const testing::SingleThread one_thread;
  EXPECT_EQ(balanced_class_weights({0, 0, 0, 1}, 2), (std::vector<float>{4.0f / 6.0f, 2.0f}));
  EXPECT_EQ(balanced_class_weights({0, 2}, 3), (std::vector<float>{2.0f / 3.0f, 0.0f, 2.0f / 3.0f}));
  // An imbalanced set: the first logged training loss differs with balanced weights.
  ScratchDir d("ft_weights");
  testing::write_tiny_bert(d.file("bert"));
  std::string csv = "text,label\n";
  for (int i = 0; i < 48; ++i) csv += i % 4 == 0 ? "bad movie,neg\n" : "good movie,pos\n";
  d.write("train.csv", csv);
  d.write("dev.csv", csv);
  auto first_loss = [&](ClassWeights w, const std::string& out) {
    FinetuneOptions o = quick_options(d);
    o.epochs = 1;
    o.log_every = 1;
    o.class_weights = w;
    o.out_dir = d.file(out);
    finetune(o);
    return json::parse(log_values(d.file(out) + "/metrics.jsonl").at(0)).at("loss").get<double>();
  };
  const double plain = first_loss(ClassWeights::None, "plain");
  const double balanced = first_loss(ClassWeights::Balanced, "balanced");
  EXPECT_GT(std::abs(plain - balanced), 1e-4) << plain << " vs " << balanced;
  EXPECT_EQ(read_json(d.file("balanced") + "/run_config.json").at("class_weights"), "balanced");
}

TEST(Finetune, ResumeIsBitIdentical) {
  const testing::SingleThread one_thread;
  ScratchDir d("ft_resume");
  testing::write_tiny_bert(d.file("bert"));
  d.write("train.csv", testing::sentiment_csv(80, 1));
  d.write("dev.csv", testing::sentiment_csv(24, 2));
  FinetuneOptions o = quick_options(d);
  o.epochs = 3;
  o.grad_accum = 2;
  o.batch_size = 8;
  o.patience = 5;  // the early-stopping state travels in the checkpoints too
  o.out_dir = d.file("full");
  const FinetuneResult full = finetune(o);
  EXPECT_EQ(full.steps, 15);

  // Ctrl-C after the first epoch's evaluation: a checkpoint, then --resume.
  o.out_dir = d.file("cut");
  int evals = 0;
  o.on_eval = [&](const std::map<std::string, double>&) {
    if (++evals == 1) std::raise(SIGINT);
  };
  const FinetuneResult cut = finetune(o);
  EXPECT_TRUE(cut.interrupted);
  EXPECT_EQ(cut.steps, 5);
  o.on_eval = {};
  o.resume = true;
  const FinetuneResult resumed = finetune(o);
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(resumed.steps, 15);
  EXPECT_EQ(resumed.best_step, full.best_step);
  EXPECT_EQ(read_file(d.file("cut") + "/model.safetensors"),
            read_file(d.file("full") + "/model.safetensors"));
  EXPECT_EQ(read_file(d.file("cut") + "/eval_results.json"),
            read_file(d.file("full") + "/eval_results.json"));
  EXPECT_EQ(log_values(d.file("cut") + "/metrics.jsonl"), log_values(d.file("full") + "/metrics.jsonl"));

  // A fresh run refuses to mix with an earlier run's checkpoints.
  o.resume = false;
  HEED_EXPECT_ERROR(finetune(o), "checkpoints of an earlier run", "--resume");
}

TEST(Finetune, OptionErrors) {
  const testing::SingleThread one_thread;
  ScratchDir d("ft_options");
  testing::write_tiny_bert(d.file("bert"));
  d.write("train.csv", testing::sentiment_csv(20, 1));
  d.write("dev.csv", testing::sentiment_csv(8, 2));
  FinetuneOptions o = quick_options(d);
  o.metric = "pearson";
  HEED_EXPECT_ERROR(finetune(o), "--metric pearson", "classify");
  o = quick_options(d);
  o.task = TextTask::Regress;
  o.class_weights = ClassWeights::Balanced;
  HEED_EXPECT_ERROR(finetune(o), "--class-weights");
  o = quick_options(d);
  o.out_dir = o.model_dir;
  HEED_EXPECT_ERROR(finetune(o), "is the model directory");
  o = quick_options(d);
  d.write("one.csv", "text,label\ngood,pos\nbad,pos\n");
  o.train_file = d.file("one.csv");
  HEED_EXPECT_ERROR(finetune(o), "one.csv", "every row has the label \"pos\"");
  o = quick_options(d);
  o.model_dir = d.file("nope");
  HEED_EXPECT_ERROR(finetune(o), "nope");
}

}  // namespace
}  // namespace heed::tasks
