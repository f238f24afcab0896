// Node: one recorded operation in the backward graph. An op's forward creates a
// Node subclass holding what its backward needs, and `connect` links it to the
// op's inputs (edges) and outputs (grad_fn). Keep forward and backward of an op in
// one file (heed/ops/<op>.cc).
#pragma once

#include <memory>
#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::autograd {

// Where an input's gradient goes: the node that produced it (with the output index),
// or, for a leaf that requires grad, the leaf itself.
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t output_nr = 0;
  std::shared_ptr<TensorImpl> leaf;
  Shape shape;  // the input's shape, to check the gradient returned for it
  bool active() const { return fn != nullptr || leaf != nullptr; }
};

class Node {
 public:
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // grads[i] is the gradient of output i (undefined if it received none; backward must
  // treat that as zeros). Returns one gradient per input, same shape as that input, or an
  // undefined tensor where the input needs none (see needs_input_grad).
  virtual std::vector<Tensor> backward(const std::vector<Tensor>& grads) = 0;

  bool needs_input_grad(size_t i) const { return i < next.size() && next[i].active(); }
  std::vector<Edge> next;  // one per input
  uint32_t num_outputs = 1;
};

// Grad mode: when off (NoGradGuard), ops record nothing. Thread-local.
bool grad_enabled();
void set_grad_enabled(bool on);

class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and some input requires grad (directly or through history).
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `node` as the grad_fn of outputs (output i gets output_nr i) with edges to
// inputs. Call only when needs_grad(inputs) is true.
void connect(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
             const std::vector<Tensor*>& outputs);

}  // namespace heed::autograd
