// heed merge: fold a PEFT adapter (LoRA, AdaLoRA, IA3) into its base model and write a
// plain Hugging Face model directory, which then runs without the adapter machinery
// (`heed predict --model MERGED`, transformers' from_pretrained).
#include <fmt/format.h>

#include "cli/commands.h"
#include "heed/tasks/text_peft.h"

namespace heed::cli {

namespace {

struct MergeCli {
  std::string model, adapter, out;
};

}  // namespace

void register_merge(CLI::App& app) {
  auto c = std::make_shared<MergeCli>();
  CLI::App* sub = app.add_subcommand(
      "merge",
      "Merge a LoRA, AdaLoRA or IA3 adapter (e.g. from `heed finetune --peft lora`) into its base "
      "model and write a Hugging Face model directory (config.json with the adapter's labels, "
      "model.safetensors, tokenizer files); prefix tuning and bottleneck adapters cannot merge");
  sub->add_option("--model", c->model, "Base model directory the adapter was trained on")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--adapter", c->adapter,
                  "PEFT adapter directory (adapter_config.json, adapter_model.safetensors, "
                  "head_config.json)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out", c->out, "Output model directory (created)")->required();
  sub->callback([c] {
    const tasks::MergeResult r = tasks::merge_adapter(c->model, c->adapter, c->out);
    fmt::print("merge: {} adapter {} merged into {} ({} labels) -> {}/ (config.json, "
               "model.safetensors, tokenizer files)\n",
               r.peft_type, c->adapter, c->model, r.num_labels, c->out);
  });
}

}  // namespace heed::cli
