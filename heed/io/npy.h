// NumPy .npy arrays, as `heed forward` reads inputs and writes outputs. Format versions
// 1.0-3.0, C order, little-endian: '<f4', '<f8' and '<f2' (read as f32), '<i8', '<i4',
// '<i2'/'|i1'/'<u2' (read as i32), '<u4' (read as i64), '|u1', '|b1' (read as u8).
// Spec: numpy/lib/format.py
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "heed/tensor/tensor.h"

namespace heed::io {

// Returns an owned, writable, contiguous tensor. Fortran order, big-endian and structured
// dtypes are errors naming the file.
Tensor load_npy(const std::string& path);
Tensor parse_npy(std::span<const uint8_t> bytes, const std::string& path);

// Writes version 1.0 (2.0 if the header needs it) exactly as numpy.save lays it out.
// BF16 is written as '<f4' (numpy has no bfloat16). Atomic.
void save_npy(const std::string& path, const Tensor& t);
std::string serialize_npy(const Tensor& t);

}  // namespace heed::io
