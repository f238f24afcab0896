#include "heed/autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "heed/autograd/engine.h"

namespace heed::autograd {

namespace {
double projected(const Tensor& out, const std::vector<float>& r) {
  const std::vector<float> o = out.to_vector();
  double acc = 0.0;
  for (size_t i = 0; i < o.size(); ++i) acc += double(o[i]) * double(r[i]);
  return acc;
}
}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  GradcheckResult res;
  Generator gen(opt.seed);
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) {
      HEED_CHECK(t.is_leaf(), "gradcheck: inputs must be leaf tensors");
      HEED_CHECK(t.storage()->writable(), "gradcheck: inputs must be writable");
      t.impl().grad.reset();
    }

  Tensor out = f(inputs);
  HEED_CHECK(out.dtype() == DType::F32, "gradcheck: f must return an f32 tensor, got {}",
             out.dtype());
  Tensor R = Tensor::randn(out.shape(), gen);
  const std::vector<float> r = R.to_vector();
  if (out.requires_grad()) backward(out, R);

  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    const Tensor g = x.grad();
    const std::vector<float> analytic =
        g.defined() ? g.to_vector() : std::vector<float>(size_t(x.numel()), 0.0f);
    // Perturb the elements through a contiguous view of the same storage.
    HEED_CHECK(x.is_contiguous(), "gradcheck: input {} must be contiguous", k);
    float* p = x.data<float>();
    std::vector<int64_t> idx(size_t(x.numel()));
    std::iota(idx.begin(), idx.end(), 0);
    if (int64_t(idx.size()) > opt.max_checks_per_input) {
      for (size_t i = idx.size() - 1; i > 0; --i) std::swap(idx[i], idx[gen.randint(i + 1)]);
      idx.resize(size_t(opt.max_checks_per_input));
    }
    NoGradGuard ng;
    for (int64_t i : idx) {
      const float orig = p[i];
      p[i] = orig + opt.eps;
      const double lp = projected(f(inputs), r);
      p[i] = orig - opt.eps;
      const double lm = projected(f(inputs), r);
      p[i] = orig;
      // Divide by the perturbation actually applied (orig +- eps is rounded in f32).
      const double h = double(orig + opt.eps) - double(orig - opt.eps);
      const double numeric = (lp - lm) / h;
      const double a = analytic[size_t(i)];
      const double err = std::abs(a - numeric);
      res.max_abs_err = std::max(res.max_abs_err, err);
      res.max_rel_err = std::max(res.max_rel_err, err / std::max(std::abs(numeric), 1e-12));
      ++res.checked;
      if (res.ok && err > opt.atol + opt.rtol * std::abs(numeric)) {
        res.ok = false;
        res.message = fmt::format("input {} (shape {}) element {}: analytic {} vs numeric {}", k,
                                  x.shape(), i, a, numeric);
      }
    }
  }
  return res;
}

}  // namespace heed::autograd
