#include "heed/io/checkpoint_io.h"

#include "heed/base/error.h"
#include "heed/io/safetensors.h"
#include "heed/io/torch_pickle.h"

namespace heed::io {

namespace {
bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

TensorFile load_checkpoint(const std::string& path) {
  if (ends_with(path, ".safetensors")) return load_safetensors(path);
  if (ends_with(path, ".bin") || ends_with(path, ".pt") || ends_with(path, ".pth"))
    return load_torch_checkpoint(path);
  HEED_FAIL("{}: unknown checkpoint format (expected .safetensors, .bin, .pt or .pth)", path);
}

std::map<std::string, Tensor> load_state_dict(const std::string& path) {
  return load_checkpoint(path).tensors;
}

}  // namespace heed::io
