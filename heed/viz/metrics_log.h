// Reads a run's metrics.jsonl into plottable series, tolerantly: one JSON object a line,
// any numeric key is a metric, nested objects flatten to dotted keys, NaN/Infinity (as
// Python's json writes them) and nulls are gaps, and broken lines become warnings.
//
// The x axis is the first of "step", "global_step", "epoch" that any record has (a record
// without it takes the last x seen), else the record's line number.
// A record is an evaluation when it has "eval": true or "type": "eval" (heed's Trainer);
// its keys get an "eval_" prefix unless
// they have one. A key already named "eval_*" is an evaluation metric in any record.
// Series are grouped by name without "train_"/"eval_" so train and eval loss share a chart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heed::viz {

struct MetricSeries {
  std::string name;   // "loss", "eval_loss", "lr", "loss.mlm", ...
  std::string group;  // "loss", "lr", ...: the chart it is drawn on
  bool eval = false;
  std::vector<double> x{}, y{};  // one point per record that has a finite value for it
};

struct MetricsLog {
  std::string x_key = "step";  // or "global_step", "epoch", "record"
  int64_t records = 0;         // parsed JSON objects
  std::vector<MetricSeries> series;  // in order of first appearance
  std::vector<std::string> warnings;
};

MetricsLog parse_metrics_jsonl(std::string_view text);

}  // namespace heed::viz
