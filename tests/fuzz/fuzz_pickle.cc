// libFuzzer target for the torch checkpoint reader. Inputs starting with "PK" go through
// the whole zip + pickle path; anything else is run as data.pkl with zero-filled
// storages, which reaches the pickle machine far faster. Any input must load or throw
// heed::Error. Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstdint>
#include <memory>
#include <span>

#include "heed/base/error.h"
#include "heed/io/torch_pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace heed::io;
  const std::span<const uint8_t> input(data, size);
  try {
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
      const auto file = parse_torch_checkpoint(input, "fuzz.bin", std::make_shared<int>(0));
      for (const auto& [name, t] : file.tensors) (void)t.to_vector();  // touch every element
    } else {
      const StorageLoader zeros = [](const std::string&, FileDType dtype, int64_t numel) {
        HEED_CHECK(numel <= (int64_t(1) << 16), "fuzz: storage of {} elements", numel);
        return heed::Storage::allocate(size_t(numel) * heed::dtype_size(loaded_dtype(dtype)), true);
      };
      for (const auto& [name, t] : unpickle_state_dict(input, "fuzz.pkl", zeros))
        (void)t.to_vector();
    }
  } catch (const heed::Error&) {
  }
  return 0;
}
