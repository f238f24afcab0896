// Reverse-mode engine: walks the graph from `root` in reverse topological order,
// accumulating gradients, and adds leaf gradients into Tensor::grad() (so repeated
// backward calls accumulate, as in PyTorch).
#pragma once

#include "heed/autograd/node.h"

namespace heed::autograd {

// grad_output defaults to 1 for a one-element root; otherwise it is required.
void backward(const Tensor& root, const Tensor& grad_output = Tensor());

}  // namespace heed::autograd
