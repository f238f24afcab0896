// heed inspect: a Hugging Face BERT directory's config, parameter count and memory.
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "heed/models/bert_runner.h"

namespace heed::cli {

void register_inspect(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "inspect", "Print a model directory's config, parameter count and memory (f32 bytes and "
                 "bytes on disk)");
  sub->add_option("DIR", *dir, "Model directory (config.json + weights, Hugging Face layout)")
      ->required();
  sub->callback([dir] { fmt::print("{}", models::bert_inspect(*dir)); });
}

}  // namespace heed::cli
