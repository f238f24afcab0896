#include "heed/base/block_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace heed {

namespace {

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  int64_t mapped = 0, cached = 0, hits = 0, misses = 0;
  int64_t limit = int64_t(1024) << 20;

  Cache() {
    if (const char* e = std::getenv("HEED_BLOCK_CACHE_MB")) {
      char* end = nullptr;
      const long long mb = std::strtoll(e, &end, 10);
      if (end != e && *end == '\0' && mb >= 0) limit = int64_t(mb) << 20;
    }
  }
  // Blocks still cached at exit go back with the process.
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destructors
  return *c;
}

}  // namespace

size_t block_size_class(size_t n) {
  size_t top = size_t(1);
  while (top <= n / 2) top <<= 1;  // the largest power of two <= n
  const size_t g = std::max<size_t>(size_t(64) << 10, top / 8);
  return (n + g - 1) / g * g;
}

void* acquire_block(size_t n, size_t* size_out, bool* fresh) {
  const size_t size = block_size_class(n);
  *size_out = size;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(size);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= int64_t(size);
      ++c.hits;
      *fresh = false;
      return p;
    }
    ++c.misses;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    trim_block_cache();  // cached blocks of other sizes may be what is missing
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.mapped += int64_t(size);
  }
  *fresh = true;
  return p;
}

void release_block(void* p, size_t size) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + int64_t(size) <= c.limit) {
      c.free_lists[size].push_back(p);
      c.cached += int64_t(size);
      return;
    }
    c.mapped -= int64_t(size);
  }
  ::munmap(p, size);
}

BlockCacheStats block_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.mapped, c.cached, c.hits, c.misses};
}

void trim_block_cache() {
  std::vector<std::pair<void*, size_t>> out;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    for (auto& [size, list] : c.free_lists) {
      for (void* p : list) out.emplace_back(p, size);
      list.clear();
    }
    c.mapped -= c.cached;
    c.cached = 0;
  }
  for (auto& [p, size] : out) ::munmap(p, size);
}

}  // namespace heed
