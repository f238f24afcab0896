// Element types as stored in checkpoint files (safetensors, torch, npy): a superset of
// heed::DType. Types heed lacks are widened on load (F16/F64 -> F32, I8/I16/U16 -> I32,
// U32 -> I64, BOOL -> U8); the rest are viewed zero-copy where possible.
#pragma once

#include <fmt/format.h>  // heed/tensor/dtype.h formats with fmt but does not include it

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "heed/tensor/dtype.h"
#include "heed/tensor/storage.h"

namespace heed::io {

// Declared in the order of the reference Rust `Dtype` enum (huggingface/safetensors,
// safetensors/src/tensor.rs), which is increasing alignment: the safetensors writer
// sorts by this order, descending.
enum class FileDType : uint8_t { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64 };

size_t file_dtype_size(FileDType t);
std::string_view file_dtype_name(FileDType t);  // safetensors spelling: "F32", "BOOL", ...
std::optional<FileDType> file_dtype_from_name(std::string_view name);
DType loaded_dtype(FileDType t);  // what heed holds a tensor of this file type as
FileDType file_dtype_of(DType t);

// A storage of `numel` elements of `loaded_dtype(t)` made from little-endian file bytes at
// `data`. Zero-copy (read-only, kept alive by `owner`) when the type needs no widening,
// `owner` is set and `data` is aligned for the type; otherwise a converted owned copy.
std::shared_ptr<Storage> load_storage(const uint8_t* data, int64_t numel, FileDType t,
                                      const std::shared_ptr<const void>& owner);

// a * b, or nullopt when the product overflows int64 (sizes read from untrusted files).
std::optional<int64_t> checked_mul(int64_t a, int64_t b);

}  // namespace heed::io
