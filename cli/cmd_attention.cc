// heed attention --model DIR --text "..." [--text-pair "..."] [--layers 0-3] --out FILE:
// runs a BERT model with output_attentions and writes the head, model and neuron views
// as one offline HTML page, with the BertViz-shaped data beside it as .json.
#include <fmt/format.h>

#include "cli/commands.h"
#include "heed/viz/bert_attention.h"

namespace heed::cli {

namespace {

struct AttentionOptions {
  viz::BertAttentionOptions bert;
  std::string out = "attention.html";
  bool hide_qk = false;
};

void run_attention(const AttentionOptions& o) {
  viz::BertAttentionOptions bo = o.bert;
  bo.queries_and_keys = !o.hide_qk;
  const viz::AttentionPageInput in = viz::bert_attention_input(bo);
  viz::write_page(viz::attention_page(in), o.out);
  fmt::print("{} tokens, {} layers x {} heads: wrote {} and {}\n", in.tokens.size(),
             in.attention.layers.size(), in.attention.heads, o.out, viz::json_path_for(o.out));
}

}  // namespace

void register_attention(CLI::App& app) {
  auto opt = std::make_shared<AttentionOptions>();
  CLI::App* sub = app.add_subcommand(
      "attention", "Show a BERT model's attention on a text as one self-contained HTML page "
                   "(head view, model view, neuron view)");
  sub->add_option("--model,-m", opt->bert.model_dir, "Hugging Face BERT directory (config.json + weights)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--tokenizer", opt->bert.tokenizer_dir,
                  "Directory with tokenizer.json or vocab.txt (default: the model directory)")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--text,-t", opt->bert.text, "Text (sentence A)")->required();
  sub->add_option("--text-pair", opt->bert.text_pair, "Second text (sentence B) for a pair");
  sub->add_option("--layers", opt->bert.layers, "Layers to show: all, 3, 0-3 or 0,2,5-7")
      ->capture_default_str();
  sub->add_option("--max-length", opt->bert.max_length, "Truncate inputs to this many tokens")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_flag("--no-neuron-view", opt->hide_qk,
                "Leave out queries and keys (smaller page, no neuron view)");
  sub->add_option("--out,-o", opt->out, "Output HTML file; the data goes beside it as .json")
      ->capture_default_str();
  sub->callback([opt] { run_attention(*opt); });
}

}  // namespace heed::cli
