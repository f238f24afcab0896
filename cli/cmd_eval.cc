// heed eval: score a fine-tuned classifier or regressor on a labelled table: a readable
// report (accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix with
// label names; or MSE, Pearson, Spearman), or one JSON object with --json.
#include <fmt/format.h>

#include <algorithm>

#include "cli/commands.h"
#include "cli/text_table_options.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tasks/text_classification.h"

namespace heed::cli {

namespace {

struct EvalCli {
  tasks::EvaluateOptions o;
  TextTableFlags table;
  bool json = false;
  std::string out;
  std::vector<std::string> adapters;
  int threads = 0;
};

void print_classification(const train::ClassificationReport& r, double loss) {
  fmt::print("accuracy  {:.4f}\nmacro-F1  {:.4f}\nloss      {:.4f}\n\n", r.accuracy, r.macro_f1,
             loss);
  size_t w = 5;
  for (const auto& c : r.per_class) w = std::max(w, c.name.size());
  fmt::print("{:<{}}  {:>9}  {:>6}  {:>6}  {:>7}\n", "label", w, "precision", "recall", "f1",
             "support");
  for (const auto& c : r.per_class)
    fmt::print("{:<{}}  {:>9.4f}  {:>6.4f}  {:>6.4f}  {:>7}\n", c.name, w, c.precision, c.recall,
               c.f1, c.support);
  fmt::print("\nconfusion matrix (rows: gold label, columns: predicted)\n{:<{}}", "", w);
  size_t cw = 5;
  for (const auto& c : r.per_class) cw = std::max(cw, c.name.size());
  for (const auto& c : r.per_class) fmt::print("  {:>{}}", c.name, cw);
  fmt::print("\n");
  for (size_t i = 0; i < r.confusion.size(); ++i) {
    fmt::print("{:<{}}", r.per_class[i].name, w);
    for (const int64_t v : r.confusion[i]) fmt::print("  {:>{}}", v, cw);
    fmt::print("\n");
  }
}

void run_eval(EvalCli c) {
  if (c.threads > 0) set_num_threads(c.threads);
  apply_text_table_flags(c.o.columns, c.table);
  for (const auto& a : c.adapters) c.o.adapters.push_back(tasks::parse_named_adapter(a));
  const tasks::TextEvaluation e = tasks::evaluate(c.o);
  const std::string json = e.to_json().dump(c.json ? -1 : 2);
  if (!c.out.empty()) write_file_atomic(c.out, e.to_json().dump(2) + "\n");
  if (c.json) {
    fmt::print("{}\n", json);
    return;
  }
  const int64_t n = e.task == tasks::TextTask::Classify ? e.classification.num_examples
                                                        : e.regression.num_examples;
  fmt::print("eval: {}{} on {} ({} examples{})\n\n", c.o.model_dir,
             c.adapters.empty() ? "" : " + adapter " + (c.o.use_adapter.empty() ? c.adapters[0] : c.o.use_adapter),
             c.o.data_file, n,
             c.o.inference.dtype.empty() ? "" : ", engine " + c.o.inference.dtype);
  if (e.task == tasks::TextTask::Classify) {
    print_classification(e.classification, e.loss);
  } else {
    fmt::print("mse       {:.4f}\npearson   {:.4f}\nspearman  {:.4f}\n", e.regression.mse,
               e.regression.pearson, e.regression.spearman);
  }
  if (!c.out.empty()) fmt::print("\nwrote {}\n", c.out);
}

}  // namespace

void register_eval(CLI::App& app) {
  auto c = std::make_shared<EvalCli>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Evaluate a fine-tuned classifier or regressor (e.g. from `heed finetune`) on a "
              "labelled CSV/TSV/JSONL table");
  sub->add_option("--model", c->o.model_dir,
                  "Fine-tuned model directory (config.json with id2label, model.safetensors, "
                  "vocab.txt or tokenizer.json)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--adapter", c->adapters,
                  "A PEFT adapter directory (from `heed finetune --peft ...`) to run on --model, the base "
                  "model it was trained on; repeat as NAME=DIR to load several (one base, one "
                  "head each) and pick one with --use");
  sub->add_option("--use", c->o.use_adapter, "With several --adapter NAME=DIR: the adapter to "
                                             "evaluate (default: the first)");
  sub->add_option("--data", c->o.data_file, "Labelled table (.csv, .tsv or .jsonl)")
      ->required()->check(CLI::ExistingFile);
  add_text_table_options(sub, c->o.columns, c->table, /*labelled=*/true);
  sub->add_option("--max-seq-length", c->o.inference.max_seq_length,
                  "Truncate each example to this many tokens")
      ->capture_default_str();
  sub->add_option("--batch-size", c->o.inference.batch_size, "Examples per batch")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_flag("--json", c->json,
                "Print one JSON object (accuracy, macro_f1, per_class, confusion_matrix, labels, "
                "num_examples, loss; or mse, pearson, spearman) instead of the tables");
  sub->add_option("--out", c->out, "Also write the JSON report to this file");
  sub->add_option("--dtype", c->o.inference.dtype,
                  "Run the fast inference engine at this precision (f32, bf16 or int8) instead of the "
                  "autograd model (the default), to measure speed and the accuracy change")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}));
  sub->add_option("--threads", c->threads, "Threads (0 = all cores)")->capture_default_str();
  sub->callback([c] { run_eval(*c); });
}

}  // namespace heed::cli
