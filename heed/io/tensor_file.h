// TensorFile: the named tensors read from one checkpoint file (safetensors or torch),
// in file order, plus the file's string metadata. Tensors may be zero-copy read-only
// views over the memory-mapped file, which they keep alive.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::io {

struct TensorFile {
  std::string path;
  std::vector<std::string> names;               // file order
  std::map<std::string, std::string> metadata;  // safetensors __metadata__; empty for torch
  std::map<std::string, Tensor> tensors;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  // Errors name the file and the missing key.
  const Tensor& at(const std::string& name) const;
  // The tensor as f32 (BF16 and integer tensors are converted; F32 is returned as is).
  Tensor at_f32(const std::string& name) const;
};

}  // namespace heed::io
