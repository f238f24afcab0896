// Errors and argument checks. Every public entry point checks its arguments once
// and throws heed::Error with a message that names the op, file, field or shape.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace heed {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] void throw_error(std::string msg);
}  // namespace detail

}  // namespace heed

// HEED_CHECK(cond, "attention: head dims of q {} and k {} differ", q.shape(), k.shape());
#define HEED_CHECK(cond, ...)                                               \
  do {                                                                      \
    if (!(cond)) [[unlikely]] {                                             \
      ::heed::detail::throw_error(::fmt::format(__VA_ARGS__));              \
    }                                                                       \
  } while (0)

#define HEED_FAIL(...) ::heed::detail::throw_error(::fmt::format(__VA_ARGS__))
