#include "heed/base/block_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace heed {

namespace {

struct Cached {
  void* p;
  uint64_t seq;  // release order, for least-recently-released eviction
};

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<Cached>> free_lists;  // per class, newest last
  std::map<uint64_t, size_t> lru;                               // seq -> class size
  uint64_t seq = 0;
  int64_t mapped = 0, cached = 0, max_in_use = 0, hits = 0, misses = 0;
  int64_t limit = std::numeric_limits<int64_t>::max();  // HEED_BLOCK_CACHE_MB

  Cache() {
    if (const char* e = std::getenv("HEED_BLOCK_CACHE_MB")) {
      char* end = nullptr;
      const long long mb = std::strtoll(e, &end, 10);
      if (end != e && *end == '\0' && mb >= 0) limit = int64_t(mb) << 20;
    }
  }

  // Removes the least recently released block from the cache (caller unmaps it).
  std::pair<void*, size_t> pop_oldest() {
    const auto it = lru.begin();
    const uint64_t s = it->first;
    const size_t size = it->second;
    lru.erase(it);
    auto& list = free_lists[size];
    const auto pos = std::find_if(list.begin(), list.end(), [&](const Cached& c) { return c.seq == s; });
    void* p = pos->p;
    list.erase(pos);
    cached -= int64_t(size);
    mapped -= int64_t(size);
    return {p, size};
  }
};

// Headroom over the peak in use before a miss evicts: without it, a step whose blocks are
// all cached can still miss on a small class at a moment when in-use + cached is at the
// peak, evict a large cached block that the same step needs later, and from then on map
// (and page-fault) that block every step.
}  // namespace

int64_t block_cache_slack(int64_t max_in_use) {
  return std::max<int64_t>(int64_t(32) << 20, max_in_use / 8);
}

namespace {

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destructors
  return *c;
}

void unmap_all(const std::vector<std::pair<void*, size_t>>& blocks) {
  for (const auto& [p, size] : blocks) ::munmap(p, size);
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
  std::vector<std::pair<void*, size_t>> evicted;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(size);
    if (it != c.free_lists.end() && !it->second.empty()) {
      const Cached b = it->second.back();
      it->second.pop_back();
      c.lru.erase(b.seq);
      c.cached -= int64_t(size);
      ++c.hits;
      *fresh = false;
      return b.p;
    }
    ++c.misses;
    // A miss maps a new block. Cached blocks of other classes (an earlier phase's shapes)
    // go first, oldest first, so that what is mapped never exceeds the most that was ever
    // in use at once: RSS follows the live peak, as a non-caching allocator's would.
    const int64_t in_use_after = c.mapped - c.cached + int64_t(size);
    const int64_t keep = std::max<int64_t>(0, c.max_in_use + block_cache_slack(c.max_in_use) - in_use_after);
    while (c.cached > keep) evicted.push_back(c.pop_oldest());
  }
  unmap_all(evicted);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    trim_block_cache();  // every cached block may be what is missing
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.mapped += int64_t(size);
    c.max_in_use = std::max(c.max_in_use, c.mapped - c.cached);
  }
  *fresh = true;
  return p;
}

void release_block(void* p, size_t size) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + int64_t(size) <= c.limit) {
      const uint64_t s = ++c.seq;
      c.free_lists[size].push_back({p, s});
      c.lru.emplace(s, size);
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
  return {c.mapped, c.cached, c.hits, c.misses, c.max_in_use};
}

void trim_block_cache() {
  std::vector<std::pair<void*, size_t>> out;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    while (!c.lru.empty()) out.push_back(c.pop_oldest());
  }
  unmap_all(out);
}

}  // namespace heed
