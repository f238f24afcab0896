#include "heed/train/early_stopping.h"

#include <cmath>
#include <limits>
#include <vector>

#include "heed/base/error.h"

namespace heed::train {

using nlohmann::json;

EarlyStopping::EarlyStopping(EarlyStoppingConfig cfg, ImproveFn on_improve)
    : cfg_(std::move(cfg)), on_improve_(std::move(on_improve)) {
  HEED_CHECK(!cfg_.metric.empty(), "early stopping: no metric named");
  HEED_CHECK(cfg_.patience >= 0, "early stopping: patience must not be negative, got {}",
             cfg_.patience);
}

bool EarlyStopping::improves(double v) const {
  if (!has_best()) return true;
  if (std::isnan(v)) return false;
  if (std::isnan(best_)) return true;
  return cfg_.greater_is_better ? v > best_ : v < best_;
}

void EarlyStopping::after_eval(int64_t step, const std::map<std::string, double>& metrics) {
  const auto it = metrics.find(cfg_.metric);
  if (it == metrics.end()) {
    std::vector<std::string> names;
    for (const auto& [k, v] : metrics) names.push_back(k);
    HEED_FAIL("early stopping: the evaluation has no metric '{}' (it has: {})", cfg_.metric,
              fmt::join(names, ", "));
  }
  if (improves(it->second)) {
    best_ = it->second;
    best_step_ = step;
    bad_evals_ = 0;
    best_info_ = on_improve_ ? on_improve_(step, metrics) : json(nullptr);
  } else {
    ++bad_evals_;
    if (cfg_.patience > 0 && bad_evals_ >= cfg_.patience) stopped_ = true;
  }
}

json EarlyStopping::state() const {
  return {{"metric", cfg_.metric},
          {"best", std::isfinite(best_) ? json(best_) : json(nullptr)},
          {"best_is_nan", std::isnan(best_)},
          {"best_step", best_step_},
          {"evals_without_improvement", bad_evals_},
          {"stopped", stopped_},
          {"best_info", best_info_}};
}

void EarlyStopping::restore(const json& s) {
  try {
    HEED_CHECK(s.at("metric") == cfg_.metric,
               "early stopping: the checkpoint selects on '{}' but this run on '{}'",
               s.at("metric").get<std::string>(), cfg_.metric);
    const json& b = s.at("best");
    best_ = b.is_null() ? (s.at("best_is_nan").get<bool>() ? std::numeric_limits<double>::quiet_NaN()
                                                            : 0.0)
                        : b.get<double>();
    best_step_ = s.at("best_step").get<int64_t>();
    bad_evals_ = s.at("evals_without_improvement").get<int64_t>();
    // A run resumed with more patience than it stopped with carries on.
    stopped_ = cfg_.patience > 0 && bad_evals_ >= cfg_.patience;
    best_info_ = s.at("best_info");
  } catch (const json::exception& e) {
    HEED_FAIL("early stopping: malformed checkpoint state: {}", e.what());
  }
}

}  // namespace heed::train
