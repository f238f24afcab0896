// heed bench: BERT inference / training-step throughput on random weights.
//   heed bench --model-config base --batch 8 --seq 128 --mode infer --dtype bf16 --iters 20
#include <cstdio>

#include "cli/commands.h"
#include "heed/perf/bert_bench.h"

namespace heed::cli {

void register_bench(CLI::App& app) {
  struct Opts {
    perf::BertBenchOptions o;
    std::string mode = "infer", dtype = "f32";
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Time BERT inference or a training step on random weights (see heed/perf/bert_bench.h for the FLOP formula)");
  cmd->add_option("--model-config", opts->o.model_config,
                  "base (bert-base-uncased), mini (bert_uncased_L-4_H-256_A-4) or a model directory")
      ->capture_default_str();
  cmd->add_option("--batch", opts->o.batch, "batch size")->capture_default_str();
  cmd->add_option("--seq", opts->o.seq, "sequence length")->capture_default_str();
  cmd->add_option("--mode", opts->mode,
                  "infer | train (masked-LM pretraining step) | finetune (sequence-classification "
                  "step, 2 labels; with --peft only the adapter and the head train)")
      ->check(CLI::IsMember({"infer", "train", "finetune"}))
      ->capture_default_str();
  cmd->add_option("--dtype", opts->dtype, "f32 | bf16 | int8 (inference); f32 | bf16 (mixed precision) for train and finetune")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--threads", opts->o.threads, "threads (0: OMP_NUM_THREADS or all cores)")
      ->capture_default_str();
  cmd->add_option("--iters", opts->o.iters, "timed iterations")->capture_default_str();
  cmd->add_option("--warmup", opts->o.warmup, "untimed iterations first")->capture_default_str();
  cmd->add_option("--peft", opts->o.peft,
                  "with --mode finetune: lora | adalora | ia3 | prefix | adapter (PEFT defaults; "
                  "--peft-config for others); empty = full fine-tuning")
      ->capture_default_str();
  cmd->add_option("--peft-config", opts->o.peft_config, "JSON file of PEFT fields for --peft")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--unfused-head", [opts](int64_t) { opts->o.fused_head = false; },
                "train mode: materialise the (B, T, V) MLM logits and their gradient, as PyTorch "
                "does (default: ops::linear_cross_entropy, same loss and gradients, ~32 MB of "
                "logits at a time)");
  cmd->add_flag("--f32-attention", [opts](int64_t) { opts->o.attention_bf16 = false; },
                "infer mode, bf16 and int8: run the f32 attention kernel instead of the bf16 one "
                "(the default where the CPU has AVX512_BF16), to measure what it gains");
  cmd->add_flag("--json", opts->json, "print one JSON object on the last line");
  cmd->callback([opts] {
    opts->o.mode = opts->mode == "train"      ? perf::BenchMode::Train
                   : opts->mode == "finetune" ? perf::BenchMode::Finetune
                                              : perf::BenchMode::Infer;
    if (!opts->o.peft.empty() && opts->o.mode != perf::BenchMode::Finetune) {
      std::fprintf(stderr, "bench: --peft needs --mode finetune\n");
      throw CLI::RuntimeError(1);
    }
    opts->o.precision = infer::parse_precision(opts->dtype);
    const perf::BertBenchResult r = perf::run_bert_bench(opts->o);
    std::fputs(perf::format_bench(opts->o, r, opts->json).c_str(), stdout);
  });
}

}  // namespace heed::cli
