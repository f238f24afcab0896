// The weights an attention page shows are the model's: the numbers embedded in the page
// (its <script type="application/json" id="heed-data"> island) equal `heed forward`'s
// attentions_NN.npy for the same input, to the page's rounding (6 decimals).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"

namespace heed::cli_test {
namespace {

// A .npy (format 1.0) of little-endian int64 values.
std::string npy_i64(const std::vector<int64_t>& v, const std::vector<int64_t>& shape) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  const char prefix[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, char(header.size() & 0xff),
                           char(header.size() >> 8)};
  std::vector<char> out(prefix, prefix + 10);
  out.insert(out.end(), header.begin(), header.end());
  const char* raw = reinterpret_cast<const char*>(v.data());
  out.insert(out.end(), raw, raw + v.size() * sizeof(int64_t));
  return std::string(out.begin(), out.end());
}

// float32 data of a .npy written by heed (format 1.0, '<f4', C order).
std::vector<float> npy_f32(const std::string& bytes) {
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  const size_t hlen = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
  EXPECT_NE(bytes.substr(10, hlen).find("<f4"), std::string::npos);
  std::vector<float> out((bytes.size() - 10 - hlen) / 4);
  std::memcpy(out.data(), bytes.data() + 10 + hlen, out.size() * 4);
  return out;
}

std::string fmt_layer(int64_t l) {
  return std::string("attentions_") + (l < 10 ? "0" : "") + std::to_string(l) + ".npy";
}

nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"heed-data\">";
  const size_t a = html.find(open);
  EXPECT_NE(a, std::string::npos);
  const size_t b = html.find("</script>", a);
  return nlohmann::json::parse(html.substr(a + open.size(), b - a - open.size()));
}

TEST(AttentionPage, EmbeddedWeightsEqualHeedForwardAttentions) {
  const auto dir = test_dir();
  // The BERT golden checkpoint (weights with std 0.15, so attention is far from uniform)
  // plus a 99-token vocabulary of our own.
  const auto model = dir / "model";
  std::filesystem::create_directories(model);
  const std::string golden = std::string(HEED_GOLDEN_DIR) + "/bert/seqcls/";
  std::filesystem::copy_file(golden + "config.json", model / "config.json");
  std::filesystem::copy_file(golden + "model.safetensors", model / "model.safetensors");
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  const char* words[] = {"the", "cat", "sat", "on", "mat", "it", "was", "tired", "."};
  for (const char* w : words) vocab += std::string(w) + "\n";
  for (int i = 5 + 9; i < 99; ++i) vocab += fmt::format("w{}\n", i);
  spit(model / "vocab.txt", vocab);

  const std::string text = "The cat sat on the mat.", pair = "It was tired.";
  HeedRun r = run_heed("attention --model '" + model.string() + "' --text '" + text +
                       "' --text-pair '" + pair + "' --out '" + (dir / "a.html").string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json data = page_data(slurp(dir / "a.html"));
  const nlohmann::json& attn = data.at("attention").at("all").at("attn");  // [L][H][T][T]

  spit(dir / "in.jsonl", nlohmann::json{{"text", text}, {"text_pair", pair}}.dump() + "\n");
  r = run_heed("tokenize --model '" + model.string() + "' --input '" + (dir / "in.jsonl").string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto enc = nlohmann::json::parse(r.out);
  const auto ids = enc.at("input_ids").get<std::vector<int64_t>>();
  const auto types = enc.at("token_type_ids").get<std::vector<int64_t>>();
  const int64_t T = int64_t(ids.size());
  ASSERT_EQ(int64_t(attn.at(0).at(0).size()), T) << "page and tokenizer disagree on length";
  std::filesystem::create_directories(dir / "in");
  spit(dir / "in" / "input_ids.npy", npy_i64(ids, {1, T}));
  spit(dir / "in" / "token_type_ids.npy", npy_i64(types, {1, T}));
  r = run_heed("forward --model '" + model.string() + "' --inputs '" + (dir / "in").string() +
               "' --out '" + (dir / "out").string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;

  const int64_t L = int64_t(attn.size()), H = int64_t(attn.at(0).size());
  ASSERT_EQ(L, 2);
  ASSERT_EQ(H, 4);
  double max_weight = 0.0;
  int64_t compared = 0;
  for (int64_t l = 0; l < L; ++l) {
    const auto npy = npy_f32(slurp(dir / "out" / fmt_layer(l)));
    ASSERT_EQ(int64_t(npy.size()), H * T * T);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) {
          const double page = attn[l][h][i][j].get<double>();
          const double model_w = npy[size_t((h * T + i) * T + j)];
          ASSERT_NEAR(page, model_w, 5e-7 + 1e-6)
              << "layer " << l << " head " << h << " row " << i << " col " << j;
          max_weight = std::max(max_weight, model_w);
          ++compared;
        }
  }
  EXPECT_EQ(compared, L * H * T * T);
  // Not a comparison of two uniform matrices.
  EXPECT_GT(max_weight, 3.0 / double(T));
}

}  // namespace
}  // namespace heed::cli_test
