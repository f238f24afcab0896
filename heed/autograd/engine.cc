#include "heed/autograd/engine.h"

#include <unordered_map>

#include "heed/base/parallel.h"

namespace heed::autograd {

namespace {

// dst += src (same shape, both f32; dst contiguous and owned by the engine).
void accumulate_into(Tensor& dst, const Tensor& src) {
  const Tensor s = src.contiguous();
  float* d = dst.data<float>();
  const float* p = s.data<float>();
  const int64_t n = dst.numel();
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] += p[i];
  });
}

// A fresh, engine-owned gradient buffer initialised from g (never aliases g, since
// a node may return one of its saved tensors or its incoming gradient).
Tensor own_copy(const Tensor& g) { return g.clone(); }

void add_grad(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;  // adopt; copied on the second accumulation
  } else {
    // The adopted tensor may be shared: by other views of its storage, or by other
    // handles of the same TensorImpl (AddSubBackward hands the same gradient to both of
    // its inputs). Accumulating in place would then change their values too.
    if (slot.storage().use_count() > 1 || slot.impl_ptr().use_count() > 1 || !slot.is_contiguous())
      slot = own_copy(slot);
    accumulate_into(slot, g);
  }
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad_output) {
  HEED_CHECK(root.defined(), "backward: undefined root tensor");
  HEED_CHECK(root.requires_grad(),
             "backward: the tensor does not require grad (no parameter with requires_grad "
             "contributed to it, or it was computed under NoGradGuard)");
  Tensor g0 = grad_output;
  if (!g0.defined()) {
    HEED_CHECK(root.numel() == 1,
               "backward: a gradient must be given for a non-scalar root of shape {}",
               root.shape());
    g0 = Tensor::ones(root.shape());
  }
  HEED_CHECK(g0.shape() == root.shape(), "backward: gradient shape {} differs from root shape {}",
             g0.shape(), root.shape());
  NoGradGuard no_grad;  // backward computations record nothing

  if (root.is_leaf()) {
    Tensor slot = root.grad();
    add_grad(slot, g0.clone());
    root.impl().grad = slot.impl_ptr();
    return;
  }

  // Dependency counts: how many edges point at each node.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{root.grad_fn().get()};
  deps[root.grad_fn().get()] = 0;
  std::unordered_map<Node*, bool> seen{{root.grad_fn().get(), true}};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e.fn) continue;
      deps[e.fn.get()] += 1;
      if (!seen[e.fn.get()]) {
        seen[e.fn.get()] = true;
        stack.push_back(e.fn.get());
      }
    }
  }

  std::unordered_map<Node*, std::vector<Tensor>> pending;
  pending[root.grad_fn().get()].resize(root.grad_fn()->num_outputs);
  pending[root.grad_fn().get()][root.impl().output_nr] = g0;
  std::vector<Node*> ready{root.grad_fn().get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    std::vector<Tensor> grads = std::move(pending[n]);
    pending.erase(n);
    grads.resize(n->num_outputs);
    std::vector<Tensor> in_grads = n->backward(grads);
    HEED_CHECK(in_grads.size() == n->next.size(),
               "autograd: {} returned {} gradients for {} inputs", n->name(), in_grads.size(),
               n->next.size());
    for (size_t i = 0; i < n->next.size(); ++i) {
      Edge& e = n->next[i];
      if (!e.active()) continue;
      Tensor& g = in_grads[i];
      if (g.defined()) {
        HEED_CHECK(g.shape() == e.shape,
                   "autograd: {} returned a gradient of shape {} for input {} of shape {}",
                   n->name(), g.shape(), i, e.shape);
      }
      if (e.fn) {
        auto& slots = pending[e.fn.get()];
        slots.resize(e.fn->num_outputs);
        if (g.defined()) add_grad(slots[e.output_nr], g);
        if (--deps[e.fn.get()] == 0) ready.push_back(e.fn.get());
      } else if (g.defined()) {
        Tensor slot = e.leaf->grad ? Tensor(e.leaf->grad) : Tensor();
        if (!slot.defined()) {
          slot = g.clone();  // leaf grads are always owned and contiguous
        } else {
          accumulate_into(slot, g);
        }
        e.leaf->grad = slot.impl_ptr();
      }
    }
  }
}

}  // namespace heed::autograd
