// Large memory blocks for tensor storage, mapped from the OS and cached for reuse.
//
// Why not plain malloc: a training step frees and re-allocates the same few hundred
// activation-sized blocks every step. glibc serves them from the brk heap once its
// dynamic mmap threshold has risen (after the first free of a mapped block), and the
// heap fragments: peak RSS of a BERT-mini LoRA step was 1.36x its live tensor bytes
// (measured with MALLOC_MMAP_THRESHOLD_ fixed). Mapping every block instead returns
// memory exactly but pays page faults on every step (+20-30% step time). This cache
// maps large blocks once, keeps freed ones in per-size-class free lists (sizes rounded
// to 1/8 of their power of two, so varying sequence lengths share classes), and hands
// them back on the next request of that class: no page faults in steady state and no heap
// fragmentation. A request that misses first unmaps cached blocks of other classes, least
// recently released first, so the bytes mapped never exceed the most ever in use at once
// plus a slack (block_cache_slack: 1/8 of it, at least 32 MiB); when the shapes change,
// e.g. from training to evaluation batches, the old ones go. The slack matters: with none,
// a step whose blocks are all cached can miss on a small class at a moment when in-use +
// cached is at the peak, evict a large block that the same step needs later, and then map
// and page-fault that block on every step (a BERT-mini MLM step with 480 MiB logits spent
// 35% of its time in the kernel that way).
//
// Limit: HEED_BLOCK_CACHE_MB caps the cached bytes; freed blocks beyond it go back to the
// OS at once (default: no cap beyond the rule above; 0 disables caching, every large block
// is unmapped on free). Small requests (< kMinBlockBytes) are not handled here.
// Sanitizer builds bypass the cache (aligned_alloc keeps ASan's checks on tensors).
#pragma once

#include <cstddef>
#include <cstdint>

namespace heed {

constexpr size_t kMinBlockBytes = size_t(256) << 10;

// The size a request of n bytes (>= kMinBlockBytes) is served with: n rounded up to a
// multiple of max(64 KiB, 2^floor(log2 n) / 8).
size_t block_size_class(size_t n);

// A block of at least n bytes, 4096-aligned. *fresh is true when it was just mapped (its
// bytes are zero), false when it came from the cache (its bytes are stale). Returns null
// when the OS refuses the mapping. size_out receives the block's class size, which
// release_block needs back.
void* acquire_block(size_t n, size_t* size_out, bool* fresh);
void release_block(void* p, size_t size);

struct BlockCacheStats {
  int64_t mapped_bytes = 0;  // held from the OS now: in use + cached
  int64_t cached_bytes = 0;  // free, kept for reuse
  int64_t hits = 0, misses = 0;
  int64_t max_in_use_bytes = 0;  // the most ever in use at once (mapped - cached)
};
BlockCacheStats block_cache_stats();
// How far the bytes mapped may exceed the most ever in use at once.
int64_t block_cache_slack(int64_t max_in_use);
// Unmaps every cached block (e.g. between phases with different shapes).
void trim_block_cache();

}  // namespace heed
