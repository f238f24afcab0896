// Writing I8 tensors: an I32 tensor narrowed with store_as, read back as I32.
#include <gtest/gtest.h>

#include <cstring>

#include "heed/base/error.h"
#include "heed/io/safetensors.h"

namespace heed::io {
namespace {

TEST(SafetensorsI8, NarrowsI32ToI8AndReadsItBack) {
  const Tensor q = Tensor::from_vector(std::vector<int32_t>{-128, -1, 0, 1, 5, 127}, Shape{2, 3});
  const Tensor s = Tensor::from_vector(std::vector<float>{0.5f, 2.0f}, Shape{2});
  const std::string bytes =
      serialize_safetensors({{"w", q}, {"w_scale", s}}, {}, {{"w", FileDType::I8}});
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  const std::string header = bytes.substr(8, n);
  EXPECT_NE(header.find(R"("w":{"dtype":"I8","shape":[2,3],"data_offsets":[8,14]})"),
            std::string::npos)
      << header;  // after the F32 scale (alignment descending)
  EXPECT_EQ(bytes.size(), 8 + n + 8 + 6);
  const auto file = parse_safetensors(
      std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "mem");
  EXPECT_EQ(file.at("w").dtype(), DType::I32);
  EXPECT_EQ(file.at("w").to_vector(), q.to_vector());
  EXPECT_EQ(file.at("w_scale").to_vector(), s.to_vector());
}

TEST(SafetensorsI8, RejectsOutOfRangeAndWrongTypes) {
  const Tensor big = Tensor::from_vector(std::vector<int32_t>{0, 200}, Shape{2});
  const Tensor f = Tensor::from_vector(std::vector<float>{1.0f}, Shape{1});
  auto err = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(err([&] { serialize_safetensors({{"b", big}}, {}, {{"b", FileDType::I8}}); })
                .find("value 200 at 1 does not fit I8"),
            std::string::npos);
  EXPECT_NE(err([&] { serialize_safetensors({{"f", f}}, {}, {{"f", FileDType::I8}}); })
                .find("needs an I32 tensor"),
            std::string::npos);
  EXPECT_NE(err([&] { serialize_safetensors({{"f", f}}, {}, {{"g", FileDType::I8}}); })
                .find("'g', which is not given"),
            std::string::npos);
  EXPECT_NE(err([&] { serialize_safetensors({{"f", f}}, {}, {{"f", FileDType::F16}}); })
                .find("not supported"),
            std::string::npos);
}

}  // namespace
}  // namespace heed::io
