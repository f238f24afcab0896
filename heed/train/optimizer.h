// Optimizers update parameters in place from their .grad(). Only parameters that
// require grad are given to an optimizer, and only they get state.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::train {

struct ParamGroup {
  std::vector<std::pair<std::string, Tensor>> params;
  float weight_decay = 0.0f;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  void set_lr(float lr) { lr_ = lr; }
  float lr() const { return lr_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  int64_t step_count() const { return t_; }

 protected:
  Optimizer(std::vector<ParamGroup> groups, float lr);
  std::vector<ParamGroup> groups_;
  float lr_;
  int64_t t_ = 0;
};

// Splits named parameters into a decayed group and a no-decay group: biases and
// LayerNorm weights (names ending in "bias", or containing "LayerNorm"/"layer_norm"/"norm"),
// the usual BERT recipe. Frozen parameters (requires_grad false) are left out.
std::vector<ParamGroup> decay_groups(const std::vector<std::pair<std::string, Tensor>>& named,
                                     float weight_decay);
bool is_no_decay_name(const std::string& name);

struct SGDConfig {
  float lr = 1e-2f, momentum = 0.0f;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, const SGDConfig& cfg);
  void step() override;

 private:
  SGDConfig cfg_;
  std::vector<std::vector<Tensor>> momentum_;
};

struct AdamWConfig {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
};

// torch.optim.AdamW semantics (decoupled weight decay per group).
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWConfig& cfg);
  void step() override;
  const AdamWConfig& config() const { return cfg_; }
  // State for checkpoints: m and v per parameter, in group order.
  std::vector<Tensor>& exp_avg() { return m_; }
  std::vector<Tensor>& exp_avg_sq() { return v_; }
  void set_step_count(int64_t t) { t_ = t; }

 private:
  AdamWConfig cfg_;
  std::vector<Tensor> m_, v_;
};

// Scales all gradients so their global L2 norm is at most max_norm (torch's
// clip_grad_norm_: factor min(1, max_norm / (norm + 1e-6))). Returns the norm before.
float clip_grad_norm(const std::vector<Tensor>& params, float max_norm);

}  // namespace heed::train
