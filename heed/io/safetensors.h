// Hugging Face safetensors: u64 little-endian header length N | N bytes of JSON header |
// data. Loading memory-maps the file and views tensors in place (zero-copy); saving
// reproduces the reference writer's layout byte for byte.
// Spec and reference: https://github.com/huggingface/safetensors (safetensors/src/tensor.rs).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "heed/io/file_dtype.h"
#include "heed/io/tensor_file.h"
#include "heed/tensor/tensor.h"

namespace heed::io {

using SafetensorsFile = TensorFile;

// Loads and strictly validates a .safetensors file. F32/BF16/I32/I64/U8/BOOL tensors are
// read-only views over the mapping when aligned (else copies); F16/F64 become F32,
// I8/I16/U16 become I32, U32 becomes I64. Every error is a heed::Error naming the file
// (and the tensor key when one is at fault).
SafetensorsFile load_safetensors(const std::string& path);

// Same, over bytes in memory; `path` is only used in messages. Tensors borrow `bytes`
// when `owner` (which must keep them alive) is set, else they are copied.
SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& path,
                                  std::shared_ptr<const void> owner = nullptr);

// Writes tensors (non-contiguous ones are made contiguous) and string metadata,
// atomically. Layout as the reference writer: tensors sorted by dtype alignment
// (descending) then name, "__metadata__" first (omitted when empty), compact JSON padded
// with spaces to a multiple of 8, data contiguous from offset 0. Metadata keys are
// written sorted (the reference's HashMap order is unspecified). Tensors sharing storage
// are written as separate copies (the Python package refuses them instead).
// `store_as` narrows named tensors to a file type heed has no in-memory dtype for:
// an I32 tensor stored as I8 (values must lie in [-128, 127], else an error naming the
// tensor; load_safetensors reads it back as I32). No other narrowing is supported.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      const std::map<std::string, FileDType>& store_as = {});

// The bytes save_safetensors writes.
std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata = {},
                                  const std::map<std::string, FileDType>& store_as = {});

}  // namespace heed::io
