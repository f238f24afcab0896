#include "heed/nn/module.h"

namespace heed::nn {

std::string join_name(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "." + b;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [n, t] : params_) out.emplace_back(join_name(prefix, n), t);
  for (const auto& [n, c] : children_) {
    auto sub = c->named_parameters(join_name(prefix, n));
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> out{{prefix, this}};
  for (auto& [n, c] : children_) {
    auto sub = c->named_modules(join_name(prefix, n));
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [n, t] : params_) out.emplace_back(join_name(prefix, n), t);
  for (const auto& [n, t] : buffers_) out.emplace_back(join_name(prefix, n), t);
  for (const auto& [n, c] : children_) {
    auto sub = c->state_dict(join_name(prefix, n));
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

Module::LoadResult Module::load_state_dict(const std::map<std::string, Tensor>& sd,
                                           const std::string& prefix) {
  LoadResult r;
  std::map<std::string, bool> used;
  for (auto& [name, t] : state_dict(prefix)) {
    auto it = sd.find(name);
    if (it == sd.end()) {
      r.missing_keys.push_back(name);
      continue;
    }
    HEED_CHECK(it->second.shape() == t.shape(),
               "load_state_dict: {} has shape {} in the checkpoint but {} in the model", name,
               it->second.shape(), t.shape());
    t.copy_(it->second);
    used[name] = true;
  }
  for (auto& [name, t] : sd)
    if (!used.count(name)) r.unexpected_keys.push_back(name);
  return r;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::set_generator(std::shared_ptr<Generator> gen) {
  gen_ = gen;
  for (auto& [n, c] : children_) c->set_generator(gen);
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.zero_grad();
}

void Module::requires_grad(bool on) {
  for (auto& [n, t] : named_parameters()) t.set_requires_grad(on);
}

Tensor Module::register_parameter(const std::string& name, Tensor init) {
  init.set_requires_grad(true);
  params_.emplace_back(name, std::move(init));
  return params_.back().second;
}

Tensor Module::register_buffer(const std::string& name, Tensor init) {
  buffers_.emplace_back(name, std::move(init));
  return buffers_.back().second;
}

}  // namespace heed::nn
