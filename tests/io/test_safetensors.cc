#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "heed/io/safetensors.h"
#include "io_test_util.h"

namespace heed::io {
namespace {

using testing::expect_error;
using testing::expect_matches;
using testing::fixture;
using testing::write_temp;

// A safetensors file from a header text and raw data, with an exact header length.
std::string make_file(const std::string& header, const std::string& data = "") {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

std::string raw_bytes(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()),
                     size_t(c.numel()) * dtype_size(c.dtype()));
}

TEST(Safetensors, LoadsHandWrittenFixture) {
  const auto file = load_safetensors(fixture("tensors.safetensors"));
  const auto expected = testing::read_json(fixture("expected.json"));
  EXPECT_EQ(file.metadata,
            (std::map<std::string, std::string>{{"format", "pt"}, {"note", "heed io fixture"}}));
  EXPECT_EQ(file.names.size(), file.tensors.size());
  EXPECT_EQ(file.names.front(), "i64");  // reference order: alignment descending, then name
  for (const auto& name : file.names) expect_matches(file.at(name), expected[name], name);
  // F16 and F64 are widened to f32; BOOL is read as u8.
  EXPECT_EQ(file.at("f16").dtype(), DType::F32);
  EXPECT_EQ(file.at("f64").dtype(), DType::F32);
  EXPECT_EQ(file.at("mask").dtype(), DType::U8);
  EXPECT_EQ(file.at("bf16").dtype(), DType::BF16);
  EXPECT_EQ(file.at_f32("bf16").dtype(), DType::F32);
  EXPECT_EQ(file.at_f32("bf16").to_vector(), file.at("bf16").to_vector());
}

TEST(Safetensors, TensorsAreReadOnlyViewsIntoTheMapping) {
  const std::string path = fixture("tensors.safetensors");
  const auto file = load_safetensors(path);
  for (const char* name : {"0.weight", "i64", "i32", "bf16", "mask"}) {
    SCOPED_TRACE(name);
    const Tensor& t = file.at(name);
    EXPECT_FALSE(t.storage()->writable());
    EXPECT_TRUE(testing::points_into_mapping_of(t.raw_data(), path));
  }
  // Converted dtypes are owned copies.
  EXPECT_TRUE(file.at("f16").storage()->writable());
  EXPECT_FALSE(testing::points_into_mapping_of(file.at("f16").raw_data(), path));
  // copy_ checks writability (fill_ does not yet: it would fault on the PROT_READ map).
  expect_error(
      [&] {
        Tensor w = file.at("0.weight");
        w.copy_(Tensor::zeros(w.shape()));
      },
      {"read-only"});
}

TEST(Safetensors, ViewsOutliveTheFileObject) {
  Tensor w;
  {
    const auto file = load_safetensors(fixture("tensors.safetensors"));
    w = file.at("0.weight");
  }
  // The mapping is kept alive by the storage's owner.
  EXPECT_EQ(w.to_vector().size(), 12u);
}

TEST(Safetensors, UnalignedDataIsCopied) {
  // Header of 9 bytes puts the F32 data at file offset 17: not 4-byte aligned.
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )";
  const std::string odd_header = header.substr(0, header.size() - 1);  // 57 bytes, odd
  float v[2] = {1.5f, -2.0f};
  auto bytes = std::make_shared<std::string>(
      make_file(odd_header, std::string(reinterpret_cast<char*>(v), 8)));
  std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  const auto file = parse_safetensors(span, "mem", bytes);
  const Tensor& x = file.at("x");
  EXPECT_EQ(x.to_vector(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.raw_data()) % 4, 0u);
  EXPECT_TRUE(x.storage()->writable());  // a copy
}

TEST(Safetensors, RoundTripIsBitIdentical) {
  Generator gen(7);
  Tensor f = Tensor::randn(Shape{3, 4}, gen);
  f.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  f.data<float>()[1] = -0.0f;
  f.data<float>()[2] = std::numeric_limits<float>::infinity();
  Tensor transposed = f.as_strided(Shape{4, 3}, {1, 4}, 0);  // non-contiguous
  Tensor bf = Tensor::randn(Shape{5}, gen).to(DType::BF16);
  Tensor ids = Tensor::from_vector<int64_t>({1, -2, int64_t(1) << 50}, Shape{3});
  Tensor i32 = Tensor::from_vector<int32_t>({7, -8}, Shape{2, 1});
  Tensor mask = Tensor::from_vector<uint8_t>({0, 1, 255}, Shape{3});
  Tensor scalar = Tensor::scalar(3.5f);
  Tensor empty = Tensor::zeros(Shape{0, 4});
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f", f},       {"transposed", transposed}, {"bf", bf},      {"ids", ids}, {"i32", i32},
      {"mask", mask}, {"scalar", scalar},         {"empty", empty}};
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"b", "x\"y\n\u00e9"}};

  const std::string path = testing::temp_path("roundtrip.safetensors");
  save_safetensors(path, tensors, meta);
  const auto file = load_safetensors(path);
  EXPECT_EQ(file.metadata, meta);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const Tensor& got = file.at(name);
    EXPECT_EQ(got.dtype(), t.dtype());
    EXPECT_EQ(got.shape(), t.shape());
    EXPECT_EQ(raw_bytes(got), raw_bytes(t));
  }
  // Saving what was loaded reproduces the file byte for byte.
  std::vector<std::pair<std::string, Tensor>> again;
  for (const auto& name : file.names) again.emplace_back(name, file.at(name));
  EXPECT_EQ(serialize_safetensors(again, file.metadata), read_file(path));
  std::remove(path.c_str());
}

TEST(Safetensors, WriterReproducesReferenceLayout) {
  // layout.safetensors was laid out by the rules of the reference Rust writer.
  const std::string path = fixture("layout.safetensors");
  const auto file = load_safetensors(path);
  EXPECT_EQ(file.names, (std::vector<std::string>{"c.ids", "a.weight", "f.scalar", "d.i32",
                                                  "b.bf16", "e.mask"}));
  const auto expected = testing::read_json(fixture("layout.json"));
  for (const auto& [name, want] : expected.items()) expect_matches(file.at(name), want, name);
  // Input order must not matter: the writer sorts.
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto it = file.names.rbegin(); it != file.names.rend(); ++it)
    tensors.emplace_back(*it, file.at(*it));
  EXPECT_EQ(serialize_safetensors(tensors, file.metadata), read_file(path));
}

TEST(Safetensors, EmptyFileMatchesReference) {
  // From the reference tests (test_empty): "{}" padded to 8.
  EXPECT_EQ(serialize_safetensors({}), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const auto file = parse_safetensors(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("\x08\0\0\0\0\0\0\0{}      "), 16),
      "mem");
  EXPECT_TRUE(file.names.empty());
}

struct BadCase {
  const char* label;
  std::string bytes;
  std::vector<std::string> needles;  // besides the file name
};

TEST(Safetensors, RejectsMalformedFiles) {
  const std::string f32x4 = R"("dtype":"F32","shape":[4])";
  const std::string data16(16, '\0');
  std::string huge_len(8, '\0');
  const uint64_t too_big = 200'000'000;
  std::memcpy(huge_len.data(), &too_big, 8);
  std::string past_end(8, '\0');
  const uint64_t forty = 40;
  std::memcpy(past_end.data(), &forty, 8);
  past_end += "{}";

  const std::vector<BadCase> cases = {
      {"truncated", std::string("\x10\0\0", 3), {"too short"}},
      {"header_past_end", past_end, {"header length 40", "runs past the end"}},
      {"header_too_large", huge_len + "{}", {"exceeds"}},
      {"malformed_json", make_file(R"({"a":{"dtype":)"), {"not valid JSON"}},
      {"not_object", make_file("[1,2]"), {"must be a JSON object"}},
      {"bad_metadata", make_file(R"({"__metadata__":{"k":1}})"), {"__metadata__", "'k'"}},
      {"overlap",
       make_file(R"({"a":{)" + f32x4 + R"(,"data_offsets":[0,16]},"b":{)" + f32x4 +
                     R"(,"data_offsets":[8,24]}})",
                 std::string(24, '\0')),
       {"'b'", "overlap tensor 'a'"}},
      {"out_of_range",
       make_file(R"({"a":{)" + f32x4 + R"(,"data_offsets":[0,16]}})", std::string(8, '\0')),
       {"'a'", "run past the 8-byte data section"}},
      {"unknown_dtype",
       make_file(R"({"w":{"dtype":"Q7","shape":[4],"data_offsets":[0,16]}})", data16),
       {"'w'", "unsupported dtype 'Q7'"}},
      {"size_mismatch",
       make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data16),
       {"'w'", "needs 12 bytes", "span 16"}},
      {"gap",
       make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data16),
       {"'w'", "leave bytes [0, 8)"}},
      {"trailing",
       make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data16),
       {"trailing"}},
      {"negative_dim",
       make_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})"),
       {"'w'", "non-negative"}},
      {"float_dim",
       make_file(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})",
                 std::string(8, '\0')),
       {"'w'", "non-negative integers"}},
      {"shape_overflow",
       make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})"),
       {"'w'", "overflows"}},
      {"duplicate_key",
       make_file(R"({"w":{)" + f32x4 + R"(,"data_offsets":[0,16]},"w":{)" + f32x4 +
                     R"(,"data_offsets":[0,16]}})",
                 data16),
       {"'w'", "twice"}},
      {"missing_dtype",
       make_file(R"({"w":{"shape":[4],"data_offsets":[0,16]}})", data16),
       {"'w'", "dtype"}},
      {"bad_offsets_arity",
       make_file(R"({"w":{)" + f32x4 + R"(,"data_offsets":[0]}})", data16),
       {"'w'", "[begin, end]"}},
      {"reversed_offsets",
       make_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::string(8, '\0')),
       {"'w'", "end before they begin"}},
      {"entry_not_object", make_file(R"({"w":3})"), {"'w'", "must be an object"}},
      {"nul_padding", make_file(std::string("{}") + std::string(6, '\0')), {"not valid JSON"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = write_temp(std::string(c.label) + ".safetensors", c.bytes);
    try {
      load_safetensors(path);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      for (const auto& n : c.needles)
        EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
    }
    std::remove(path.c_str());
  }
}

TEST(Safetensors, MissingFileAndKeyNameThePath) {
  expect_error([] { load_safetensors("/nonexistent/x.safetensors"); },
               {"/nonexistent/x.safetensors"});
  const auto file = load_safetensors(fixture("layout.safetensors"));
  expect_error([&] { file.at("nope"); }, {"layout.safetensors", "'nope'"});
}

TEST(Safetensors, SaveRejectsBadNames) {
  const std::string path = testing::temp_path("bad.safetensors");
  Tensor t = Tensor::zeros(Shape{2});
  expect_error([&] { save_safetensors(path, {{"a", t}, {"a", t}}); }, {path, "'a' given twice"});
  expect_error([&] { save_safetensors(path, {{"__metadata__", t}}); }, {path, "reserved"});
}

TEST(Safetensors, EveryTruncationIsAnError) {
  const std::string bytes = read_file(fixture("tensors.safetensors"));
  for (size_t n = 0; n < bytes.size(); n += (n < 64 ? 1 : 7)) {
    std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes.data()), n);
    EXPECT_THROW(parse_safetensors(span, "cut"), Error) << n;
  }
}

}  // namespace
}  // namespace heed::io
