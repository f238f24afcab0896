// cross_entropy: ref against a hand-computed 3-class example with label smoothing and
// finite differences; fast against ref on awkward vocab sizes (and 30522) for every SIMD
// target, with ignored rows; -inf logits.
// Tolerances: loss and lse 1e-5 abs + 1e-6 rel; dlogits 1e-7 abs + 1e-5 rel.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "heed/kernels/cross_entropy.h"
#include "tests/kernels/rowwise_test_util.h"

namespace heed::kernels {
namespace {

using testing::all_close;
using testing::randn;
constexpr int64_t kIgnore = -100;  // torch's default ignore_index

TEST(CrossEntropyRef, HandValues) {
  // logits [1, 2, 3]: lse = log(e + e^2 + e^3) = 3.40760596444438, mean(x) = 2.
  const float x[6] = {1, 2, 3, 1, 2, 3};
  const int64_t t[2] = {0, kIgnore};
  float loss[2], lse[2];
  cross_entropy_forward_ref(loss, lse, x, t, 2, 3, kIgnore, 0.0f);
  EXPECT_NEAR(lse[0], 3.40760596444438, 1e-6);
  EXPECT_NEAR(loss[0], 2.40760596444438, 1e-6);  // lse - x[0]
  EXPECT_EQ(loss[1], 0.0f);                      // ignored
  // ls = 0.1: 0.9 * (lse - 1) + 0.1 * (lse - 2) = 2.30760596444438
  cross_entropy_forward_ref(loss, lse, x, t, 2, 3, kIgnore, 0.1f);
  EXPECT_NEAR(loss[0], 2.30760596444438, 1e-6);
  EXPECT_EQ(loss[1], 0.0f);
  // Gradient: softmax - (0.9 onehot + 0.1 / 3) for the first row; the ignored row untouched.
  float d[6] = {0, 0, 0, 5, 5, 5};
  const float dloss[2] = {1, 1};
  cross_entropy_backward_ref(d, dloss, x, lse, t, 2, 3, kIgnore, 0.1f);
  EXPECT_NEAR(d[0], 0.09003057317038046 - 0.9 - 0.1 / 3, 1e-6);
  EXPECT_NEAR(d[1], 0.24472847105479764 - 0.1 / 3, 1e-6);
  EXPECT_NEAR(d[2], 0.6652409557748219 - 0.1 / 3, 1e-6);
  EXPECT_EQ(d[3], 5.0f);
}

// Independent double forward of sum_n dloss_n * loss_n.
double ce_loss(const std::vector<double>& x, const std::vector<int64_t>& t,
               const std::vector<float>& dloss, int64_t V, double ls) {
  double total = 0;
  for (size_t r = 0; r < t.size(); ++r) {
    if (t[r] == kIgnore) continue;
    const double* row = x.data() + r * size_t(V);
    double mx = row[0], s = 0, sx = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, row[v]);
    for (int64_t v = 0; v < V; ++v) s += std::exp(row[v] - mx), sx += row[v];
    const double lse = mx + std::log(s);
    total += dloss[r] * ((1 - ls) * (lse - row[t[r]]) + ls * (lse - sx / double(V)));
  }
  return total;
}

TEST(CrossEntropyRef, BackwardMatchesFiniteDifferences) {
  const int64_t N = 3, V = 7;
  const float ls = 0.2f;
  const auto xf = randn(N * V, 1), dloss = randn(N, 2);
  const std::vector<int64_t> t = {4, kIgnore, 0};
  std::vector<float> loss(N), lse(N), d(size_t(N * V), 0.0f);
  cross_entropy_forward_ref(loss.data(), lse.data(), xf.data(), t.data(), N, V, kIgnore, ls);
  cross_entropy_backward_ref(d.data(), dloss.data(), xf.data(), lse.data(), t.data(), N, V, kIgnore,
                             ls);
  std::vector<double> x(xf.begin(), xf.end());
  for (size_t i = 0; i < x.size(); ++i) {
    const double fd =
        testing::central_difference([&](auto& v) { return ce_loss(v, t, dloss, V, ls); }, x, i);
    EXPECT_NEAR(d[i], fd, 1e-5) << i;
  }
}

// For every SIMD target, vocab size (awkward ones and 30522) and smoothing (0, 0.1): random
// logits, upstream gradients and targets (~20% ignored, row 0 always), seeded from V + seed.
template <class F>
void for_each_case(uint64_t seed, F&& f) {
  testing::for_each_target([&] {
    std::vector<int64_t> vocab = testing::awkward_sizes();
    vocab.push_back(30522);
    for (const int64_t V : vocab) {
      for (const float ls : {0.0f, 0.1f}) {
        const int64_t N = V > 1000 ? 9 : 37;
        SCOPED_TRACE(::testing::Message() << "N " << N << " V " << V << " ls " << ls);
        const auto x = randn(N * V, uint64_t(V) + seed, 4.0f),
                   dloss = randn(N, uint64_t(V) + seed + 1);
        Generator g(uint64_t(V) + seed + 2);
        std::vector<int64_t> t(static_cast<size_t>(N));
        for (auto& ti : t) ti = g.uniform() < 0.2f ? kIgnore : int64_t(g.randint(uint64_t(V)));
        t[0] = kIgnore;
        f(N, V, ls, x, dloss, t);
      }
    }
  });
}

TEST(CrossEntropy, FastMatchesRef) {
  for_each_case(0, [](int64_t N, int64_t V, float ls, const std::vector<float>& x,
                      const std::vector<float>& dloss, const std::vector<int64_t>& t) {
    std::vector<float> loss(static_cast<size_t>(N)), lse(static_cast<size_t>(N)),
        lossr(static_cast<size_t>(N)), lser(static_cast<size_t>(N));
    cross_entropy_forward(loss.data(), lse.data(), x.data(), t.data(), N, V, kIgnore, ls);
    cross_entropy_forward_ref(lossr.data(), lser.data(), x.data(), t.data(), N, V, kIgnore, ls);
    EXPECT_TRUE(all_close(loss, lossr, 1e-5, 1e-6));
    EXPECT_TRUE(all_close(lse, lser, 1e-5, 1e-6));
    EXPECT_EQ(loss[0], 0.0f);
    // Backward adds onto existing gradients; ignored rows keep theirs.
    auto d = randn(N * V, uint64_t(V) + 3), dr = d;
    const auto d0 = d;
    cross_entropy_backward(d.data(), dloss.data(), x.data(), lser.data(), t.data(), N, V, kIgnore,
                           ls);
    cross_entropy_backward_ref(dr.data(), dloss.data(), x.data(), lser.data(), t.data(), N, V,
                               kIgnore, ls);
    EXPECT_TRUE(all_close(d, dr, 1e-7, 1e-5));
    for (int64_t r = 0; r < N; ++r) {
      if (t[size_t(r)] == kIgnore) {
        EXPECT_TRUE(all_close(d.data() + r * V, d0.data() + r * V, V, 0, 0)) << "row " << r;
      }
    }
  });
}

// The in-place gradient (fused linear + cross-entropy) equals the ref backward onto zeros,
// with ignored rows zeroed, for every SIMD target.
TEST(CrossEntropy, GradInPlaceMatchesRefOntoZeros) {
  for_each_case(7, [](int64_t N, int64_t V, float ls, const std::vector<float>& x,
                      const std::vector<float>& dloss, const std::vector<int64_t>& t) {
    std::vector<float> loss(static_cast<size_t>(N)), lse(static_cast<size_t>(N));
    cross_entropy_forward_ref(loss.data(), lse.data(), x.data(), t.data(), N, V, kIgnore, ls);
    std::vector<float> ref(static_cast<size_t>(N * V), 0.0f), inplace = x;
    cross_entropy_backward_ref(ref.data(), dloss.data(), x.data(), lse.data(), t.data(), N, V,
                               kIgnore, ls);
    cross_entropy_grad_inplace(inplace.data(), dloss.data(), lse.data(), t.data(), N, V, kIgnore,
                               ls);
    EXPECT_TRUE(all_close(inplace, ref, 1e-7, 1e-5));
    EXPECT_TRUE(all_close(inplace.data(), ref.data(), V, 0, 0)) << "ignored row 0 is not 0";
  });
}

TEST(CrossEntropy, NegativeInfinityLogits) {
  testing::for_each_target([] {
    const float inf = std::numeric_limits<float>::infinity();
    const int64_t V = 19;
    auto x = randn(V, 5);
    x[3] = x[10] = -inf;  // masked classes; target 0 is finite
    const int64_t t = 0;
    float loss, lse, lossr, lser;
    cross_entropy_forward(&loss, &lse, x.data(), &t, 1, V, kIgnore, 0.0f);
    cross_entropy_forward_ref(&lossr, &lser, x.data(), &t, 1, V, kIgnore, 0.0f);
    EXPECT_TRUE(std::isfinite(loss));
    EXPECT_NEAR(loss, lossr, 1e-5);
    std::vector<float> d(V, 0.0f);
    const float one = 1.0f;
    cross_entropy_backward(d.data(), &one, x.data(), &lse, &t, 1, V, kIgnore, 0.0f);
    EXPECT_EQ(d[3], 0.0f);
    for (float v : d) EXPECT_TRUE(std::isfinite(v));
  });
}

}  // namespace
}  // namespace heed::kernels
