// Hook points where parameter-efficient fine-tuning (heed/peft) changes a model without
// changing its modules: a Linear's computation (LoRA, AdaLoRA, IA3), extra keys and
// values an attention layer attends to (prefix tuning), and a transform of a sublayer's
// output before its residual connection (bottleneck adapters).
//
// The base model's modules and parameter names stay as they are (so a base checkpoint
// still loads and saves unchanged); the hook objects live in heed/peft, which owns their
// parameters and installs or removes them. nn only knows these interfaces.
#pragma once

#include "heed/tensor/tensor.h"

namespace heed::nn {

class Linear;

// Replaces Linear::forward: computes the layer's output from the base layer (whose
// forward_base() is the plain x W^T + b) and the input x (..., in).
class LinearHook {
 public:
  virtual ~LinearHook() = default;
  virtual Tensor forward(const Linear& base, const Tensor& x) const = 0;
};

// Keys and values prepended to an attention layer's own, (B, H, P, D) each; every query
// may attend to all P of them (the padding mask is extended with P ones).
struct KeyValuePrefix {
  Tensor key, value;
};

class AttentionPrefixHook {
 public:
  virtual ~AttentionPrefixHook() = default;
  virtual KeyValuePrefix prefix(int64_t batch) const = 0;
};

// Maps a sublayer's output h (B, T, C) to a new one of the same shape, applied after the
// sublayer's dropout and before the residual add (Houlsby et al. 2019 adapter placement).
class SublayerHook {
 public:
  virtual ~SublayerHook() = default;
  virtual Tensor forward(const Tensor& h) const = 0;
};

}  // namespace heed::nn
