// Bad shapes raise heed::Error naming the op and the shapes involved.
#include <gtest/gtest.h>

#include "heed/ops/ops.h"

namespace heed {

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(BadShapes, ErrorsNameOpAndShapes) {
  using namespace ops;
  const Tensor a = Tensor::zeros(Shape{2, 3}), b = Tensor::zeros(Shape{4, 5});
  EXPECT_EQ(error_of([&] { add(a, b); }), "add: shapes (2, 3) and (4, 5) cannot be broadcast");
  EXPECT_EQ(error_of([&] { matmul(a, b); }), "matmul: inner dims differ: (2, 3) @ (4, 5)");
  EXPECT_EQ(error_of([&] { linear(a, b); }),
            "linear: input (2, 3) does not match weight (4, 5) (last dim must be 5)");
  EXPECT_EQ(error_of([&] { reshape(a, Shape{4, 2}); }),
            "reshape: cannot view (2, 3) (6 elements) as (4, 2)");
  EXPECT_EQ(error_of([&] { layer_norm(a, Tensor::ones(Shape{4}), Tensor()); }),
            "layer_norm: weight shape (4,) does not match input (2, 3) (expected (3,))");
  const Tensor q = Tensor::zeros(Shape{1, 2, 3, 8}), k = Tensor::zeros(Shape{1, 2, 4, 16});
  EXPECT_EQ(error_of([&] { scaled_dot_product_attention(q, k, k); }),
            "attention: q (1, 2, 3, 8) and k (1, 2, 4, 16) differ in batch, heads or head dim");
  EXPECT_EQ(error_of([&] {
              cross_entropy(a, Tensor::from_vector<int64_t>({0, 5}, Shape{2}));
            }),
            "cross_entropy: target 5 at position 1 is out of range for 3 classes");
  EXPECT_EQ(error_of([&] {
              embedding(a, Tensor::from_vector<int64_t>({2}, Shape{1}));
            }),
            "embedding: id 2 at position 0 is out of range for a table of 2 rows");
  EXPECT_EQ(error_of([&] { transpose(a, 0, 2); }), "transpose: dim 2 out of range for a 2-d tensor");
  EXPECT_EQ(error_of([&] { concat({a, b}, 0); }),
            "concat: shapes (2, 3) and (4, 5) differ outside dim 0");
}

}  // namespace heed
