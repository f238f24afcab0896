#include "heed/io/tensor_file.h"

namespace heed::io {

const Tensor& TensorFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  HEED_CHECK(it != tensors.end(), "{}: no tensor named '{}' ({} tensors in the file)", path, name,
             tensors.size());
  return it->second;
}

Tensor TensorFile::at_f32(const std::string& name) const { return at(name).to(DType::F32); }

}  // namespace heed::io
