// heed: one entry point, one file per subcommand.
#include <cstdio>

#include "cli/commands.h"
#include "heed/base/error.h"
#include "heed/train/stop_signal.h"

int main(int argc, char** argv) {
  // Before any thread exists: SIGINT/SIGTERM go to one watcher thread, never to a thread
  // inside oneDNN's GEMM (see stop_signal.h).
  heed::train::route_stop_signals_to_a_thread();
  CLI::App app{"heed: attention models from zero, in C++ (build, pretrain, fine-tune, inspect, run)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "heed 0.1.0");
  heed::cli::register_demo(app);
  heed::cli::register_vit_demo(app);
  heed::cli::register_inspect_env(app);
  heed::cli::register_forward(app);
  heed::cli::register_inspect(app);
  heed::cli::register_embed(app);
  heed::cli::register_tokenize(app);
  heed::cli::register_vocab(app);
  heed::cli::register_pretrain(app);
  heed::cli::register_finetune(app);
  heed::cli::register_eval(app);
  heed::cli::register_predict(app);
  heed::cli::register_merge(app);
  heed::cli::register_quantize(app);
  heed::cli::register_report(app);
  heed::cli::register_attention(app);
  heed::cli::register_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const heed::Error& e) {
    std::fprintf(stderr, "heed: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heed: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}
