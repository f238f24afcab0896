// Shape: the sizes of a tensor's dimensions. Formats as (2, 3, 4) in messages.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace heed {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : d_(d) {}
  explicit Shape(std::vector<int64_t> d) : d_(std::move(d)) {}

  int64_t ndim() const { return int64_t(d_.size()); }
  int64_t operator[](int64_t i) const { return d_[size_t(i)]; }
  int64_t& operator[](int64_t i) { return d_[size_t(i)]; }
  int64_t numel() const {
    int64_t n = 1;
    for (auto v : d_) n *= v;
    return n;
  }
  const std::vector<int64_t>& dims() const { return d_; }
  auto begin() const { return d_.begin(); }
  auto end() const { return d_.end(); }
  void push_back(int64_t v) { d_.push_back(v); }
  bool operator==(const Shape& o) const { return d_ == o.d_; }
  bool operator!=(const Shape& o) const { return d_ != o.d_; }

 private:
  std::vector<int64_t> d_;
};

// Contiguous (row-major) strides for a shape.
std::vector<int64_t> contiguous_strides(const Shape& s);

}  // namespace heed

template <>
struct fmt::formatter<heed::Shape> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  auto format(const heed::Shape& s, fmt::format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "(");
    for (int64_t i = 0; i < s.ndim(); ++i)
      out = i ? fmt::format_to(out, ", {}", s[i]) : fmt::format_to(out, "{}", s[i]);
    return s.ndim() == 1 ? fmt::format_to(out, ",)") : fmt::format_to(out, ")");
  }
};
