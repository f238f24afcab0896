#include "heed/tokenizers/encoding.h"

#include <gtest/gtest.h>

namespace heed::tokenizers {
namespace {

std::vector<Token> seq(int n, int32_t first_id) {
  std::vector<Token> t;
  for (int i = 0; i < n; ++i) t.push_back({first_id + i, i, i + 1});
  return t;
}

// HF truncate_sequences, as a table: (len a, len b (-1 = none), remove, strategy) -> lengths.
struct TruncRow {
  int a, b, remove;
  Truncation strategy;
  int want_a, want_b;
};

TEST(TokenizerEncoding, TruncateSequencesTable) {
  const TruncRow rows[] = {
      {10, 4, 3, Truncation::kLongestFirst, 7, 4},   {5, 5, 3, Truncation::kLongestFirst, 4, 3},
      {5, 6, 1, Truncation::kLongestFirst, 5, 5},    {5, 5, 1, Truncation::kLongestFirst, 5, 4},
      {2, 1, 9, Truncation::kLongestFirst, 0, 0},    {10, -1, 3, Truncation::kLongestFirst, 7, -1},
      {3, -1, 3, Truncation::kLongestFirst, 3, -1},  {10, 4, 3, Truncation::kOnlyFirst, 7, 4},
      {3, 4, 3, Truncation::kOnlyFirst, 3, 4},       {10, 4, 3, Truncation::kOnlySecond, 10, 1},
      {10, 4, 4, Truncation::kOnlySecond, 10, 4},    {10, -1, 3, Truncation::kOnlySecond, 10, -1},
      {10, 4, 0, Truncation::kOnlyFirst, 10, 4},     {10, 4, 3, Truncation::kNone, 10, 4},
  };
  for (const TruncRow& r : rows) {
    std::vector<Token> a = seq(r.a, 0), b = seq(std::max(r.b, 0), 100);
    truncate_sequences(a, r.b >= 0 ? &b : nullptr, r.remove, r.strategy);
    EXPECT_EQ(static_cast<int>(a.size()), r.want_a) << r.a << " " << r.b << " " << r.remove;
    if (r.b >= 0) {
      EXPECT_EQ(static_cast<int>(b.size()), r.want_b) << r.a << " " << r.b << " " << r.remove;
    }
  }
}

TEST(TokenizerEncoding, PostProcessPairTruncatePad) {
  const PostProcessor post(101, 102, 0);
  std::vector<Token> a = seq(6, 10), b = seq(3, 20);
  const Encoding e = post.process(a, &b, {.truncation = Truncation::kLongestFirst, .max_length = 9,
                                          .padding = Padding::kMaxLength});
  EXPECT_EQ(e.input_ids, (std::vector<int32_t>{101, 10, 11, 12, 102, 20, 21, 22, 102}));
  EXPECT_EQ(e.token_type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(e.offsets[0], (Offset{0, 0}));
  EXPECT_EQ(e.offsets[5], (Offset{0, 1}));
  std::vector<Token> c = seq(2, 10);
  const Encoding p = post.process(c, nullptr, {.max_length = 6, .padding = Padding::kMaxLength});
  EXPECT_EQ(p.input_ids, (std::vector<int32_t>{101, 10, 11, 102, 0, 0}));
  EXPECT_EQ(p.attention_mask, (std::vector<int32_t>{1, 1, 1, 1, 0, 0}));
  std::vector<Token> d = seq(2, 10), f = seq(1, 20);
  const Encoding n = post.process(d, &f, {.add_special_tokens = false});
  EXPECT_EQ(n.input_ids, (std::vector<int32_t>{10, 11, 20}));
  EXPECT_EQ(n.token_type_ids, (std::vector<int32_t>{0, 0, 0}));
}

}  // namespace
}  // namespace heed::tokenizers
