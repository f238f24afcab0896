#include "heed/train/optimizer.h"

#include <cmath>

#include "heed/kernels/adamw.h"

namespace heed::train {

Optimizer::Optimizer(std::vector<ParamGroup> groups, float lr) : groups_(std::move(groups)), lr_(lr) {
  for (auto& g : groups_)
    for (auto& [name, p] : g.params) {
      HEED_CHECK(p.dtype() == DType::F32 && p.is_contiguous(),
                 "optimizer: parameter {} must be a contiguous f32 tensor", name);
      HEED_CHECK(p.storage()->writable(),
                 "optimizer: parameter {} is read-only (memory-mapped); load it with a copy", name);
    }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& [n, p] : g.params) p.zero_grad();
}

bool is_no_decay_name(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with("bias") || name.find("LayerNorm") != std::string::npos ||
         name.find("layer_norm") != std::string::npos || name.find("norm") != std::string::npos;
}

std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Tensor>>& named,
                                     float weight_decay) {
  ParamGroup decay{.params = {}, .weight_decay = weight_decay};
  ParamGroup no_decay{.params = {}, .weight_decay = 0.0f};
  for (const auto& [n, p] : named) {
    if (!p.requires_grad()) continue;
    (is_no_decay_name(n) ? no_decay : decay).params.emplace_back(n, p);
  }
  return {decay, no_decay};
}

SGD::SGD(std::vector<ParamGroup> groups, const SGDConfig& cfg)
    : Optimizer(std::move(groups), cfg.lr), cfg_(cfg) {
  for (auto& g : groups_) {
    momentum_.emplace_back();
    for (auto& [n, p] : g.params)
      momentum_.back().push_back(cfg.momentum > 0 ? Tensor::zeros(p.shape()) : Tensor());
  }
}

void SGD::step() {
  ++t_;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& g = groups_[gi];
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor& p = g.params[i].second;
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      const Tensor gc = grad.contiguous();
      float* pp = p.data<float>();
      const float* pg = gc.data<float>();
      float* pm = momentum_[gi][i].defined() ? momentum_[gi][i].data<float>() : nullptr;
      for (int64_t j = 0; j < p.numel(); ++j) {
        float d = pg[j] + g.weight_decay * pp[j];
        if (pm) {
          pm[j] = t_ == 1 ? d : cfg_.momentum * pm[j] + d;
          d = pm[j];
        }
        pp[j] -= lr_ * d;
      }
    }
  }
}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWConfig& cfg)
    : Optimizer(std::move(groups), cfg.lr), cfg_(cfg) {
  for (auto& g : groups_)
    for (auto& [n, p] : g.params) {
      m_.push_back(Tensor::zeros(p.shape()));
      v_.push_back(Tensor::zeros(p.shape()));
    }
}

void AdamW::step() {
  ++t_;
  const float bc1 = 1.0f - float(std::pow(double(cfg_.beta1), double(t_)));
  const float bc2 = 1.0f - float(std::pow(double(cfg_.beta2), double(t_)));
  size_t k = 0;
  for (auto& g : groups_) {
    const kernels::AdamWHyper h{.lr = lr_, .beta1 = cfg_.beta1, .beta2 = cfg_.beta2,
                                .eps = cfg_.eps, .weight_decay = g.weight_decay,
                                .bias_correction1 = bc1, .bias_correction2 = bc2};
    for (auto& [n, p] : g.params) {
      const Tensor grad = p.grad();
      if (grad.defined()) {
        const Tensor gc = grad.contiguous();
        kernels::adamw_update(p.data<float>(), m_[k].data<float>(), v_[k].data<float>(),
                              gc.data<float>(), p.numel(), h);
      }
      ++k;
    }
  }
}

float clip_grad_norm(const std::vector<Tensor>& params, float max_norm) {
  double sq = 0.0;
  for (const auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor gc = g.contiguous();
    const float* pg = gc.data<float>();
    for (int64_t i = 0; i < gc.numel(); ++i) sq += double(pg[i]) * pg[i];
  }
  const float norm = float(std::sqrt(sq));
  const float coef = max_norm / (norm + 1e-6f);
  if (coef < 1.0f) {
    for (const auto& p : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      HEED_CHECK(g.is_contiguous(), "clip_grad_norm: gradients must be contiguous");
      float* pg = g.data<float>();
      for (int64_t i = 0; i < g.numel(); ++i) pg[i] *= coef;
    }
  }
  return norm;
}

}  // namespace heed::train
