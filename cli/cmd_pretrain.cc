// heed pretrain: a BERT pretrained from scratch (MLM, optionally NSP) on text files,
// written as a Hugging Face model directory with its metrics log and report page.
#include <fmt/format.h>

#include "cli/commands.h"
#include "heed/tasks/pretrain.h"
#include "heed/viz/report_page.h"

namespace heed::cli {

namespace {

struct PretrainOptions {
  tasks::PretrainConfig cfg;
  double dropout = -1.0;
  bool no_nsp = false, quiet = false;
};

void run_pretrain(PretrainOptions o) {
  if (o.dropout >= 0) o.cfg.dropout = o.dropout;
  o.cfg.nsp = !o.no_nsp;
  o.cfg.progress = !o.quiet;
  const tasks::PretrainResult r = tasks::run_pretraining(o.cfg);
  if (r.interrupted) {
    fmt::print("pretrain: interrupted at step {}; a checkpoint is in {} (continue with --resume)\n",
               r.steps, o.cfg.out_dir);
    return;
  }
  const std::string report = o.cfg.out_dir + "/report.html";
  viz::write_page(viz::report_page(viz::load_run_dir(o.cfg.out_dir)), report);
  std::string ev;
  for (const char* k : {"mlm_loss", "perplexity", "mlm_accuracy", "nsp_accuracy"})
    if (auto it = r.eval.find(k); it != r.eval.end()) ev += fmt::format("  {} {:.4g}", k, it->second);
  fmt::print("pretrain: {} steps ({}) in {:.1f} min; held-out:{}\n", r.steps, r.stop_reason,
             r.seconds / 60.0, ev.empty() ? " (no held-out split)" : ev);
  fmt::print("model: {}/ (config.json, model.safetensors, vocab.txt, tokenizer.json)\n"
             "report: {}\n", o.cfg.out_dir, report);
}

}  // namespace

void register_pretrain(CLI::App& app) {
  auto o = std::make_shared<PretrainOptions>();
  tasks::PretrainConfig& c = o->cfg;
  CLI::App* sub = app.add_subcommand(
      "pretrain", "Pretrain a BERT from scratch on text files (masked LM + next-sentence "
                  "prediction) and save it as a Hugging Face model directory");
  sub->add_option("--model-config", c.model_config,
                  fmt::format("Model size: {} or a config.json path",
                              fmt::join(tasks::bert_size_names(), "|")))
      ->capture_default_str();
  sub->add_option("--corpus", c.corpus,
                  "Text files: one paragraph per line, a blank line between documents "
                  "(.xz is read directly)")
      ->required()->expected(1, -1)->check(CLI::ExistingFile);
  sub->add_option("--vocab", c.vocab_dir, "Tokenizer directory (vocab.txt or tokenizer.json), "
                                          "e.g. from `heed vocab`")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out", c.out_dir, "Output directory (model, checkpoints, metrics.jsonl, "
                                      "report.html)")->required();
  sub->add_option("--steps", c.steps, "Optimizer steps (with --time-budget: whichever ends first)");
  sub->add_option("--time-budget", c.time_budget_minutes, "Wall-time budget in minutes");
  sub->add_option("--batch-size", c.batch_size, "Sequences per micro-batch")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--max-seq-length", c.max_seq_length, "Tokens per sequence, [CLS]/[SEP] included")->capture_default_str();
  sub->add_option("--grad-accum", c.grad_accum, "Micro-batches per optimizer step")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--lr", c.lr, "Peak learning rate (AdamW)")->capture_default_str();
  sub->add_option("--weight-decay", c.weight_decay, "AdamW weight decay (not on biases and LayerNorm)")->capture_default_str();
  sub->add_option("--warmup-ratio", c.warmup_ratio, "Warmup as a fraction of the steps")->capture_default_str();
  sub->add_option("--max-grad-norm", c.max_grad_norm, "Global gradient-norm clip (0 = off)")->capture_default_str();
  sub->add_option("--schedule", c.schedule, "Learning-rate decay after warmup")
      ->capture_default_str()->check(CLI::IsMember({"linear", "cosine", "constant"}));
  sub->add_flag("--no-nsp", o->no_nsp, "Masked LM only, on packed full sentences (RoBERTa style)");
  sub->add_flag("--whole-word-mask", c.whole_word_mask, "Mask whole words (all their WordPiece pieces)");
  sub->add_option("--mask-prob", c.masked_lm_prob, "Fraction of tokens masked")->capture_default_str();
  sub->add_option("--max-predictions", c.max_predictions_per_seq, "Cap on masked tokens per sequence (0 = none)")->capture_default_str();
  sub->add_option("--validation-every", c.validation_every, "Hold out every k-th document (0 = none)")->capture_default_str();
  sub->add_option("--eval-batches", c.max_validation_batches, "Held-out batches per evaluation")->capture_default_str();
  sub->add_option("--eval-every", c.eval_every, "Steps between evaluations")->capture_default_str();
  sub->add_option("--save-every", c.save_every, "Steps between checkpoints")->capture_default_str();
  sub->add_option("--log-every", c.log_every, "Steps between metrics.jsonl records")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--keep-checkpoints", c.keep_last_n, "Complete checkpoints kept (0 = all)")->capture_default_str();
  sub->add_option("--dropout", o->dropout, "Override hidden and attention dropout (default: the config's)");
  sub->add_option("--seed", c.seed, "Seed for initialisation, data order, masking and dropout")->capture_default_str();
  sub->add_flag("--resume", c.resume, "Continue from the newest complete checkpoint in --out");
  sub->add_flag("!--no-sparse-mlm", c.sparse_mlm, "Run the LM head on every position, not only the masked ones");
  sub->add_option("--dump-batches", c.dump_batches, "Write the first N batches and the initial weights to --out (recipe-parity checks)");
  sub->add_flag("--bf16", c.bf16, "bf16 mixed precision: Linear layers multiply in bf16 (AVX512_BF16), weights and optimizer stay f32 (as HF's --bf16)");
  sub->add_option("--threads", c.threads, "Threads (0 = all cores)")->capture_default_str();
  sub->add_flag("--quiet", o->quiet, "No progress bar");
  sub->callback([o] { run_pretrain(*o); });
}

}  // namespace heed::cli
