// Overflow-checked byte arithmetic (style.md §4): sizes are uint64_t and every product or sum that
// comes from file data is checked.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "bitnet/error.h"

namespace bitnet::detail {

inline Result<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b, const char* what = "size") {
  std::uint64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return Error{Errc::kOverflow, std::string(what) + " overflows 64 bits", kNoOffset, {}, {}};
  return r;
}

inline Result<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b, const char* what = "size") {
  std::uint64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return Error{Errc::kOverflow, std::string(what) + " overflows 64 bits", kNoOffset, {}, {}};
  return r;
}

inline Result<std::uint64_t> checked_product(const std::array<std::uint64_t, 4>& ne) {
  std::uint64_t r = 1;
  for (std::uint64_t d : ne) {
    if (__builtin_mul_overflow(r, d, &r))
      return Error{Errc::kOverflow, "element count overflows 64 bits", kNoOffset, {}, {}};
  }
  return r;
}

// Round up to a multiple of `align` (align > 0). Saturates rather than wraps: callers that need
// exactness check with checked_pad.
constexpr std::uint64_t pad_to(std::uint64_t x, std::uint64_t align) noexcept {
  return align == 0 ? x : (x + align - 1) / align * align;
}

inline Result<std::uint64_t> checked_pad(std::uint64_t x, std::uint64_t align) {
  if (align == 0) return x;
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t y, checked_add(x, align - 1, "padded size"));
  return y / align * align;
}

}  // namespace bitnet::detail
