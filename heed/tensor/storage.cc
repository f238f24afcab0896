#include "heed/tensor/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "heed/base/error.h"

namespace heed {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, bool zero) {
  std::shared_ptr<Storage> s(new Storage());
  const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) & ~size_t(63);
  s->data_ = std::aligned_alloc(64, rounded);
  HEED_CHECK(s->data_ != nullptr, "out of memory allocating {} bytes", nbytes);
  if (zero) std::memset(s->data_, 0, rounded);
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
  if (owned_) std::free(data_);
}

}  // namespace heed
