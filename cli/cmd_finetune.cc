// heed finetune: fine-tune a BERT model directory for text classification (one text or a
// pair) or regression on a CSV/TSV/JSONL table, keep the best epoch, and write it as a
// Hugging Face model directory with its metrics log, evaluation and report page.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/text_table_options.h"
#include "heed/base/parallel.h"
#include "heed/tasks/text_finetune.h"
#include "heed/viz/report_page.h"

namespace heed::cli {

namespace {

struct FinetuneCli {
  tasks::FinetuneOptions o;
  TextTableFlags table;
  std::string task = "classify", class_weights = "none";
  bool quiet = false;
  int threads = 0;
};

void run_finetune(FinetuneCli c) {
  if (c.threads > 0) set_num_threads(c.threads);
  tasks::FinetuneOptions& o = c.o;
  o.task = tasks::parse_text_task(c.task);
  o.class_weights = tasks::parse_class_weights(c.class_weights);
  o.progress = !c.quiet;
  apply_text_table_flags(o.columns, c.table);
  const tasks::FinetuneResult r = tasks::finetune(o);
  if (r.interrupted) {
    fmt::print("finetune: interrupted at step {} ({}); a checkpoint is in {}/checkpoints "
               "(continue with the same command plus --resume)\n",
               r.steps, r.stop_reason, o.out_dir);
    return;
  }
  fmt::print("finetune: {} steps ({:.3g} epochs, {})\n", r.steps, r.epochs_done, r.stop_reason);
  if (r.best_step >= 0) {
    const auto& e = r.eval_results;
    std::string scores;
    for (const char* k : {"accuracy", "macro_f1", "pearson", "spearman", "mse"})
      if (e.contains(k) && e[k].is_number()) scores += fmt::format(" {} {:.4f}", k, e[k].get<double>());
    fmt::print("best: epoch {:.3g} (step {}) by {}; validation ({} examples):{}\n",
               double(r.best_step) / double(r.steps_per_epoch), r.best_step, r.metric,
               r.num_eval, scores);
  } else {
    fmt::print("no validation: the final model is saved\n");
  }
  const std::string report = o.out_dir + "/report.html";
  viz::write_page(viz::report_page(viz::load_run_dir(o.out_dir)), report);
  if (!r.peft_type.empty())
    fmt::print("adapter: {}/ ({} adapter_config.json, adapter_model.safetensors, head_config.json, "
               "vocab.txt, tokenizer.json{}); use it with --model {} --adapter {}\n"
               "report: {}\n",
               o.out_dir, r.peft_type, r.best_step >= 0 ? ", eval_results.json" : "", o.model_dir,
               o.out_dir, report);
  else
    fmt::print("model: {}/ (config.json, model.safetensors, vocab.txt, tokenizer.json{})\n"
               "report: {}\n",
               o.out_dir, r.best_step >= 0 ? ", eval_results.json" : "", report);
}

}  // namespace

void register_finetune(CLI::App& app) {
  auto c = std::make_shared<FinetuneCli>();
  tasks::FinetuneOptions& o = c->o;
  CLI::App* sub = app.add_subcommand(
      "finetune",
      "Fine-tune a BERT model directory for text classification or regression on a CSV/TSV/JSONL "
      "table; the best epoch is saved as a Hugging Face model directory");
  sub->add_option("--model", o.model_dir,
                  "Model directory in Hugging Face layout (config.json, model.safetensors or "
                  "pytorch_model.bin, vocab.txt or tokenizer.json), e.g. from `heed pretrain`")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--task", c->task,
                  "classify: labels are class names (single text or text pair); regress: labels "
                  "are numbers")
      ->capture_default_str()->check(CLI::IsMember({"classify", "regress"}));
  sub->add_option("--train", o.train_file, "Training table (.csv, .tsv or .jsonl)")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--eval", o.eval_file,
                  "Validation table, evaluated after every epoch; default: hold out "
                  "--validation-fraction of the training rows")
      ->check(CLI::ExistingFile);
  sub->add_option("--out", o.out_dir,
                  "Output directory: the best model (HF layout), metrics.jsonl, run_config.json, "
                  "eval_results.json, report.html, checkpoints/")
      ->required();
  add_text_table_options(sub, o.columns, c->table, /*labelled=*/true);
  sub->add_option("--epochs", o.epochs, "Passes over the training rows")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--batch-size", o.batch_size, "Examples per micro-batch (padded to the longest)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--grad-accum", o.grad_accum,
                  "Micro-batches per optimizer step (effective batch = batch size x this)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--lr", o.lr, "Peak learning rate (AdamW)")->capture_default_str();
  sub->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (not on biases and "
                                                    "LayerNorm weights)")
      ->capture_default_str();
  sub->add_option("--warmup-ratio", o.warmup_ratio,
                  "Fraction of the steps with a linear warmup; then linear decay to 0")
      ->capture_default_str();
  sub->add_option("--max-grad-norm", o.max_grad_norm, "Clip the global gradient norm (0 = off)")
      ->capture_default_str();
  sub->add_option("--max-seq-length", o.max_seq_length,
                  "Truncate each example (both texts together) to this many tokens")
      ->capture_default_str();
  sub->add_option("--eval-batch-size", o.eval_batch_size, "Examples per batch when evaluating")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--seed", o.seed,
                  "Seeds the classifier init, dropout, shuffling and the validation split")
      ->capture_default_str();
  sub->add_option("--validation-fraction", o.validation_fraction,
                  "Without --eval: fraction of the training rows held out for validation (0 = "
                  "none: the last epoch is kept)")
      ->capture_default_str();
  sub->add_option("--metric", o.metric,
                  "Validation metric that picks the best epoch: macro_f1 (classify default), "
                  "accuracy, loss; pearson (regress default), spearman, mse, loss");
  sub->add_option("--patience", o.patience,
                  "Stop after this many epochs without improvement of --metric (0 = never)")
      ->capture_default_str();
  sub->add_option("--class-weights", c->class_weights,
                  "balanced: weight the loss by n / (classes x count) per class, as scikit-learn")
      ->capture_default_str()->check(CLI::IsMember({"none", "balanced"}));
  sub->add_flag("--resume", o.resume,
                "Continue from the newest checkpoint in OUT/checkpoints (bit-identical to an "
                "uninterrupted run)");
  sub->add_option("--log-every", o.log_every, "Steps between training records in metrics.jsonl")
      ->capture_default_str();
  sub->add_flag("--bf16", o.bf16, "bf16 mixed precision: Linear layers multiply in bf16 (AVX512_BF16), weights and optimizer stay f32 (as HF's --bf16); evaluation stays f32");
  sub->add_option("--keep-checkpoints", o.keep_checkpoints,
                  "Epoch checkpoints kept (0 = all)")
      ->capture_default_str();
  sub->add_option("--peft", o.peft,
                  "Parameter-efficient fine-tuning: train only an adapter (and the classifier) on "
                  "the frozen model: lora, adalora, ia3, prefix (prefix tuning) or adapter "
                  "(bottleneck); OUT then holds the adapter in PEFT's layout");
  sub->add_option("--peft-config", o.peft_config_file,
                  "With --peft: a JSON object of PEFT's field names overriding the method's "
                  "defaults, e.g. {\"r\": 16, \"lora_alpha\": 32, \"target_modules\": "
                  "[\"query\", \"value\"]}")
      ->check(CLI::ExistingFile);
  sub->add_option("--adapter", o.adapter_dir,
                  "Continue training this PEFT adapter directory (adapter_config.json, "
                  "adapter_model.safetensors) on --model");
  sub->add_option("--threads", c->threads, "Threads (0 = all cores)")->capture_default_str();
  sub->add_flag("--quiet", c->quiet, "No progress bar");
  sub->callback([c] { run_finetune(*c); });
}

}  // namespace heed::cli
