// Each subcommand lives in its own file and registers itself on the CLI11 app. The
// files only parse options and call the library.
#pragma once

#include <CLI/CLI.hpp>

namespace heed::cli {

void register_demo(CLI::App& app);
void register_inspect_env(CLI::App& app);

}  // namespace heed::cli
