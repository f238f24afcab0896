#include "heed/tensor/tensor.h"

#include <gtest/gtest.h>

namespace heed {

// Large tensors come from heed/base/block_cache, which reuses freed blocks as they are:
// zeros() must still clear a reused one.
TEST(Tensor, ZerosFromAReusedLargeBlockAreZero) {
  const Shape big{3, 1 << 19};  // 6 MiB
  { const Tensor t = Tensor::full(big, 3.0f); }
  const Tensor z = Tensor::zeros(big);
  for (float v : z.to_vector()) ASSERT_EQ(v, 0.0f);
}

TEST(Tensor, CreationAndAccess) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.data<float>()[4], 5.0f);
  EXPECT_THROW(t.data<int64_t>(), Error);
  EXPECT_THROW(Tensor::from_vector<float>({1, 2}, Shape{3}), Error);
}

TEST(Tensor, StridedViewsAndContiguous) {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor tt = t.as_strided(Shape{3, 2}, {1, 3}, 0);  // transpose
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // Views share storage.
  t.data<float>()[0] = 10;
  EXPECT_EQ(tt.to_vector()[0], 10.0f);
  EXPECT_EQ(c.to_vector()[0], 1.0f);
}

TEST(Tensor, DtypeConversion) {
  Tensor t = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f}, Shape{3});
  Tensor b = t.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(b.to_vector(), (std::vector<float>{1.5f, -2.0f, 3.25f}));
  Tensor ids = Tensor::from_vector<int64_t>({(int64_t(1) << 40) + 1, 2}, Shape{2});
  EXPECT_EQ(ids.to(DType::I64).to_ids()[0], (int64_t(1) << 40) + 1);
  EXPECT_EQ(Tensor::from_vector<int32_t>({7, 8}, Shape{2}).to(DType::I64).to_ids()[1], 8);
}

TEST(Tensor, Broadcast) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 1, 4}, Shape{3, 1}, "t"), (Shape{2, 3, 4}));
  try {
    broadcast_shapes(Shape{2, 3}, Shape{4}, "add");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "add: shapes (2, 3) and (4,) cannot be broadcast");
  }
}

TEST(Tensor, RandomIsSeeded) {
  Generator g1(5), g2(5);
  EXPECT_EQ(Tensor::randn(Shape{10}, g1).to_vector(), Tensor::randn(Shape{10}, g2).to_vector());
}

TEST(Tensor, CopyIntoReadOnlyFails) {
  std::vector<float> buf{1, 2};
  auto st = Storage::borrow(buf.data(), 8, nullptr, false);
  Tensor t = Tensor::from_storage(st, Shape{2}, DType::F32);
  EXPECT_THROW(t.copy_(Tensor::zeros(Shape{2})), Error);
  EXPECT_THROW(Tensor::from_storage(st, Shape{3}, DType::F32), Error);
}

}  // namespace heed
