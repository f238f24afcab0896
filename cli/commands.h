// Each subcommand lives in its own file and registers itself on the CLI11 app. The
// files only parse options and call the library.
#pragma once

#include <CLI/CLI.hpp>

namespace heed::cli {

void register_demo(CLI::App& app);
void register_vit_demo(CLI::App& app);
void register_inspect_env(CLI::App& app);
void register_forward(CLI::App& app);
void register_inspect(CLI::App& app);
void register_embed(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_vocab(CLI::App& app);
void register_pretrain(CLI::App& app);
void register_finetune(CLI::App& app);
void register_eval(CLI::App& app);
void register_predict(CLI::App& app);
void register_merge(CLI::App& app);
void register_quantize(CLI::App& app);
void register_report(CLI::App& app);
void register_attention(CLI::App& app);
void register_bench(CLI::App& app);

}  // namespace heed::cli
