// heed report RUN_DIR: the run's training curves, config and final evaluation as one
// offline HTML page (and the data behind it as JSON beside it).
#include <fmt/format.h>

#include "cli/commands.h"
#include "heed/viz/report_page.h"

namespace heed::cli {

namespace {

struct ReportOptions {
  std::string run_dir;
  std::string out;        // default: RUN_DIR/report.html
  std::string eval_path;  // default: the first of viz::kEvalFileNames in RUN_DIR
};

void run_report(const ReportOptions& o) {
  const viz::ReportInput in = viz::load_run_dir(o.run_dir, o.eval_path);
  const std::string out = o.out.empty() ? o.run_dir + "/report.html" : o.out;
  viz::write_page(viz::report_page(in), out);
  for (const auto& w : in.warnings) fmt::print(stderr, "heed report: warning: {}\n", w);
  fmt::print("wrote {} and {}\n", out, viz::json_path_for(out));
}

}  // namespace

void register_report(CLI::App& app) {
  auto opt = std::make_shared<ReportOptions>();
  CLI::App* sub = app.add_subcommand(
      "report", "Write a training report (curves from metrics.jsonl, config, final evaluation) "
                "as one self-contained HTML page");
  sub->add_option("run_dir", opt->run_dir, "Run directory holding metrics.jsonl, config.json, ...")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out,-o", opt->out, "Output HTML file (default RUN_DIR/report.html); "
                                        "the data goes beside it as .json");
  sub->add_option("--eval", opt->eval_path,
                  "Evaluation JSON (accuracy, macro_f1, per_class, confusion_matrix, labels); "
                  "default: eval.json, eval_results.json, evaluation.json or final_eval.json in RUN_DIR")
      ->check(CLI::ExistingFile);
  sub->callback([opt] { run_report(*opt); });
}

}  // namespace heed::cli
