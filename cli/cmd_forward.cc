// heed forward: run a Hugging Face BERT directory on .npy inputs and write every output
// as .npy under HF's names (the library's models::bert_forward_npy does the work).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "heed/autograd/node.h"
#include "heed/base/error.h"
#include "heed/io/npy.h"
#include "heed/models/bert_runner.h"
#include "heed/peft/peft_model.h"

namespace heed::cli {

namespace {

struct ForwardOptions {
  std::string model, adapter, inputs, out, head;
  bool no_hidden_states = false, no_attentions = false, quiet = false;
};

// The model with a PEFT adapter: peft_from_pretrained picks the head from the adapter's
// task_type; every output is written as without one.
std::vector<std::string> forward_with_adapter(const ForwardOptions& o) {
  namespace fs = std::filesystem;
  HEED_CHECK(o.head.empty(), "forward: --head does not apply with --adapter (the adapter's "
                             "task_type picks the head)");
  models::BertInputs in = models::read_bert_inputs_npy(o.inputs);
  const std::unique_ptr<peft::PeftModel> pm = peft::peft_from_pretrained(o.model, o.adapter);
  const models::BertConfig& cfg = pm->base().config();
  HEED_CHECK(in.input_ids.size(1) <= cfg.max_position_embeddings,
             "{}: sequence length {} exceeds max_position_embeddings {} of {}/config.json",
             (fs::path(o.inputs) / "input_ids.npy").string(), in.input_ids.size(1),
             cfg.max_position_embeddings, o.model);
  for (const int64_t id : in.input_ids.to_ids())
    HEED_CHECK(id >= 0 && id < cfg.vocab_size, "{}: input id {} outside [0, {})",
               (fs::path(o.inputs) / "input_ids.npy").string(), id, cfg.vocab_size);
  if (in.token_type_ids.defined())
    for (const int64_t id : in.token_type_ids.to_ids())
      HEED_CHECK(id >= 0 && id < cfg.type_vocab_size, "{}: token type id {} outside [0, {})",
                 (fs::path(o.inputs) / "token_type_ids.npy").string(), id, cfg.type_vocab_size);
  in.output_hidden_states = !o.no_hidden_states;
  in.output_attentions = !o.no_attentions;
  autograd::NoGradGuard no_grad;
  const models::BertOutput out = pm->forward(in);
  fs::create_directories(o.out);
  std::vector<std::string> written;
  for (const auto& [name, t] : out.named()) {
    if (name == "loss") continue;
    io::save_npy((fs::path(o.out) / (name + ".npy")).string(), t.contiguous());
    written.push_back(name);
  }
  return written;
}

}  // namespace

void register_forward(CLI::App& app) {
  auto o = std::make_shared<ForwardOptions>();
  CLI::App* sub = app.add_subcommand(
      "forward",
      "Run a BERT model directory (config.json + model.safetensors or pytorch_model.bin) on\n"
      "input_ids.npy [attention_mask.npy, token_type_ids.npy] and write every output as .npy:\n"
      "last_hidden_state, pooler_output, hidden_states_NN (00 = embeddings), attentions_NN\n"
      "(B,H,T,T), prediction_logits, seq_relationship_logits, logits, start_logits, end_logits");
  sub->add_option("--model", o->model, "Model directory in Hugging Face layout")->required();
  sub->add_option("--adapter", o->adapter,
                  "A PEFT adapter directory (adapter_config.json, adapter_model.safetensors) to "
                  "run on --model")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--inputs", o->inputs,
                  "Directory with input_ids.npy (int (B,T)) and optional attention_mask.npy, "
                  "token_type_ids.npy")
      ->required();
  sub->add_option("--out", o->out, "Output directory for the .npy files (created)")->required();
  sub->add_option("--head", o->head,
                  "Model class to run (default: config.json's architectures, else base)")
      ->check(CLI::IsMember({"base", "pretraining", "masked-lm", "sequence-classification",
                             "token-classification", "question-answering"}));
  sub->add_flag("--no-hidden-states", o->no_hidden_states, "Do not write hidden_states_NN");
  sub->add_flag("--no-attentions", o->no_attentions, "Do not write attentions_NN");
  sub->add_flag("--quiet", o->quiet, "Do not print the checkpoint loading messages");
  sub->callback([o] {
    if (!o->adapter.empty()) {
      const auto names = forward_with_adapter(*o);
      fmt::print("wrote {} outputs to {}: {}\n", names.size(), o->out, fmt::join(names, ", "));
      return;
    }
    models::BertForwardNpyOptions f{.model_dir = o->model,
                                    .inputs_dir = o->inputs,
                                    .out_dir = o->out,
                                    .output_hidden_states = !o->no_hidden_states,
                                    .output_attentions = !o->no_attentions,
                                    .quiet = o->quiet};
    if (!o->head.empty()) f.head = models::parse_bert_head(o->head);
    const auto names = models::bert_forward_npy(f);
    fmt::print("wrote {} outputs to {}: {}\n", names.size(), o->out, fmt::join(names, ", "));
  });
}

}  // namespace heed::cli
