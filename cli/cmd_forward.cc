// heed forward: run a Hugging Face BERT directory on .npy inputs and write every output
// as .npy under HF's names (the library's models::bert_forward_npy does the work).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>

#include "cli/commands.h"
#include "heed/models/bert_runner.h"

namespace heed::cli {

namespace {

struct ForwardOptions {
  std::string model, inputs, out, head;
  bool no_hidden_states = false, no_attentions = false, quiet = false;
};

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
