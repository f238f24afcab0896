#include "heed/viz/report_page.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/viz/assets.h"
#include "heed/viz/metrics_log.h"

namespace heed::viz {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Loss first, then evaluation metrics, optimiser state, throughput, anything else, and
// wall time last: the order a person reads a run in.
int group_rank(const std::string& group, bool has_eval) {
  if (group == "loss") return 0;
  if (has_eval) return 1;
  if (group == "lr") return 2;
  if (group == "grad_norm") return 3;
  if (group.find("per_s") != std::string::npos || group.find("per_sec") != std::string::npos ||
      group == "throughput")
    return 4;
  if (group == "elapsed" || group == "seconds" || group == "time" || group == "wall_time")
    return 6;
  return 5;
}

std::string group_title(const std::string& group) {
  static const std::map<std::string, std::string> titles = {
      {"loss", "Loss"},
      {"lr", "Learning rate"},
      {"grad_norm", "Gradient norm"},
      {"tokens_per_s", "Throughput (tokens/s)"},
      {"samples_per_s", "Throughput (samples/s)"},
      {"elapsed", "Elapsed time (s)"},
      {"seconds", "Time (s)"},
      {"accuracy", "Accuracy"},
      {"macro_f1", "Macro F1"},
      {"f1", "F1"},
      {"perplexity", "Perplexity"}};
  const auto it = titles.find(group);
  return it != titles.end() ? it->second : group;
}

json metrics_json(const std::string& text, std::vector<std::string>& warnings) {
  const MetricsLog log = parse_metrics_jsonl(text);
  for (const auto& w : log.warnings) warnings.push_back("metrics.jsonl " + w);
  json series = json::array();
  std::vector<std::string> group_order;
  std::map<std::string, std::vector<std::string>> members;
  std::map<std::string, bool> has_eval;
  for (const auto& s : log.series) {
    series.push_back({{"name", s.name}, {"group", s.group}, {"eval", s.eval}, {"x", s.x}, {"y", s.y}});
    if (!members.count(s.group)) group_order.push_back(s.group);
    members[s.group].push_back(s.name);
    has_eval[s.group] = has_eval[s.group] || s.eval;
  }
  std::stable_sort(group_order.begin(), group_order.end(), [&](const auto& a, const auto& b) {
    return group_rank(a, has_eval[a]) < group_rank(b, has_eval[b]);
  });
  json groups = json::array();
  for (const auto& g : group_order)
    groups.push_back({{"name", g}, {"title", group_title(g)}, {"series", members[g]}});
  return {{"x_key", log.x_key}, {"records", log.records}, {"series", std::move(series)},
          {"groups", std::move(groups)}};
}

void flatten_config(const json& j, const std::string& prefix, json& rows) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten_config(*it, prefix.empty() ? it.key() : prefix + "." + it.key(), rows);
    return;
  }
  std::string value = j.is_string() ? j.get<std::string>() : j.dump();
  if (value.size() > 200) value = value.substr(0, 197) + "...";
  rows.push_back({prefix.empty() ? "(value)" : prefix, value});
}

bool is_matrix(const json& m, size_t n) {
  if (!m.is_array() || m.size() != n) return false;
  for (const auto& row : m) {
    if (!row.is_array() || row.size() != n) return false;
    for (const auto& v : row)
      if (!v.is_number()) return false;
  }
  return true;
}

double safe_div(double a, double b) { return b > 0 ? a / b : 0.0; }

json evaluation_json(const json& ev, const std::string& file, std::vector<std::string>& warnings) {
  json out = {{"file", file}};
  if (!ev.is_object()) {
    warnings.push_back(file + ": not a JSON object, not shown");
    return nullptr;
  }
  json summary = json::object();
  for (auto it = ev.begin(); it != ev.end(); ++it)
    if (it->is_primitive() && !it->is_null()) summary[it.key()] = *it;
  out["summary"] = summary;

  std::vector<std::string> labels;
  if (ev.contains("labels") && ev["labels"].is_array())
    for (const auto& l : ev["labels"]) labels.push_back(l.is_string() ? l.get<std::string>() : l.dump());
  const json* per_class = ev.contains("per_class") && ev["per_class"].is_object() ? &ev["per_class"] : nullptr;
  if (labels.empty() && per_class)
    for (auto it = per_class->begin(); it != per_class->end(); ++it) labels.push_back(it.key());

  const json* cm = ev.contains("confusion_matrix") ? &ev["confusion_matrix"] : nullptr;
  if (cm && labels.empty() && cm->is_array())
    for (size_t i = 0; i < cm->size(); ++i) labels.push_back(std::to_string(i));
  if (cm && !is_matrix(*cm, labels.size())) {
    warnings.push_back(fmt::format("{}: confusion_matrix is not a {}x{} numeric matrix, not shown",
                                   file, labels.size(), labels.size()));
    cm = nullptr;
  }
  out["labels"] = labels;
  out["confusion_matrix"] = cm ? *cm : json();

  // Per-class rows in label order; derived from the confusion matrix when not given
  // (precision = diag / column sum, recall = diag / row sum, rows are true labels).
  json rows = json::array();
  if (per_class) {
    for (const auto& l : labels) {
      const json c = per_class->value(l, json::object());
      rows.push_back({{"label", l}, {"precision", c.value("precision", json())},
                      {"recall", c.value("recall", json())}, {"f1", c.value("f1", json())},
                      {"support", c.value("support", json())}});
    }
  } else if (cm) {
    const size_t K = labels.size();
    for (size_t i = 0; i < K; ++i) {
      double row = 0, col = 0;
      for (size_t j = 0; j < K; ++j) {
        row += (*cm)[i][j].get<double>();
        col += (*cm)[j][i].get<double>();
      }
      const double tp = (*cm)[i][i].get<double>();
      const double p = safe_div(tp, col), r = safe_div(tp, row);
      rows.push_back({{"label", labels[i]}, {"precision", p}, {"recall", r},
                      {"f1", safe_div(2 * p * r, p + r)}, {"support", row}});
    }
    out["per_class_derived"] = true;
  }
  out["per_class"] = rows;
  return out;
}

std::optional<json> read_json_file(const fs::path& p, std::vector<std::string>& warnings) {
  const json j = json::parse(read_file(p.string()), nullptr, false);
  if (j.is_discarded()) {
    warnings.push_back(p.filename().string() + ": not valid JSON, not shown");
    return std::nullopt;
  }
  return j;
}

}  // namespace

ReportInput load_run_dir(const std::string& run_dir, const std::string& eval_path) {
  const fs::path dir(run_dir);
  HEED_CHECK(fs::is_directory(dir), "report: run directory '{}' does not exist", run_dir);
  ReportInput in;
  in.run_dir = run_dir;
  in.title = "heed report: " + (dir.filename().empty() ? dir.parent_path().filename() : dir.filename()).string();
  if (fs::exists(dir / "metrics.jsonl")) in.metrics_jsonl = read_file((dir / "metrics.jsonl").string());
  else in.warnings.push_back("no metrics.jsonl in " + run_dir);
  for (const char* name : {"config.json", "run_config.json"})
    if (fs::exists(dir / name))
      if (auto j = read_json_file(dir / name, in.warnings)) in.configs.emplace_back(name, *j);
  fs::path ev;
  if (!eval_path.empty()) {
    HEED_CHECK(fs::exists(eval_path), "report: evaluation file '{}' does not exist", eval_path);
    ev = eval_path;
  } else {
    for (const char* name : kEvalFileNames)
      if (fs::exists(dir / name)) {
        ev = dir / name;
        break;
      }
  }
  if (!ev.empty()) {
    in.evaluation = read_json_file(ev, in.warnings);
    in.evaluation_file = ev.filename().string();
  }
  return in;
}

json report_data(const ReportInput& in) {
  std::vector<std::string> warnings = in.warnings;
  json data = {{"title", in.title}, {"run_dir", in.run_dir}};
  data["metrics"] = metrics_json(in.metrics_jsonl, warnings);
  json configs = json::array();
  for (const auto& [name, j] : in.configs) {
    json rows = json::array();
    flatten_config(j, "", rows);
    configs.push_back({{"file", name}, {"rows", std::move(rows)}});
  }
  data["configs"] = std::move(configs);
  data["evaluation"] = in.evaluation
      ? evaluation_json(*in.evaluation, in.evaluation_file.empty() ? "evaluation" : in.evaluation_file, warnings)
      : json();
  data["warnings"] = warnings;
  return data;
}

Page report_page(const ReportInput& in) {
  const json data = report_data(in);
  return {.html = html_page(in.title, data, assets::kReportJs), .json = data.dump(1) + "\n"};
}

}  // namespace heed::viz
