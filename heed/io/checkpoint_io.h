// One entry point for loading a checkpoint's tensors, whatever its format.
#pragma once

#include <map>
#include <string>

#include "heed/io/tensor_file.h"
#include "heed/tensor/tensor.h"

namespace heed::io {

// Picks the reader by extension: .safetensors -> load_safetensors; .bin, .pt, .pth ->
// load_torch_checkpoint. Other extensions are an error naming the path.
TensorFile load_checkpoint(const std::string& path);

// load_checkpoint(path).tensors: name -> tensor (read-only views where zero-copy).
std::map<std::string, Tensor> load_state_dict(const std::string& path);

}  // namespace heed::io
