#include "heed/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "heed/base/error.h"

namespace heed::train {

namespace {

double ratio(int64_t num, int64_t den) { return den > 0 ? double(num) / double(den) : 0.0; }

// NaN has no JSON spelling; write null.
nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double r = 0.5 * double(i + j) + 1.0;  // ranks are 1-based
    for (size_t k = i; k <= j; ++k) rank[order[k]] = r;
    i = j + 1;
  }
  return rank;
}

}  // namespace

ClassificationReport classification_report(const std::vector<int64_t>& gold,
                                           const std::vector<int64_t>& pred, int64_t num_classes,
                                           const std::vector<std::string>& label_names) {
  HEED_CHECK(gold.size() == pred.size(), "classification_report: {} predictions for {} gold labels",
             pred.size(), gold.size());
  HEED_CHECK(num_classes > 0, "classification_report: num_classes must be positive, got {}",
             num_classes);
  HEED_CHECK(label_names.empty() || int64_t(label_names.size()) == num_classes,
             "classification_report: {} label names for {} classes", label_names.size(),
             num_classes);
  const size_t C = size_t(num_classes);
  ClassificationReport r;
  r.num_examples = int64_t(gold.size());
  r.confusion.assign(C, std::vector<int64_t>(C, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    HEED_CHECK(gold[i] >= 0 && gold[i] < num_classes,
               "classification_report: gold label {} at position {} is outside [0, {})", gold[i], i,
               num_classes);
    HEED_CHECK(pred[i] >= 0 && pred[i] < num_classes,
               "classification_report: prediction {} at position {} is outside [0, {})", pred[i], i,
               num_classes);
    ++r.confusion[size_t(gold[i])][size_t(pred[i])];
    correct += gold[i] == pred[i];
  }
  r.accuracy = ratio(correct, r.num_examples);
  double f1_sum = 0.0;
  int64_t f1_classes = 0;
  for (size_t c = 0; c < C; ++c) {
    ClassMetrics m;
    m.name = label_names.empty() ? std::to_string(c) : label_names[c];
    const int64_t tp = r.confusion[c][c];
    for (size_t k = 0; k < C; ++k) {
      m.support += r.confusion[c][k];
      m.predicted += r.confusion[k][c];
    }
    // zero_division = 0, as sklearn's precision_recall_fscore_support(zero_division=0).
    m.precision = ratio(tp, m.predicted);
    m.recall = ratio(tp, m.support);
    m.f1 =
        m.precision + m.recall > 0 ? 2.0 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    if (m.support > 0 || m.predicted > 0) {
      f1_sum += m.f1;
      ++f1_classes;
    }
    r.per_class.push_back(std::move(m));
  }
  r.macro_f1 = f1_classes > 0 ? f1_sum / double(f1_classes) : 0.0;
  return r;
}

nlohmann::json ClassificationReport::to_json() const {
  nlohmann::json per = nlohmann::json::object(), labels = nlohmann::json::array();
  for (const auto& m : per_class) {
    per[m.name] = {
        {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}};
    labels.push_back(m.name);
  }
  return {{"accuracy", accuracy}, {"macro_f1", macro_f1},          {"num_examples", num_examples},
          {"per_class", per},     {"confusion_matrix", confusion}, {"labels", labels}};
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  HEED_CHECK(x.size() == y.size(), "pearson: {} values against {}", x.size(), y.size());
  const double n = double(x.size());
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0.0 || syy == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  HEED_CHECK(x.size() == y.size(), "spearman: {} values against {}", x.size(), y.size());
  return pearson(average_ranks(x), average_ranks(y));
}

RegressionReport regression_report(const std::vector<double>& gold,
                                   const std::vector<double>& pred) {
  HEED_CHECK(gold.size() == pred.size(), "regression_report: {} predictions for {} gold values",
             pred.size(), gold.size());
  RegressionReport r;
  r.num_examples = int64_t(gold.size());
  double se = 0.0;
  for (size_t i = 0; i < gold.size(); ++i) se += (pred[i] - gold[i]) * (pred[i] - gold[i]);
  r.mse = gold.empty() ? 0.0 : se / double(gold.size());
  r.pearson = pearson(gold, pred);
  r.spearman = spearman(gold, pred);
  return r;
}

nlohmann::json RegressionReport::to_json() const {
  return {{"mse", mse},
          {"pearson", number_or_null(pearson)},
          {"spearman", number_or_null(spearman)},
          {"num_examples", num_examples}};
}

}  // namespace heed::train
