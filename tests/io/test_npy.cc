#include <gtest/gtest.h>

#include "heed/io/npy.h"
#include "io_test_util.h"

namespace heed::io {
namespace {

using testing::expect_error;
using testing::fixture;

TEST(Npy, LoadsNumpyFixtures) {
  const auto expected = testing::read_json(fixture("npy/expected.json"));
  for (const auto& [name, want] : expected.items()) {
    const Tensor t = load_npy(fixture("npy/" + name + ".npy"));
    testing::expect_matches(t, want, name);
    EXPECT_TRUE(t.storage()->writable()) << name;  // owned: `heed forward` may write into it
  }
}

TEST(Npy, WriterMatchesNumpySaveByteForByte) {
  for (const char* name : {"f32", "i64", "i32", "u8", "scalar", "empty"}) {
    SCOPED_TRACE(name);
    const std::string path = fixture(std::string("npy/") + name + ".npy");
    EXPECT_EQ(serialize_npy(load_npy(path)), read_file(path));
  }
}

TEST(Npy, RoundTrip) {
  Generator gen(3);
  const Tensor x = Tensor::randn(Shape{4, 5, 6}, gen);
  const std::string path = testing::temp_path("x.npy");
  // A transposed (non-contiguous) view is written in logical order.
  const Tensor xt = x.as_strided(Shape{6, 5, 4}, {1, 6, 30}, 0);
  save_npy(path, xt);
  const Tensor y = load_npy(path);
  EXPECT_EQ(y.shape(), xt.shape());
  EXPECT_EQ(y.to_vector(), xt.to_vector());
  // BF16 is written as f32.
  const Tensor b = Tensor::randn(Shape{3}, gen).to(DType::BF16);
  save_npy(path, b);
  const Tensor bl = load_npy(path);
  EXPECT_EQ(bl.dtype(), DType::F32);
  EXPECT_EQ(bl.to_vector(), b.to_vector());
  std::remove(path.c_str());
}

TEST(Npy, ManyDimsRoundTrip) {
  std::vector<int64_t> dims(40, 1);
  dims[0] = 2;
  const Tensor t = Tensor::zeros(Shape(dims));
  const std::string bytes = serialize_npy(t);
  EXPECT_EQ(bytes[6], 1);  // a 1.0 header still fits (2.0 is read via fixtures/v2.npy)
  const Tensor back =
      parse_npy({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "mem");
  EXPECT_EQ(back.shape(), t.shape());
}

TEST(Npy, RejectsUnsupportedAndMalformedFiles) {
  const std::string fortran = fixture("npy/fortran.npy");
  expect_error([&] { load_npy(fortran); }, {fortran, "Fortran-order"});
  const std::string big = fixture("npy/bigendian.npy");
  expect_error([&] { load_npy(big); }, {big, "'>f4'", "big-endian"});

  const std::string good = read_file(fixture("npy/f32.npy"));
  struct Case {
    const char* label;
    std::string bytes;
    std::string needle;
  };
  auto with_header = [&](const std::string& h) {
    std::string out = good.substr(0, 8);
    const uint16_t n = uint16_t(h.size());
    out.append(reinterpret_cast<const char*>(&n), 2);
    return out + h + good.substr(128);
  };
  const std::vector<Case> cases = {
      {"bad_magic", "NUMPY", "bad magic"},
      {"truncated_data", good.substr(0, good.size() - 3), "data is 21 bytes"},
      {"trailing_data", good + "x", "data is 25 bytes"},
      {"header_past_end", good.substr(0, 40), "runs past the end"},
      {"bad_version", good.substr(0, 6) + "\x07" + good.substr(7), "version 7"},
      {"structured",
       with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }\n"),
       "structured"},
      {"unknown_dtype",
       with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }\n"), "'<c8'"},
      {"missing_shape", with_header("{'descr': '<f4', 'fortran_order': False, }\n"), "lacks"},
      {"negative_dim",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }\n"),
       "non-negative"},
      {"bad_literal", with_header("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3), }\n"),
       "True or False"},
      {"dim_overflow",
       with_header(
           "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n"),
       "too large"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = testing::write_temp(std::string(c.label) + ".npy", c.bytes);
    expect_error([&] { load_npy(path); }, {path, c.needle});
    std::remove(path.c_str());
  }
}

}  // namespace
}  // namespace heed::io
