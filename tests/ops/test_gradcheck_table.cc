// One table of ops: each row gets a finite-difference gradient check on random
// inputs of awkward sizes (1, 7, 63, 65, 768), some rows through non-contiguous views.
#include <gtest/gtest.h>

#include <functional>

#include "heed/autograd/engine.h"
#include "heed/autograd/gradcheck.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Row {
  std::string name;
  std::vector<Shape> shapes;  // f32 inputs (all require grad)
  Fn f;
  double rtol = 1e-2, atol = 1e-3;
  // Central differences in f32: eps 1e-2 keeps rounding noise (~1e-4) well under the
  // tolerance while the truncation error (eps^2 f'''/6) stays ~1e-5. Ops with kinks
  // (relu, max) use 1e-3 so that a perturbation rarely crosses one.
  float eps = 1e-2f;
};

Tensor ids(std::vector<int64_t> v, Shape s) { return Tensor::from_vector(v, s); }

std::vector<Row> rows() {
  using namespace ops;
  std::vector<Row> r;
  r.push_back({"add_broadcast", {{7, 65}, {65}}, [](auto& x) { return add(x[0], x[1]); }});
  r.push_back({"sub_broadcast_both", {{1, 7}, {63, 1}}, [](auto& x) { return sub(x[0], x[1]); }});
  r.push_back({"mul_noncontig", {{65, 7}, {7, 65}},
               [](auto& x) { return mul(transpose(x[0], 0, 1), x[1]); }});
  r.push_back({"div", {{7, 7}, {7}},
               [](auto& x) { return div(x[0], add_scalar(mul(x[1], x[1]), 1.0f)); }});
  r.push_back({"scale", {{63}}, [](auto& x) { return scale(x[0], -1.5f); }});
  r.push_back({"add_scalar", {{1}}, [](auto& x) { return add_scalar(x[0], 3.0f); }});
  // sqrt on inputs kept away from 0 (x*x + 1), where finite differences are accurate.
  r.push_back({"sqrt", {{7, 65}}, [](auto& x) { return sqrt(add_scalar(mul(x[0], x[0]), 1.0f)); }});
  r.push_back({"sum_all", {{7, 65}}, [](auto& x) { return sum(x[0]); }});
  r.push_back({"sum_dim", {{7, 63, 3}}, [](auto& x) { return sum(x[0], 1); }});
  r.push_back({"mean_dim_keepdim", {{7, 65}}, [](auto& x) { return mean(x[0], -1, true); }});
  r.push_back({"mean_all", {{65}}, [](auto& x) { return mean(x[0]); }});
  r.push_back({"max_dim", {{7, 65}}, [](auto& x) { return max(x[0], 1); }, 1e-2, 1e-3, 1e-3f});
  r.push_back({"gelu", {{7, 65}}, [](auto& x) { return gelu(x[0]); }});
  r.push_back({"gelu_tanh", {{768}}, [](auto& x) { return gelu_tanh(x[0]); }});
  r.push_back({"relu", {{63}}, [](auto& x) { return relu(x[0]); }, 1e-2, 1e-3, 1e-3f});
  r.push_back({"tanh", {{7, 7}}, [](auto& x) { return tanh(x[0]); }});
  r.push_back({"softmax_last", {{7, 65}}, [](auto& x) { return softmax(x[0], -1); }});
  r.push_back({"softmax_dim0_noncontig", {{63, 7}},
               [](auto& x) { return softmax(transpose(x[0], 0, 1), 0); }});
  r.push_back({"softmax_768", {{2, 768}}, [](auto& x) { return softmax(x[0], -1); }});
  r.push_back({"log_softmax", {{7, 63}}, [](auto& x) { return log_softmax(x[0], -1); }});
  r.push_back({"layer_norm", {{7, 65}, {65}, {65}},
               [](auto& x) { return layer_norm(x[0], x[1], x[2], 1e-5f); }});
  r.push_back({"layer_norm_768_noncontig", {{768, 3}, {768}, {768}},
               [](auto& x) { return layer_norm(transpose(x[0], 0, 1), x[1], x[2], 1e-12f); }});
  r.push_back({"layer_norm_7_no_affine", {{1, 7}},
               [](auto& x) { return layer_norm(x[0], Tensor(), Tensor(), 1e-5f); }});
  r.push_back({"linear", {{3, 7, 65}, {63, 65}, {63}},
               [](auto& x) { return linear(x[0], x[1], x[2]); }});
  r.push_back({"linear_noncontig_nobias", {{65, 7}, {1, 65}},
               [](auto& x) { return linear(transpose(x[0], 0, 1), x[1]); }});
  r.push_back({"matmul_batched", {{2, 7, 65}, {2, 65, 7}},
               [](auto& x) { return matmul(x[0], x[1]); }});
  r.push_back({"matmul_shared_b", {{2, 3, 7}, {7, 5}}, [](auto& x) { return matmul(x[0], x[1]); }});
  r.push_back({"matmul_broadcast_a", {{7, 63}, {2, 63, 5}},
               [](auto& x) { return matmul(x[0], x[1]); }});
  // (padding_idx is tested on its own below: its row deliberately gets no gradient.)
  r.push_back({"embedding_repeated_ids", {{7, 5}}, [](auto& x) {
                 return embedding(x[0], ids({1, 3, 3, 0, 6, 2}, Shape{2, 3}));
               }});
  r.push_back({"dropout_seeded", {{7, 65}}, [](auto& x) {
                 Generator g(99);
                 return dropout(x[0], 0.3f, g, true);
               }});
  r.push_back({"dropout_linear_seeded", {{3, 5, 65}, {4, 65}}, [](auto& x) {
                 Generator g(99);
                 return dropout_linear(x[0], x[1], 0.3f, g, true);
               }});
  r.push_back({"dropout_linear_noncontig", {{65, 7}, {2, 65}}, [](auto& x) {
                 Generator g(5);
                 return dropout_linear(transpose(x[0], 0, 1), x[1], 0.5f, g, true);
               }});
  r.push_back({"concat_split", {{2, 3}, {2, 4}}, [](auto& x) {
                 Tensor c = concat({x[0], x[1]}, 1);
                 auto parts = split(c, {5, 2}, 1);
                 return mul(parts[0], parts[0]);
               }});
  r.push_back({"views", {{2, 3, 4}}, [](auto& x) {
                 Tensor v = permute(x[0], {2, 0, 1});                 // (4, 2, 3)
                 v = reshape(contiguous(v), Shape{8, 3});
                 v = slice(v, 0, 1, 8, 2);                             // (4, 3)
                 v = unsqueeze(select(v, 1, 2), 0);                    // (1, 4)
                 return mul(squeeze(v, 0), squeeze(v, 0));
               }});
  r.push_back({"cross_entropy_smooth_ignore", {{6, 7}}, [](auto& x) {
                 CrossEntropyOptions o;
                 o.label_smoothing = 0.1f;
                 return cross_entropy(x[0], ids({0, 6, -100, 3, 3, 1}, Shape{6}), o);
               }});
  r.push_back({"cross_entropy_sum_weighted", {{2, 3, 5}}, [](auto& x) {
                 CrossEntropyOptions o;
                 o.reduction = Reduction::Sum;
                 o.class_weight = Tensor::from_vector<float>({1, 2, 0.5f, 1, 3}, Shape{5});
                 return cross_entropy(x[0], ids({0, 4, 2, 3, 1, 1}, Shape{2, 3}), o);
               }});
  r.push_back({"cross_entropy_none", {{4, 65}}, [](auto& x) {
                 CrossEntropyOptions o;
                 o.reduction = Reduction::None;
                 return cross_entropy(x[0], ids({64, 0, 7, 1}, Shape{4}), o);
               }});
  // Fused head: chunks of 2 rows (so dW and db accumulate over chunks), smoothing, ignore.
  r.push_back({"linear_cross_entropy_chunked", {{3, 2, 9}, {7, 9}, {7}}, [](auto& x) {
                 CrossEntropyOptions o;
                 o.label_smoothing = 0.1f;
                 return linear_cross_entropy(x[0], x[1], x[2],
                                             ids({0, 6, -100, 3, 3, 1}, Shape{3, 2}), o, 2);
               }});
  r.push_back({"linear_cross_entropy_sum_weighted_nobias", {{5, 9}, {7, 9}}, [](auto& x) {
                 CrossEntropyOptions o;
                 o.reduction = Reduction::Sum;
                 o.class_weight = Tensor::from_vector<float>({1, 2, 0.5f, 1, 3, 1, 1}, Shape{7});
                 return linear_cross_entropy(x[0], x[1], Tensor(), ids({0, 4, 2, 6, 1}, Shape{5}), o);
               }});
  r.push_back({"attention_cross_padded", {{2, 2, 7, 16}, {2, 2, 5, 16}, {2, 2, 5, 16}}, [](auto& x) {
                 AttentionOptions o;
                 o.mask = ids({1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, Shape{2, 5});
                 return scaled_dot_product_attention(x[0], x[1], x[2], o).out;
               }});
  r.push_back({"attention_causal_noncontig", {{1, 7, 3, 32}, {1, 3, 7, 32}, {1, 3, 7, 32}},
               [](auto& x) {
                 AttentionOptions o;
                 o.causal = true;
                 return scaled_dot_product_attention(transpose(x[0], 1, 2), x[1], x[2], o).out;
               }});
  r.push_back({"attention_additive_mask_dropout", {{1, 2, 5, 8}, {1, 2, 6, 8}, {1, 2, 6, 8}},
               [](auto& x) {
                 Generator g(7);
                 AttentionOptions o;
                 o.mask = Tensor::from_vector<float>({0, -1, 0, -1e9f, 0.5f, 0}, Shape{6});
                 o.dropout_p = 0.2f;
                 o.gen = &g;
                 return scaled_dot_product_attention(x[0], x[1], x[2], o).out;
               }});
  return r;
}

class OpGradcheck : public ::testing::TestWithParam<Row> {};

TEST_P(OpGradcheck, MatchesFiniteDifferences) {
  const Row& row = GetParam();
  Generator gen(std::hash<std::string>{}(row.name));
  std::vector<Tensor> in;
  for (const auto& s : row.shapes) in.push_back(Tensor::randn(s, gen).set_requires_grad(true));
  autograd::GradcheckOptions opt;
  opt.rtol = row.rtol;
  opt.atol = row.atol;
  opt.eps = row.eps;
  const auto res = autograd::gradcheck(row.f, in, opt);
  EXPECT_TRUE(res.ok) << row.name << ": " << res.message;
  EXPECT_GT(res.checked, 0);
}

TEST(Embedding, PaddingRowGetsNoGradient) {
  Generator gen(1);
  Tensor w = Tensor::randn(Shape{7, 5}, gen).set_requires_grad(true);
  autograd::backward(ops::sum(ops::embedding(w, ids({1, 0, 3, 0}, Shape{4}), 0)));
  const auto g = w.grad().to_vector();
  for (int c = 0; c < 5; ++c) {
    EXPECT_EQ(g[size_t(c)], 0.0f);       // row 0 = padding_idx
    EXPECT_EQ(g[size_t(5 + c)], 1.0f);   // row 1 used once
    EXPECT_EQ(g[size_t(15 + c)], 1.0f);  // row 3 used once
  }
}

// The blocked kernel draws exactly philox_uniform(seed, offset + i) per element, also
// across parallel chunk boundaries that are not multiples of four.
TEST(Dropout, MaskIsPhiloxUniformOfTheIndex) {
  Generator g(1234);
  (void)g.reserve(10);  // a non-zero starting offset
  const uint64_t offset = g.offset();
  const int64_t n = 100003;
  const Tensor y = ops::dropout(Tensor::ones(Shape{n}), 0.3f, g, true);
  const auto v = y.to_vector();
  for (int64_t i = 0; i < n; ++i) {
    const float want = philox_uniform(1234, offset + uint64_t(i)) >= 0.3f ? 1.0f / 0.7f : 0.0f;
    ASSERT_EQ(v[size_t(i)], want) << i;
  }
}

// The fused op is the composition, bit for bit: same draws, same values, same gradients.
TEST(DropoutLinear, EqualsLinearOfDropoutBitForBit) {
  Generator init(3);
  const Tensor x0 = Tensor::randn(Shape{2, 9, 33}, init), w0 = Tensor::randn(Shape{4, 33}, init);
  const Tensor probe = Tensor::randn(Shape{2, 9, 4}, init);
  auto run = [&](bool fused) {
    Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
    Generator g(17);
    const Tensor y = fused ? ops::dropout_linear(x, w, 0.25f, g, true)
                           : ops::linear(ops::dropout(x, 0.25f, g, true), w);
    autograd::backward(ops::sum(ops::mul(y, probe)));
    return std::vector<std::vector<float>>{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(),
                                           {float(g.reserve(1))}};
  };
  const auto a = run(true), b = run(false);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "output " << i;
  // Some of x's gradient is dropped (the mask is applied), none of it is NaN.
  int zeros = 0;
  for (float v : a[1]) zeros += v == 0.0f;
  EXPECT_GT(zeros, 0);
}

INSTANTIATE_TEST_SUITE_P(Table, OpGradcheck, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return info.param.name; });

}  // namespace

}  // namespace heed
