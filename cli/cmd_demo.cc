// heed demo: the main job, from zero to a fine-tuned and evaluated model on bundled data.
//   1. a WordPiece vocabulary trained on the bundled English corpus (data/en_pretrain);
//   2. a small BERT pretrained from scratch on it within a time budget;
//   3. fine-tuned on fine_foods (review -> "great" / "other");
//   4. evaluated on fine_foods' test split, beside the dataset's baselines.
// --full is the long recipe: all six corpus files, a longer budget, and debian_topic too.
// Every artefact stays in one run directory; re-running the command resumes: finished
// stages are kept and an interrupted pretraining or fine-tuning continues from its
// checkpoint (--fresh starts over).
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tasks/pretrain.h"
#include "heed/tasks/text_classification.h"
#include "heed/tasks/text_finetune.h"
#include "heed/tokenizers/wordpiece_trainer.h"
#include "heed/viz/report_page.h"

namespace heed::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The demo's corpus subset: the literary, historical and biblical texts (21.7 MB); the
// Debian package descriptions (16 MB, technical) join them with --full.
const std::vector<std::string> kDemoCorpus = {"austen.txt.xz", "gutenberg_books.txt.xz",
                                              "moby_dick.txt.xz", "sotu.txt.xz",
                                              "bible_web.txt.xz"};
const char* kFullOnlyCorpus = "debian_descriptions.txt.xz";

struct DemoOptions {
  std::string data_dir = HEED_DEFAULT_DATA_DIR;
  std::string out_dir = "runs/demo";
  bool full = false, fresh = false;
  double minutes = 0.0;  // 0: 15, or 120 with --full
  std::string model_config = "mini";
  int32_t vocab_size = 12000;
  int64_t seq = 128, batch = 32;
  float lr = 1e-3f;
  int64_t epochs = 4;  // fine_foods
  float ft_lr = 1e-4f;
  // debian_topic (--full): 15 unbalanced classes. 4 epochs at 1e-4 under-fit them (the rare
  // classes were never predicted); 10 epochs at 3e-4 with balanced class weights learn them.
  int64_t topic_epochs = 10;
  float topic_lr = 3e-4f;
  uint64_t seed = 0;
  int threads = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void stage(int n, int of, const std::string& what) {
  fmt::print("\n[{}/{}] {}\n", n, of, what);
  std::fflush(stdout);
}

std::string write_report(const std::string& run_dir) {
  const std::string path = run_dir + "/report.html";
  viz::write_page(viz::report_page(viz::load_run_dir(run_dir)), path);
  return path;
}

struct TaskScore {
  double accuracy = 0.0, macro_f1 = 0.0;
  int64_t n = 0;
};

// One fine-tuning recipe: epochs, peak learning rate, class weights.
struct Recipe {
  int64_t epochs = 4;
  float lr = 1e-4f;
  tasks::ClassWeights class_weights = tasks::ClassWeights::None;
};

// Fine-tunes the pretrained model on one dataset and scores it on a held-out file.
TaskScore finetune_and_score(const DemoOptions& o, const Recipe& recipe,
                             const std::string& pretrained, const std::string& name,
                             const std::string& train_file, const std::string& eval_file,
                             const std::string& out, std::vector<std::string>& reports) {
  if (!fs::exists(out + "/eval_results.json")) {
    tasks::FinetuneOptions f;
    f.model_dir = pretrained;
    f.train_file = train_file;
    f.out_dir = out;
    f.max_seq_length = o.seq;
    f.batch_size = o.batch;
    f.epochs = recipe.epochs;
    f.lr = recipe.lr;
    f.class_weights = recipe.class_weights;
    f.seed = o.seed;
    f.validation_fraction = 0.1;  // model selection on a slice of train, never on the test file
    f.resume = fs::exists(out);
    f.on_eval = [&](const std::map<std::string, double>& m) {
      auto get = [&](const char* k) { auto it = m.find(k); return it == m.end() ? 0.0 : it->second; };
      fmt::print("  {} validation after epoch {:.0f}: accuracy {:.4f}  macro-F1 {:.4f}\n", name,
                 get("epoch"), get("accuracy"), get("macro_f1"));
    };
    const tasks::FinetuneResult r = tasks::finetune(f);
    HEED_CHECK(!r.interrupted, "demo: fine-tuning was interrupted; run the demo again to resume");
  } else {
    fmt::print("  (already fine-tuned: {})\n", out);
  }
  reports.push_back(write_report(out));
  const tasks::TextEvaluation e =
      tasks::evaluate({.model_dir = out, .data_file = eval_file, .inference = {.max_seq_length = o.seq}});
  write_file_atomic(out + "/test_eval.json", e.to_json().dump(2) + "\n");
  return {e.classification.accuracy, e.classification.macro_f1, e.classification.num_examples};
}

void print_scores(const std::string& title, const TaskScore& heed, const std::string& heed_what,
                  double tfidf_acc, double tfidf_f1, double major_acc, double major_f1) {
  fmt::print("\n{} ({} examples)\n", title, heed.n);
  fmt::print("  {:<44} {:>9} {:>9}\n", "", "accuracy", "macro-F1");
  fmt::print("  {:<44} {:>9.4f} {:>9.4f}\n", heed_what, heed.accuracy, heed.macro_f1);
  fmt::print("  {:<44} {:>9.4f} {:>9.4f}\n", "TF-IDF + logistic regression (baseline)", tfidf_acc, tfidf_f1);
  fmt::print("  {:<44} {:>9.4f} {:>9.4f}\n", "majority class (baseline)", major_acc, major_f1);
}

void run_demo(DemoOptions o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.threads > 0) set_num_threads(o.threads);
  if (o.minutes <= 0) o.minutes = o.full ? 120.0 : 15.0;
  const std::string data = o.data_dir;
  for (const char* d : {"/en_pretrain", "/fine_foods"})
    HEED_CHECK(fs::is_directory(data + d), "demo: bundled data folder {}{} is missing (--data)", data, d);
  if (o.fresh) fs::remove_all(o.out_dir);
  fs::create_directories(o.out_dir);
  const std::string run = o.out_dir;
  const int stages = o.full ? 5 : 4;

  std::vector<std::string> corpus;
  for (const auto& f : kDemoCorpus) corpus.push_back(data + "/en_pretrain/" + f);
  if (o.full) corpus.push_back(data + "/en_pretrain/" + kFullOnlyCorpus);
  fmt::print("heed demo{}: from zero to a fine-tuned BERT on {} threads; run directory {}/\n",
             o.full ? " --full" : "", num_threads(), run);

  // 1. Vocabulary.
  const std::string vocab = run + "/vocab";
  stage(1, stages, fmt::format("WordPiece vocabulary ({} tokens) on {} corpus files", o.vocab_size,
                               corpus.size()));
  if (!fs::exists(vocab + "/tokenizer.json")) {
    tokenizers::NormalizerConfig norm;  // uncased, accents stripped (bert-base-uncased)
    const tokenizers::WordPieceVocab v = tokenizers::train_wordpiece_from_files(
        corpus, norm, {.vocab_size = o.vocab_size, .min_frequency = 2, .show_progress = true});
    tokenizers::save_wordpiece_tokenizer(vocab, v.vocab, norm);
    fmt::print("  {} tokens -> {}/vocab.txt\n", v.vocab.size(), vocab);
  } else {
    fmt::print("  (already trained: {})\n", vocab);
  }

  // 2. Pretraining.
  const std::string pre = run + "/pretrain";
  std::vector<std::string> reports;
  stage(2, stages, fmt::format("pretrain BERT-{} from scratch for {:.0f} minutes (masked LM + "
                               "next-sentence prediction)", o.model_config, o.minutes));
  if (!fs::exists(pre + "/model.safetensors")) {
    tasks::PretrainConfig p;
    p.model_config = o.model_config;
    p.corpus = corpus;
    p.vocab_dir = vocab;
    p.out_dir = pre;
    p.time_budget_minutes = o.minutes;
    p.batch_size = o.batch;
    p.max_seq_length = o.seq;
    p.lr = o.lr;
    p.warmup_ratio = 0.05f;
    p.eval_every = 200;
    p.save_every = 200;
    p.seed = o.seed;
    p.resume = fs::exists(pre);
    const tasks::PretrainResult r = tasks::run_pretraining(p);
    HEED_CHECK(!r.interrupted, "demo: pretraining was interrupted; run the demo again to resume");
    fmt::print("  {} steps, {:.1f} min; held-out MLM loss {:.3f} (perplexity {:.1f}), masked-token "
               "accuracy {:.3f}\n", r.steps, r.seconds / 60.0, r.eval.count("mlm_loss") ? r.eval.at("mlm_loss") : 0.0,
               r.eval.count("perplexity") ? r.eval.at("perplexity") : 0.0,
               r.eval.count("mlm_accuracy") ? r.eval.at("mlm_accuracy") : 0.0);
  } else {
    fmt::print("  (already pretrained: {})\n", pre);
  }
  reports.push_back(write_report(pre));

  // 3-4. fine_foods.
  stage(3, stages, fmt::format("fine-tune on fine_foods (4000 reviews, {} epochs)", o.epochs));
  const TaskScore ff = finetune_and_score(o, {.epochs = o.epochs, .lr = o.ft_lr}, pre, "fine_foods", data + "/fine_foods/train.csv",
                                          data + "/fine_foods/test.csv", run + "/fine_foods", reports);
  stage(4, stages, "evaluate on fine_foods' test split");
  const std::string heed_what = fmt::format("heed BERT-{}, pretrained {:.0f} min from zero", o.model_config, o.minutes);
  print_scores("fine_foods test split", ff, heed_what, 0.808, 0.7764, 0.658, 0.3969);
  json summary = {{"fine_foods_test", {{"accuracy", ff.accuracy}, {"macro_f1", ff.macro_f1}, {"examples", ff.n}}}};

  if (o.full) {
    stage(5, stages, fmt::format("fine-tune on debian_topic (15 sections, {} epochs, balanced "
                                 "class weights) and evaluate on its validation split",
                                 o.topic_epochs));
    const Recipe topic{.epochs = o.topic_epochs, .lr = o.topic_lr,
                       .class_weights = tasks::ClassWeights::Balanced};
    const TaskScore dt = finetune_and_score(o, topic, pre, "debian_topic", data + "/debian_topic/train.csv",
                                            data + "/debian_topic/validation.csv", run + "/debian_topic", reports);
    // Baselines on this validation split: data/debian_topic/baseline.py.
    print_scores("debian_topic validation split (grouped by source package)", dt, heed_what, 0.8070, 0.7458, 0.1877, 0.0211);
    summary["debian_topic_validation"] = {{"accuracy", dt.accuracy}, {"macro_f1", dt.macro_f1}, {"examples", dt.n}};
  }
  summary["minutes_pretraining"] = o.minutes;
  summary["model_config"] = o.model_config;
  summary["wall_seconds_this_invocation"] = seconds_since(t0);
  write_file_atomic(run + "/summary.json", summary.dump(2) + "\n");
  fmt::print("\nwall time {:.1f} min; everything is in {}/ (vocab, pretrain, fine_foods{})\n",
             seconds_since(t0) / 60.0, run, o.full ? ", debian_topic" : "");
  fmt::print("reports (open in a browser):\n");
  for (const auto& r : reports) fmt::print("  {}\n", r);
}

}  // namespace

void register_demo(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand(
      "demo", "The main job on bundled data: train a vocabulary, pretrain a small BERT from "
              "scratch, fine-tune it on fine_foods and evaluate it beside the baselines "
              "(re-running resumes)");
  sub->add_flag("--full", o->full, "The long recipe: all six corpus files (+ Debian package "
                                   "descriptions), 120 minutes, and debian_topic as well");
  sub->add_option("--minutes", o->minutes, "Pretraining budget in minutes (default 15, or 120 with --full)");
  sub->add_option("--data", o->data_dir, "Folder holding the bundled datasets")->capture_default_str();
  sub->add_option("--out", o->out_dir, "Run directory (every artefact goes here)")->capture_default_str();
  sub->add_flag("--fresh", o->fresh, "Delete the run directory first instead of resuming it");
  sub->add_option("--model-config", o->model_config, "BERT size (tiny|mini|small|medium|base) or a config.json")->capture_default_str();
  sub->add_option("--vocab-size", o->vocab_size, "WordPiece vocabulary size")->capture_default_str();
  sub->add_option("--seq", o->seq, "Sequence length for pretraining and fine-tuning")->capture_default_str();
  sub->add_option("--batch", o->batch, "Batch size")->capture_default_str();
  sub->add_option("--lr", o->lr, "Pretraining peak learning rate")->capture_default_str();
  sub->add_option("--epochs", o->epochs, "fine_foods fine-tuning epochs")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))
      ->capture_default_str();
  sub->add_option("--finetune-lr", o->ft_lr, "fine_foods fine-tuning peak learning rate")
      ->check(CLI::Range(1e-9, 10.0))
      ->capture_default_str();
  sub->add_option("--topic-epochs", o->topic_epochs, "--full: debian_topic fine-tuning epochs")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))
      ->capture_default_str();
  sub->add_option("--topic-lr", o->topic_lr, "--full: debian_topic fine-tuning peak learning rate")
      ->check(CLI::Range(1e-9, 10.0))
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  sub->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  sub->callback([o] { run_demo(*o); });
}

}  // namespace heed::cli
