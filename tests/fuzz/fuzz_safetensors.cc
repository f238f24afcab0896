// libFuzzer target for the safetensors reader (and, on what it accepts, the writer):
// any input must load or throw heed::Error; what loads must survive a save/load round
// trip unchanged. Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "heed/base/error.h"
#include "heed/io/safetensors.h"

namespace {

std::string bytes_of(const heed::Tensor& t) {
  const heed::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()),
                     size_t(c.numel()) * heed::dtype_size(c.dtype()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace heed::io;
  const std::span<const uint8_t> input(data, size);
  try {
    parse_safetensors(input, "fuzz.safetensors");  // copying path
  } catch (const heed::Error&) {
  }
  try {
    // Zero-copy path: tensors borrow `data` (alive for this call) when aligned.
    const auto file = parse_safetensors(input, "fuzz.safetensors", std::make_shared<int>(0));
    std::vector<std::pair<std::string, heed::Tensor>> tensors;
    for (const auto& name : file.names) tensors.emplace_back(name, file.at(name));
    const std::string saved = serialize_safetensors(tensors, file.metadata);
    const auto again = parse_safetensors(
        {reinterpret_cast<const uint8_t*>(saved.data()), saved.size()}, "fuzz.again");
    if (again.tensors.size() != file.tensors.size() || again.metadata != file.metadata)
      std::abort();
    for (const auto& [name, t] : file.tensors) {
      const heed::Tensor& u = again.at(name);
      if (u.dtype() != t.dtype() || u.shape() != t.shape() || bytes_of(u) != bytes_of(t))
        std::abort();
    }
  } catch (const heed::Error&) {
  }
  return 0;
}
