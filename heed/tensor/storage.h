// Storage: a byte buffer that is either owned (64-byte aligned heap) or borrowed
// from a memory-mapped file (kept alive by `owner`), so checkpoints load zero-copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace heed {

class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t nbytes, bool zero = false);
  // Borrow nbytes at data; owner keeps the memory alive (e.g. a MappedFile). Read-only
  // memory is marked so in-place writes fail loudly.
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes,
                                         std::shared_ptr<const void> owner, bool writable);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  bool writable() const { return writable_; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  bool owned_ = false;
  size_t block_size_ = 0;  // > 0: a heed/base/block_cache block of this size
  bool writable_ = true;
  std::shared_ptr<const void> owner_;
};

}  // namespace heed
