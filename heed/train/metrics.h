// Evaluation metrics for classification (accuracy, macro-F1, per-class precision /
// recall / F1 / support, confusion matrix) and regression (MSE, Pearson, Spearman).
// Conventions follow scikit-learn: confusion rows are gold labels and columns are
// predictions; a class that is never predicted has precision 0 and a class with no
// gold example has recall 0 (sklearn's zero_division=0), and macro-F1 averages over
// the classes that occur in gold or predictions (sklearn's default labels).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace heed::train {

struct ClassMetrics {
  std::string name;  // label name, or the class index as text
  double precision = 0.0, recall = 0.0, f1 = 0.0;
  int64_t support = 0;    // gold examples of this class
  int64_t predicted = 0;  // predictions of this class
};

struct ClassificationReport {
  int64_t num_examples = 0;
  double accuracy = 0.0, macro_f1 = 0.0;
  std::vector<ClassMetrics> per_class;          // one per class, index order
  std::vector<std::vector<int64_t>> confusion;  // [gold][predicted]
  // {"accuracy", "macro_f1", "num_examples", "per_class": {name: {precision, recall, f1,
  //  support}}, "confusion_matrix": [[...]], "labels": [names]}
  nlohmann::json to_json() const;
};

// gold and pred hold class indices in [0, num_classes); label_names is empty or has
// num_classes entries. Errors name the offending position.
ClassificationReport classification_report(const std::vector<int64_t>& gold,
                                           const std::vector<int64_t>& pred, int64_t num_classes,
                                           const std::vector<std::string>& label_names = {});

struct RegressionReport {
  int64_t num_examples = 0;
  // pearson/spearman are NaN when either side has zero variance (as scipy), written
  // to JSON as null.
  double mse = 0.0, pearson = 0.0, spearman = 0.0;
  nlohmann::json to_json() const;  // {"mse", "pearson", "spearman", "num_examples"}
};

RegressionReport regression_report(const std::vector<double>& gold,
                                   const std::vector<double>& pred);

double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);  // ties: average ranks

}  // namespace heed::train
