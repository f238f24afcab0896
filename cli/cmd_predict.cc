// heed predict: label (or score) every row of a table with a fine-tuned model; JSONL out,
// one object per input row, in input order:
//   {"label": "great", "probabilities": {"great": 0.91, "other": 0.09}}   (classify)
//   {"score": 3.25}                                                       (regress)
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "cli/text_table_options.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/tasks/text_classification.h"

namespace heed::cli {

namespace {

struct PredictCli {
  std::string model, data, out, use;
  std::vector<std::string> adapters;
  tasks::TextColumns columns;
  TextTableFlags table;
  tasks::InferenceOptions inference;
  int threads = 0;
};

tasks::TextClassifier load(const PredictCli& c) {
  std::vector<tasks::NamedAdapter> adapters;
  for (const auto& a : c.adapters) adapters.push_back(tasks::parse_named_adapter(a));
  return tasks::load_text_classifier(c.model, adapters, c.use);
}

void run_predict(PredictCli c) {
  if (c.threads > 0) set_num_threads(c.threads);
  apply_text_table_flags(c.columns, c.table);
  const tasks::TextClassifier clf = load(c);
  train::Table t;
  if (c.data == "-") {
    if (c.columns.format == train::TableFormat::Auto) c.columns.format = train::TableFormat::Jsonl;
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    t = tasks::parse_text_table(text, "<stdin>", c.columns, /*labelled=*/false);
  } else {
    t = tasks::read_text_table(c.data, c.columns, /*labelled=*/false);
  }
  std::string lines;
  for (const tasks::TextPrediction& p : clf.predict(t.rows, c.inference))
    lines += clf.prediction_json(p).dump() + "\n";
  if (c.out.empty()) {
    std::fwrite(lines.data(), 1, lines.size(), stdout);
  } else {
    write_file_atomic(c.out, lines);
    fmt::print(stderr, "predict: {} rows -> {}\n", t.rows.size(), c.out);
  }
}

}  // namespace

void register_predict(CLI::App& app) {
  auto c = std::make_shared<PredictCli>();
  CLI::App* sub = app.add_subcommand(
      "predict", "Predict labels (with class probabilities) or scores for every row of a "
                 "CSV/TSV/JSONL table with a fine-tuned model; JSONL out, in input order");
  sub->add_option("--model", c->model,
                  "Fine-tuned model directory (config.json with id2label, model.safetensors, "
                  "vocab.txt or tokenizer.json)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--adapter", c->adapters,
                  "A PEFT adapter directory (from `heed finetune --peft ...`) to run on --model, the base "
                  "model it was trained on; repeat as NAME=DIR to load several (one base, one "
                  "head each) and pick one with --use");
  sub->add_option("--use", c->use, "With several --adapter NAME=DIR: the adapter to run "
                                   "(default: the first)");
  sub->add_option("--data", c->data,
                  "Input table (.csv, .tsv or .jsonl), or - for standard input (JSONL unless "
                  "--format says otherwise)")
      ->required();
  add_text_table_options(sub, c->columns, c->table, /*labelled=*/false);
  sub->add_option("--out", c->out, "Output JSONL file (default: standard output)");
  sub->add_option("--max-seq-length", c->inference.max_seq_length,
                  "Truncate each example to this many tokens")
      ->capture_default_str();
  sub->add_option("--batch-size", c->inference.batch_size, "Examples per batch")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--dtype", c->inference.dtype,
                  "Run the fast inference engine at this precision (f32, bf16 or int8) instead of the "
                  "autograd model (the default), to measure speed and the accuracy change")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}));
  sub->add_option("--threads", c->threads, "Threads (0 = all cores)")->capture_default_str();
  sub->callback([c] { run_predict(*c); });
}

}  // namespace heed::cli
