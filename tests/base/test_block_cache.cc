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
// bytes mapped stay within the most ever in use at once.
TEST(BlockCache, ANewShapeEvictsOtherClassesInsteadOfGrowing) {
  trim_block_cache();
  const size_t mb = size_t(1) << 20;
  std::vector<std::pair<void*, size_t>> phase1;
  for (int i = 0; i < 6; ++i) {
    size_t size = 0;
    bool fresh = false;
    phase1.emplace_back(acquire_block(4 * mb, &size, &fresh), size);
  }
  for (auto& [p, size] : phase1) release_block(p, size);
  const BlockCacheStats before = block_cache_stats();
  EXPECT_GE(before.cached_bytes, int64_t(24 * mb));
  // Another phase with another size class, as large in total.
  std::vector<std::pair<void*, size_t>> phase2;
  for (int i = 0; i < 4; ++i) {
    size_t size = 0;
    bool fresh = false;
    phase2.emplace_back(acquire_block(6 * mb, &size, &fresh), size);
    const BlockCacheStats s = block_cache_stats();
    EXPECT_LE(s.mapped_bytes, s.max_in_use_bytes) << "request " << i;
  }
  EXPECT_LT(block_cache_stats().cached_bytes, before.cached_bytes);  // 4 MiB blocks went
  for (auto& [p, size] : phase2) release_block(p, size);
  trim_block_cache();
}

}  // namespace
}  // namespace heed
