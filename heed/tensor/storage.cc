#include "heed/tensor/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "heed/base/block_cache.h"
#include "heed/base/error.h"

namespace heed {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, bool zero) {
  std::shared_ptr<Storage> s(new Storage());
  const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) & ~size_t(63);
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool use_blocks = false;  // keep ASan's bounds checks on every tensor
#else
  constexpr bool use_blocks = true;
#endif
  if (use_blocks && rounded >= kMinBlockBytes) {
    bool fresh = false;
    s->data_ = acquire_block(rounded, &s->block_size_, &fresh);
    HEED_CHECK(s->data_ != nullptr, "out of memory allocating {} bytes", nbytes);
    if (zero && !fresh) std::memset(s->data_, 0, rounded);  // fresh mappings are zero
  } else {
    s->data_ = std::aligned_alloc(64, rounded);
    HEED_CHECK(s->data_ != nullptr, "out of memory allocating {} bytes", nbytes);
    if (zero) std::memset(s->data_, 0, rounded);
  }
  s->nbytes_ = nbytes;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t nbytes,
                                         std::shared_ptr<const void> owner, bool writable) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = data;
  s->nbytes_ = nbytes;
  s->owner_ = std::move(owner);
  s->writable_ = writable;
  return s;
}

Storage::~Storage() {
  if (!owned_) return;
  if (block_size_) release_block(data_, block_size_);
  else std::free(data_);
}

}  // namespace heed
