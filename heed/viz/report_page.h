// The training report: every metric in metrics.jsonl as an inline-SVG curve over steps
// (hover shows the values), the run's config as a table, and an optional final evaluation
// as a confusion-matrix heatmap and a per-class table. One offline HTML file.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "heed/viz/html.h"

namespace heed::viz {

struct ReportInput {
  std::string title = "heed training report";
  std::string run_dir;        // shown in the header
  std::string metrics_jsonl;  // the text of metrics.jsonl; empty when the run has none
  // (file name, contents) of config.json, run_config.json, ...: shown as tables.
  std::vector<std::pair<std::string, nlohmann::json>> configs;
  // Final evaluation: accuracy, macro_f1, per_class {label: {precision, recall, f1,
  // support}}, confusion_matrix [[...]] (rows = true label), labels [...]; all optional.
  std::optional<nlohmann::json> evaluation;
  std::string evaluation_file;
  std::vector<std::string> warnings;  // problems met while loading, shown on the page
};

// Evaluation files looked for in a run directory when none is named, in this order.
inline constexpr const char* kEvalFileNames[] = {"eval.json", "eval_results.json",
                                                 "evaluation.json", "final_eval.json"};

// Reads RUN_DIR/metrics.jsonl, config.json, run_config.json and the evaluation JSON
// (`eval_path`, or the first of kEvalFileNames present). Missing files are not errors;
// a missing directory is.
ReportInput load_run_dir(const std::string& run_dir, const std::string& eval_path = "");

// Everything the page draws: series and chart groups, config rows, evaluation tables.
nlohmann::json report_data(const ReportInput& in);

Page report_page(const ReportInput& in);

}  // namespace heed::viz
