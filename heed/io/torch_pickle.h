// PyTorch checkpoints (`pytorch_model.bin`, `.pt`) as written by torch.save of a state
// dict, torch >= 1.6: a zip of STORED entries <dir>/data.pkl (the pickled dict),
// <dir>/data/<key> (raw little-endian storage bytes), <dir>/version. We run only the
// pickle subset a state dict needs, with a whitelist of globals, so no code is executed.
// Tensor views keep their storage offset and strides; tensors sharing a torch storage
// (tied weights) share one heed Storage.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "heed/io/file_dtype.h"
#include "heed/io/tensor_file.h"
#include "heed/tensor/storage.h"
#include "heed/tensor/tensor.h"

namespace heed::io {

// Loads every tensor of a torch.save'd state dict. Float/BF16/int tensors view the
// mapped file in place (read-only); Half/Double become F32, Bool becomes U8. Malformed
// input of any kind is a heed::Error naming the file.
TensorFile load_torch_checkpoint(const std::string& path);

// Same, over bytes in memory (`path` only names them in messages). Tensors borrow
// `bytes` when `owner` keeps them alive, else they are copied.
TensorFile parse_torch_checkpoint(std::span<const uint8_t> bytes, const std::string& path,
                                  std::shared_ptr<const void> owner = nullptr);

// Supplies the storage behind persistent id ('storage', <type>, key, location, numel):
// numel elements of loaded_dtype(dtype). Called once per key.
using StorageLoader =
    std::function<std::shared_ptr<Storage>(const std::string& key, FileDType dtype, int64_t numel)>;

// Runs the pickle program `pickle` (data.pkl) and returns the state dict's (name, tensor)
// pairs in insertion order. Protocols 2-5; opcodes outside the state-dict subset and
// globals outside the whitelist are errors naming `path`.
std::vector<std::pair<std::string, Tensor>> unpickle_state_dict(std::span<const uint8_t> pickle,
                                                                const std::string& path,
                                                                const StorageLoader& load_storage);

}  // namespace heed::io
