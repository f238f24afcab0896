// Classification and regression metrics against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "heed/base/error.h"
#include "heed/train/metrics.h"
#include "train_test_util.h"

namespace heed::train {
namespace {

// gold [0 0 1 1 2 2], pred [0 1 1 1 0 0]; class 2 is never predicted.
//   confusion (rows gold, cols pred): [[1 1 0] [0 2 0] [2 0 0]]
//   class 0: P = 1/3, R = 1/2, F1 = 0.4;  class 1: P = 2/3, R = 1, F1 = 0.8
//   class 2: P = 0 (no predictions: sklearn zero_division=0), R = 0, F1 = 0
//   accuracy 3/6, macro-F1 (0.4 + 0.8 + 0) / 3 = 0.4
TEST(Metrics, ClassificationHandComputed) {
  const auto r =
      classification_report({0, 0, 1, 1, 2, 2}, {0, 1, 1, 1, 0, 0}, 3, {"neg", "neu", "pos"});
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
  const std::vector<std::vector<int64_t>> cm = {{1, 1, 0}, {0, 2, 0}, {2, 0, 0}};
  EXPECT_EQ(r.confusion, cm);
  EXPECT_NEAR(r.per_class[0].precision, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.per_class[0].recall, 0.5, 1e-12);
  EXPECT_NEAR(r.per_class[0].f1, 0.4, 1e-12);
  EXPECT_NEAR(r.per_class[1].precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.per_class[1].recall, 1.0, 1e-12);
  EXPECT_NEAR(r.per_class[1].f1, 0.8, 1e-12);
  EXPECT_EQ(r.per_class[2].precision, 0.0);
  EXPECT_EQ(r.per_class[2].recall, 0.0);
  EXPECT_EQ(r.per_class[2].f1, 0.0);
  EXPECT_EQ(r.per_class[2].support, 2);
  EXPECT_EQ(r.per_class[2].predicted, 0);
  EXPECT_NEAR(r.macro_f1, 0.4, 1e-12);

  const nlohmann::json j = r.to_json();
  for (const char* k : {"accuracy", "macro_f1", "per_class", "confusion_matrix"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["confusion_matrix"], nlohmann::json(cm));
  EXPECT_NEAR(j["per_class"]["neu"]["f1"].get<double>(), 0.8, 1e-12);
  EXPECT_EQ(j["per_class"]["pos"]["precision"].get<double>(), 0.0);
  EXPECT_EQ(j["per_class"]["neg"]["support"].get<int64_t>(), 2);
}

// A class absent from both gold and predictions is left out of macro-F1 (sklearn's
// default label set), but still listed.
TEST(Metrics, AbsentClassNotInMacroAverage) {
  const auto r = classification_report({0, 0, 1, 1, 2, 2}, {0, 1, 1, 1, 0, 0}, 4);
  EXPECT_NEAR(r.macro_f1, 0.4, 1e-12);
  ASSERT_EQ(r.per_class.size(), 4u);
  EXPECT_EQ(r.per_class[3].name, "3");
  EXPECT_EQ(r.per_class[3].support, 0);
}

TEST(Metrics, PerfectAndEmpty) {
  const auto r = classification_report({1, 0, 1}, {1, 0, 1}, 2);
  EXPECT_DOUBLE_EQ(r.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.macro_f1, 1.0);
  const auto e = classification_report({}, {}, 2);
  EXPECT_EQ(e.accuracy, 0.0);
  EXPECT_EQ(e.macro_f1, 0.0);
}

TEST(Metrics, ClassificationErrors) {
  HEED_EXPECT_ERROR(classification_report({0, 1}, {0}, 2), "1 predictions for 2 gold");
  HEED_EXPECT_ERROR(classification_report({0, 3}, {0, 1}, 2), "gold label 3 at position 1");
  HEED_EXPECT_ERROR(classification_report({0, 1}, {0, -1}, 2), "prediction -1 at position 1");
}

// gold [1 2 3 4], pred [2 2 4 5]: MSE = (1 + 0 + 1 + 1) / 4 = 0.75;
// Pearson = 5.5 / sqrt(5 * 6.75); Spearman: pred ranks [1.5 1.5 3 4] -> 4.5 / sqrt(5 * 4.5).
TEST(Metrics, RegressionHandComputed) {
  const auto r = regression_report({1, 2, 3, 4}, {2, 2, 4, 5});
  EXPECT_DOUBLE_EQ(r.mse, 0.75);
  EXPECT_NEAR(r.pearson, 5.5 / std::sqrt(33.75), 1e-12);
  EXPECT_NEAR(r.spearman, 4.5 / std::sqrt(22.5), 1e-12);
  const nlohmann::json j = r.to_json();
  EXPECT_DOUBLE_EQ(j["mse"].get<double>(), 0.75);
}

// Zero variance: Pearson is undefined (NaN, as scipy), written to JSON as null.
TEST(Metrics, ConstantPredictionsGiveNullCorrelation) {
  const auto r = regression_report({1, 2, 3}, {2, 2, 2});
  EXPECT_TRUE(std::isnan(r.pearson));
  EXPECT_TRUE(r.to_json()["pearson"].is_null());
  EXPECT_NEAR(r.mse, 2.0 / 3, 1e-12);
}

}  // namespace
}  // namespace heed::train
