#include "heed/peft/adalora.h"

#include <algorithm>
#include <cmath>

#include "heed/autograd/node.h"
#include "heed/nn/init.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/linear.h"
#include "heed/ops/reduce.h"
#include "heed/ops/view.h"

namespace heed::peft {

AdaLoraLinear::AdaLoraLinear(const nn::Linear& base, const std::string& a, const AdaLoraOptions& o,
                             Generator& gen) {
  const int64_t in = base.config().in, out = base.config().out, r = o.r;
  HEED_CHECK(r >= 0, "AdaLoRA: rank must be >= 0, got {}", r);
  A_ = register_parameter("lora_A." + a, nn::init::normal(Shape{r, in}, 0.02f, gen));
  B_ = register_parameter("lora_B." + a, nn::init::normal(Shape{out, r}, 0.02f, gen));
  E_ = register_parameter("lora_E." + a, Tensor::zeros(Shape{r, 1}));
  const double scaling = o.alpha > 0 ? o.alpha : double(o.r);
  scale_ = float(scaling / (o.ranknum + 1e-5));
  drop_ = register_module("lora_dropout." + a, std::make_shared<nn::Dropout>(float(o.dropout)));
  auto buf = [&](const std::string& n, const Shape& s) { return register_buffer(n + "." + a, Tensor::zeros(s)); };
  imp_.ipt_A = buf("ipt_exp_avg_A", Shape{r, in});
  imp_.unc_A = buf("ipt_exp_unc_A", Shape{r, in});
  imp_.ipt_B = buf("ipt_exp_avg_B", Shape{out, r});
  imp_.unc_B = buf("ipt_exp_unc_B", Shape{out, r});
  imp_.ipt_E = buf("ipt_exp_avg_E", Shape{r, 1});
  imp_.unc_E = buf("ipt_exp_unc_E", Shape{r, 1});
  imp_.rank_mask = register_buffer("rank_mask." + a, Tensor::ones(Shape{r}));
}

Tensor AdaLoraLinear::forward(const nn::Linear& base, const Tensor& x) const {
  const Tensor y = base.forward_base(x);
  if (A_.size(0) == 0) return y;
  const Tensor ae = ops::mul(A_, E_);  // (r, in) * (r, 1)
  const Tensor h = ops::scale(drop_->forward_linear(x, ae), scale_);  // (..., r), as in LoRA
  return ops::add(y, ops::linear(h, B_));
}

Tensor AdaLoraLinear::delta_weight() const {
  autograd::NoGradGuard ng;
  return ops::scale(ops::matmul(B_, ops::mul(A_, E_)), scale_);
}

int64_t AdaLoraLinear::rank() const {
  int64_t n = 0;
  for (float k : imp_.rank_mask.to_vector()) n += k != 0.0f;
  return n;
}

Tensor AdaLoraLinear::orthogonality() const {
  auto fro_dist_to_eye = [](const Tensor& m) {  // || m - I ||_F for square m
    const int64_t n = m.size(0);
    Tensor eye = Tensor::zeros(Shape{n, n});
    for (int64_t i = 0; i < n; ++i) eye.data<float>()[i * n + i] = 1.0f;
    const Tensor d = ops::sub(m, eye);
    return ops::sqrt(ops::sum(ops::mul(d, d)));
  };
  return ops::add(fro_dist_to_eye(ops::matmul(A_, ops::transpose(A_, 0, 1))),
                  fro_dist_to_eye(ops::matmul(ops::transpose(B_, 0, 1), B_)));
}

RankAllocator::RankAllocator(std::vector<std::shared_ptr<AdaLoraLinear>> modules,
                             const RankSchedule& s)
    : modules_(std::move(modules)), s_(s) {
  HEED_CHECK(!modules_.empty(), "AdaLoRA: no adapted modules");
}

int64_t RankAllocator::budget_at(int64_t step, int64_t total_steps) const {
  const int64_t total = s_.total_step > 0 ? s_.total_step : total_steps;
  if (step <= s_.tinit) return init_budget();
  if (step > total - s_.tfinal) return target_budget();
  const double span = double(total - s_.tfinal - s_.tinit);
  const double mul = span > 0 ? 1.0 - double(step - s_.tinit) / span : 0.0;
  return int64_t(double(init_budget() - target_budget()) * mul * mul * mul + double(target_budget()));
}

int64_t RankAllocator::kept_ranks() const {
  int64_t n = 0;
  for (const auto& m : modules_) n += m->rank();
  return n;
}

void RankAllocator::update_importance() {
  const float b1 = float(s_.beta1), b2 = float(s_.beta2);
  for (const auto& m : modules_) {
    auto& imp = m->importance();
    auto upd = [&](const Tensor& p, Tensor& ipt, Tensor& unc) {
      const Tensor g = p.grad();
      if (!g.defined()) return;
      const Tensor gc = g.contiguous();
      const float* pp = p.data<float>();
      const float* pg = gc.data<float>();
      float* pi = ipt.data<float>();
      float* pu = unc.data<float>();
      for (int64_t i = 0; i < p.numel(); ++i) {
        const float cur = std::fabs(pp[i] * pg[i]);
        pi[i] = b1 * pi[i] + (1.0f - b1) * cur;
        pu[i] = b2 * pu[i] + (1.0f - b2) * std::fabs(cur - pi[i]);
      }
    };
    upd(m->lora_A(), imp.ipt_A, imp.unc_A);
    upd(m->lora_B(), imp.ipt_B, imp.unc_B);
    upd(m->lora_E(), imp.ipt_E, imp.unc_E);
  }
}

void RankAllocator::mask_to_budget(int64_t budget) {
  const int64_t k = init_budget() - budget;  // how many triplets to prune
  if (k <= 0) return;
  std::vector<std::vector<float>> scores;
  std::vector<float> all;
  for (const auto& m : modules_) {
    auto& imp = m->importance();
    const int64_t r = m->r(), in = m->lora_A().size(1), out = m->lora_B().size(0);
    std::vector<float> s(size_t(r), 0.0f);
    const float *ia = imp.ipt_A.data<float>(), *ua = imp.unc_A.data<float>();
    const float *ib = imp.ipt_B.data<float>(), *ub = imp.unc_B.data<float>();
    const float *ie = imp.ipt_E.data<float>(), *ue = imp.unc_E.data<float>();
    for (int64_t i = 0; i < r; ++i) {
      double a = 0, b = 0;
      for (int64_t j = 0; j < in; ++j) a += double(ia[i * in + j]) * ua[i * in + j];
      for (int64_t j = 0; j < out; ++j) b += double(ib[j * r + i]) * ub[j * r + i];
      s[size_t(i)] = ie[i] * ue[i] + float(a / double(in)) + float(b / double(out));
    }
    all.insert(all.end(), s.begin(), s.end());
    scores.push_back(std::move(s));
  }
  // torch.kthvalue(all, k): the k-th smallest; entries <= it are pruned.
  std::vector<float> sorted = all;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end());
  const float threshold = sorted[size_t(k - 1)];
  for (size_t mi = 0; mi < modules_.size(); ++mi) {
    float* e = modules_[mi]->lora_E().data<float>();
    float* keep = modules_[mi]->importance().rank_mask.data<float>();
    for (size_t i = 0; i < scores[mi].size(); ++i) {
      keep[i] = scores[mi][i] <= threshold ? 0.0f : 1.0f;
      if (keep[i] == 0.0f) e[i] = 0.0f;
    }
  }
}

void RankAllocator::apply_final_mask() {
  for (const auto& m : modules_) {
    float* e = m->lora_E().data<float>();
    const float* mask = m->importance().rank_mask.data<float>();
    for (int64_t i = 0; i < m->r(); ++i) e[i] *= mask[i];
  }
}

void RankAllocator::after_step(int64_t step, int64_t total_steps) {
  const int64_t total = s_.total_step > 0 ? s_.total_step : total_steps;
  const int64_t final_step = total - s_.tfinal;
  if (step < final_step) {
    update_importance();
    const bool mask = step > s_.tinit && step % s_.deltaT == 0;
    if (mask) mask_to_budget(budget_at(step, total_steps));
  } else if (step == final_step) {
    mask_to_budget(target_budget());  // the final pattern (rank_mask) from here on
    for (const auto& m : modules_) {  // reset the importances, as PEFT's reset_ipt
      auto& imp = m->importance();
      for (Tensor* t : {&imp.ipt_A, &imp.unc_A, &imp.ipt_B, &imp.unc_B, &imp.ipt_E, &imp.unc_E})
        t->fill_(0.0f);
    }
  } else {
    apply_final_mask();
  }
}

}  // namespace heed::peft
