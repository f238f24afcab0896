#include "heed/viz/metrics_log.h"

#include <cmath>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

namespace heed::viz {

namespace {

using nlohmann::json;

constexpr const char* kXKeys[] = {"step", "global_step", "epoch"};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Python's json.dumps writes NaN, Infinity and -Infinity, which are not JSON: turn them
// into null outside strings so the rest of the line still reads.
std::string nonfinite_to_null(std::string_view line) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < line.size()) out += line[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    const std::string_view rest = line.substr(i);
    size_t skip = 0;
    if (starts_with(rest, "NaN")) skip = 3;
    else if (starts_with(rest, "-Infinity")) skip = 9;
    else if (starts_with(rest, "Infinity")) skip = 8;
    if (skip) {
      out += "null";
      i += skip - 1;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<double> number(const json& v) {
  if (!v.is_number()) return std::nullopt;  // bools, strings, nulls are not metrics
  const double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

void flatten(const json& obj, const std::string& prefix, std::vector<std::pair<std::string, const json*>>& out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) flatten(*it, key, out);
    else out.emplace_back(key, &*it);
  }
}

std::string group_of(const std::string& name) {
  std::string g = name;
  for (std::string_view p : {"eval_", "train_", "training_", "val_", "validation_"})
    if (starts_with(g, p)) {
      g = g.substr(p.size());
      break;
    }
  const size_t dot = g.find('.');
  if (dot != std::string::npos) g = g.substr(0, dot);
  if (g == "learning_rate") g = "lr";
  return g;
}

bool is_eval_record(const json& r) {
  // heed's Trainer marks records {"type": "eval"} (heed/train/trainer.cc).
  if (const auto t = r.find("type"); t != r.end() && *t == "eval") return true;
  const auto it = r.find("eval");
  return it != r.end() && ((it->is_boolean() && it->get<bool>()) || (it->is_number() && *it != 0));
}

}  // namespace

MetricsLog parse_metrics_jsonl(std::string_view text) {
  MetricsLog log;
  std::vector<std::pair<int64_t, json>> records;  // (line number, object)
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    json r = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (r.is_discarded()) r = json::parse(nonfinite_to_null(line), nullptr, false);
    if (r.is_discarded() || !r.is_object()) {
      log.warnings.push_back(fmt::format("line {}: not a JSON object, skipped", line_no));
      continue;
    }
    records.emplace_back(line_no, std::move(r));
  }
  log.records = int64_t(records.size());

  log.x_key = "record";
  for (const char* k : kXKeys) {
    bool found = false;
    for (const auto& [n, r] : records) found = found || number(r.value(k, json())).has_value();
    if (found) {
      log.x_key = k;
      break;
    }
  }

  std::map<std::string, size_t> index;  // series name -> position in log.series
  double last_x = 0;
  for (const auto& [n, r] : records) {
    double x = double(n);
    if (log.x_key != "record") {
      const auto v = number(r.value(log.x_key, json()));
      x = v ? *v : last_x;
    }
    last_x = x;
    const bool eval_record = is_eval_record(r);
    std::vector<std::pair<std::string, const json*>> fields;
    flatten(r, "", fields);
    for (const auto& [key, value] : fields) {
      if (key == "eval") continue;
      bool counter = false;
      for (const char* k : kXKeys) counter = counter || key == k;
      if (counter) continue;  // the x axis and other step counters are not curves
      const auto y = number(*value);
      if (!y) continue;
      const bool eval = eval_record || starts_with(key, "eval_");
      const std::string name = eval && !starts_with(key, "eval_") ? "eval_" + key : key;
      auto [it, added] = index.emplace(name, log.series.size());
      if (added) log.series.push_back({.name = name, .group = group_of(name), .eval = eval});
      MetricSeries& s = log.series[it->second];
      s.x.push_back(x);
      s.y.push_back(*y);
    }
  }
  return log;
}

}  // namespace heed::viz
