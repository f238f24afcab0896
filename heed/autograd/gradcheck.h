// gradcheck: compares the analytic gradient of any function of tensors with central
// finite differences. Public, so users can check their own ops.
//
// With a fixed random projection R (same shape as f's output), it compares
//   d/dx sum(f(x) * R)   from autograd (backward(f(x), R))
// with (L(x + eps e_i) - L(x - eps e_i)) / 2eps, L evaluated in double from f32 outputs.
// Inputs are f32, so tolerances are those of f32 finite differences (see defaults).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::autograd {

struct GradcheckOptions {
  float eps = 1e-3f;
  double atol = 1e-3;
  double rtol = 1e-2;
  uint64_t seed = 1234;
  // At most this many elements per input are perturbed (a seeded random subset).
  int64_t max_checks_per_input = 512;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0.0;
  double max_rel_err = 0.0;
  int64_t checked = 0;
  std::string message;  // the first failure: input, index, analytic and numeric values
};

// Inputs that should be checked must have requires_grad set (others are held fixed).
// f must be deterministic (no dropout unless seeded identically on every call).
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace heed::autograd
