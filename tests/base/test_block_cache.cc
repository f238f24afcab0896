// The large-block cache under tensor storage: size classes, reuse, the byte limit, and
// that zeros() from a reused (stale) block is still zero.
#include <gtest/gtest.h>

#include <cstring>

#include "heed/base/block_cache.h"

namespace heed {
namespace {

TEST(BlockCache, SizeClassesCoverTheRequestWithBoundedWaste) {
  for (size_t n : {kMinBlockBytes, kMinBlockBytes + 1, size_t(1) << 20, (size_t(1) << 20) + 7,
                   size_t(3) << 20, size_t(16777216) - 1, size_t(16777216) + 4096,
                   size_t(123456789)}) {
    const size_t c = block_size_class(n);
    EXPECT_GE(c, n) << n;
    EXPECT_EQ(c % (size_t(64) << 10), 0u) << n;
    // Waste at most 1/8 of the request's power of two, or one 64 KiB granule.
    EXPECT_LE(c - n, std::max<size_t>(size_t(64) << 10, n / 8)) << n;
  }
  // Nearby sizes (e.g. padded lengths 121 and 127 of a batch of 32) share a class.
  EXPECT_EQ(block_size_class(32 * 121 * 1024 * 4), block_size_class(32 * 127 * 1024 * 4));
}

TEST(BlockCache, ReleasedBlocksAreReusedAndTrimmedBack) {
  trim_block_cache();
  const BlockCacheStats s0 = block_cache_stats();
  size_t size = 0;
  bool fresh = false;
  void* p = acquire_block(size_t(5) << 20, &size, &fresh);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(fresh);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
  for (size_t i = 0; i < size; ++i) ASSERT_EQ(static_cast<unsigned char*>(p)[i], 0) << i;
  std::memset(p, 0xab, size);
  release_block(p, size);
  EXPECT_EQ(block_cache_stats().cached_bytes, s0.cached_bytes + int64_t(size));

  size_t size2 = 0;
  void* q = acquire_block((size_t(5) << 20) - 100, &size2, &fresh);  // same class
  EXPECT_EQ(q, p);
  EXPECT_EQ(size2, size);
  EXPECT_FALSE(fresh);
  EXPECT_EQ(static_cast<unsigned char*>(q)[0], 0xab);  // stale: the caller must clear
  release_block(q, size2);
  trim_block_cache();
  const BlockCacheStats s1 = block_cache_stats();
  EXPECT_EQ(s1.cached_bytes, 0);
  EXPECT_EQ(s1.mapped_bytes, s0.mapped_bytes - s0.cached_bytes);
}

// Blocks cached from one phase's shapes make way for another's: after any request the
// bytes mapped stay within the most ever in use at once, plus the slack.
TEST(BlockCache, ANewShapeEvictsOtherClassesInsteadOfGrowing) {
  trim_block_cache();
  const size_t mb = size_t(1) << 20;
  std::vector<std::pair<void*, size_t>> phase1;
  for (int i = 0; i < 6; ++i) {
    size_t size = 0;
    bool fresh = false;
    phase1.emplace_back(acquire_block(40 * mb, &size, &fresh), size);
  }
  for (auto& [p, size] : phase1) release_block(p, size);
  const BlockCacheStats before = block_cache_stats();
  EXPECT_GE(before.cached_bytes, int64_t(240 * mb));
  // Another phase with another size class, as large in total.
  std::vector<std::pair<void*, size_t>> phase2;
  for (int i = 0; i < 4; ++i) {
    size_t size = 0;
    bool fresh = false;
    phase2.emplace_back(acquire_block(60 * mb, &size, &fresh), size);
    const BlockCacheStats s = block_cache_stats();
    EXPECT_LE(s.mapped_bytes, s.max_in_use_bytes + block_cache_slack(s.max_in_use_bytes))
        << "request " << i;
  }
  EXPECT_LT(block_cache_stats().cached_bytes, before.cached_bytes);  // 4 MiB blocks went
  for (auto& [p, size] : phase2) release_block(p, size);
  trim_block_cache();
}

// A step that frees a large block and then asks for a new small class must not evict the
// large block (which the next step needs): after the first step, every request hits.
// (Without the slack this pattern missed on both blocks every step.)
TEST(BlockCache, ASteadyStepStopsMissing) {
  trim_block_cache();
  const size_t mb = size_t(1) << 20;
  // The big block sets a new peak in use (the peak is process-wide); it is never touched,
  // so it costs address space only.
  const size_t big_bytes = size_t(block_cache_stats().max_in_use_bytes) + 256 * mb;
  int64_t misses_after_first = 0;
  for (int step = 0; step < 5; ++step) {
    size_t big_size = 0, small_size = 0;
    bool fresh = false;
    void* big = acquire_block(big_bytes, &big_size, &fresh);
    ASSERT_NE(big, nullptr);
    release_block(big, big_size);
    void* small = acquire_block(16 * mb, &small_size, &fresh);
    ASSERT_NE(small, nullptr);
    release_block(small, small_size);
    if (step == 0) misses_after_first = block_cache_stats().misses;
  }
  EXPECT_EQ(block_cache_stats().misses, misses_after_first);
  trim_block_cache();
}

}  // namespace
}  // namespace heed
