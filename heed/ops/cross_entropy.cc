#include "heed/ops/cross_entropy.h"

#include "heed/autograd/node.h"
#include "heed/kernels/cross_entropy.h"

namespace heed::ops {

using autograd::Node;

namespace {

struct CrossEntropyBackward : Node {
  Tensor logits, lse, targets;  // (N, V), (N), (N) contiguous
  std::vector<float> row_scale;  // d(reduced loss)/d(row loss)
  Reduction reduction;
  int64_t ignore_index;
  float label_smoothing;
  Shape logits_shape;
  const char* name() const override { return "cross_entropy"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    const int64_t N = logits.size(0), V = logits.size(1);
    std::vector<float> dloss(static_cast<size_t>(N));
    if (reduction == Reduction::None) {
      const std::vector<float> gv = g[0].to_vector();
      for (int64_t i = 0; i < N; ++i) dloss[size_t(i)] = gv[size_t(i)] * row_scale[size_t(i)];
    } else {
      const float gs = g[0].item();
      for (int64_t i = 0; i < N; ++i) dloss[size_t(i)] = gs * row_scale[size_t(i)];
    }
    Tensor dl = Tensor::zeros(logits_shape);
    kernels::cross_entropy_backward(dl.data<float>(), dloss.data(), logits.data<float>(),
                                    lse.data<float>(), targets.data<int64_t>(), N, V, ignore_index,
                                    label_smoothing);
    return {dl, Tensor()};
  }
};

}  // namespace

CrossEntropyTargets cross_entropy_targets(const char* op, const Tensor& targets, int64_t V,
                                          const CrossEntropyOptions& opt) {
  HEED_CHECK(opt.label_smoothing >= 0.0f && opt.label_smoothing <= 1.0f,
             "{}: label_smoothing must be in [0, 1], got {}", op, opt.label_smoothing);
  HEED_CHECK(!opt.class_weight.defined() || opt.label_smoothing == 0.0f,
             "{}: class weights with label smoothing are not supported", op);
  HEED_CHECK(!opt.class_weight.defined() || opt.class_weight.shape() == Shape{V},
             "{}: class_weight shape {} does not match {} classes", op,
             opt.class_weight.defined() ? opt.class_weight.shape() : Shape{}, V);
  CrossEntropyTargets r;
  r.targets = targets.to(DType::I64).contiguous();
  const int64_t N = r.targets.numel();
  const int64_t* pt = r.targets.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    HEED_CHECK(pt[i] == opt.ignore_index || (pt[i] >= 0 && pt[i] < V),
               "{}: target {} at position {} is out of range for {} classes", op, pt[i], i, V);
  const std::vector<float> cw =
      opt.class_weight.defined() ? opt.class_weight.to_vector() : std::vector<float>();
  r.weight.assign(static_cast<size_t>(N), 1.0f);
  for (int64_t i = 0; i < N; ++i) {
    if (pt[i] == opt.ignore_index) r.weight[size_t(i)] = 0.0f;
    else if (!cw.empty()) r.weight[size_t(i)] = cw[size_t(pt[i])];
    r.weight_sum += r.weight[size_t(i)];
  }
  return r;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& opt) {
  HEED_CHECK(logits.dtype() == DType::F32, "cross_entropy: logits must be f32, got {}",
             logits.dtype());
  HEED_CHECK(logits.ndim() >= 1, "cross_entropy: logits need a class dim, got {}", logits.shape());
  const int64_t V = logits.size(-1);
  const Shape tshape(std::vector<int64_t>(logits.shape().begin(), logits.shape().end() - 1));
  HEED_CHECK(targets.shape() == tshape,
             "cross_entropy: targets shape {} does not match logits {} (expected {})",
             targets.shape(), logits.shape(), tshape);
  const int64_t N = tshape.numel();
  const Tensor lc = logits.contiguous();
  const CrossEntropyTargets ct = cross_entropy_targets("cross_entropy", targets, V, opt);
  const Tensor& tc = ct.targets;
  const int64_t* pt = tc.data<int64_t>();
  std::vector<float> losses(static_cast<size_t>(N));
  Tensor lse = Tensor::empty(Shape{N});
  kernels::cross_entropy_forward(losses.data(), lse.data<float>(), lc.data<float>(), pt, N, V,
                                 opt.ignore_index, opt.label_smoothing);
  const std::vector<float>& w = ct.weight;
  const double wsum = ct.weight_sum;
  Tensor out;
  std::vector<float> row_scale(static_cast<size_t>(N));
  if (opt.reduction == Reduction::None) {
    out = Tensor::empty(tshape);
    float* o = out.data<float>();
    for (int64_t i = 0; i < N; ++i) {
      o[i] = losses[size_t(i)] * w[size_t(i)];
      row_scale[size_t(i)] = w[size_t(i)];
    }
  } else {
    // Mean over zero targets is 0/0 = NaN in torch; we keep that behaviour visible.
    const double denom = opt.reduction == Reduction::Mean ? wsum : 1.0;
    double acc = 0.0;
    for (int64_t i = 0; i < N; ++i) {
      acc += double(losses[size_t(i)]) * w[size_t(i)];
      row_scale[size_t(i)] = float(w[size_t(i)] / denom);
    }
    out = Tensor::scalar(float(acc / denom));
  }
  if (autograd::needs_grad({logits})) {
    auto n = std::make_shared<CrossEntropyBackward>();
    n->logits = lc.as_strided(Shape{N, V}, {V, 1}, lc.offset()).detach();
    n->lse = lse;
    n->targets = tc.as_strided(Shape{N}, {1}, tc.offset());
    n->row_scale = std::move(row_scale);
    n->reduction = opt.reduction;
    n->ignore_index = opt.ignore_index;
    n->label_smoothing = opt.label_smoothing;
    n->logits_shape = logits.shape();
    autograd::connect(n, {logits, targets}, {&out});
  }
  return out;
}

}  // namespace heed::ops
