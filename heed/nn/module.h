// Module: owns named parameters and child modules. A parameter's full name is its
// Hugging Face checkpoint key (children joined with '.'), so loading and saving need
// no mapping tables. Child names may be dotted ("attention.self") or empty (the
// child's parameters then appear directly under the parent's prefix).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "heed/base/rng.h"
#include "heed/tensor/tensor.h"

namespace heed::nn {

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Parameters in registration order, depth first, with full names.
  std::vector<std::pair<std::string, Tensor>> named_parameters(const std::string& prefix = "") const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;
  // This module (named `prefix`) and every descendant, depth first, with full names. A
  // child registered under "" shares its parent's name.
  std::vector<std::pair<std::string, Module*>> named_modules(const std::string& prefix = "");
  // Parameters plus buffers (non-trainable state such as position_ids), for saving.
  std::vector<std::pair<std::string, Tensor>> state_dict(const std::string& prefix = "") const;

  // Copies matching tensors in (converting dtype; shapes must match exactly, else an
  // error naming the key and both shapes). Returns the keys that were not found.
  struct LoadResult {
    std::vector<std::string> missing_keys, unexpected_keys;
  };
  LoadResult load_state_dict(const std::map<std::string, Tensor>& sd, const std::string& prefix = "");

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Dropout draws from this generator (shared by the whole tree). Never a hidden global.
  void set_generator(std::shared_ptr<Generator> gen);
  const std::shared_ptr<Generator>& generator() const { return gen_; }

  void zero_grad();
  // Freezes or unfreezes every parameter (requires_grad).
  void requires_grad(bool on);

 protected:
  // Returns a handle that shares the registered tensor (keep it as a member).
  Tensor register_parameter(const std::string& name, Tensor init);
  Tensor register_buffer(const std::string& name, Tensor init);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::shared_ptr<Generator> gen_;
};

// "a" + "b" -> "a.b"; empty parts are skipped.
std::string join_name(const std::string& a, const std::string& b);

}  // namespace heed::nn
