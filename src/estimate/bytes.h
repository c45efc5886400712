// Checked byte arithmetic for the closed forms of the memory engine: a value that remembers whether
// any step overflowed, so a formula reads like the formula in docs/memory-model.md and is still
// overflow-checked (style.md §4). Convert back with to_result(), which reports kOverflow.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "bitnet/error.h"

namespace bitnet::detail {

class B {
 public:
  constexpr B() = default;
  constexpr B(std::uint64_t v) : v_(v) {}  // NOLINT(google-explicit-constructor): a byte count
  constexpr std::uint64_t value() const noexcept { return v_; }
  constexpr bool overflow() const noexcept { return of_; }

  friend constexpr B operator+(B a, B b) noexcept {
    B r;
    r.of_ = a.of_ || b.of_ || __builtin_add_overflow(a.v_, b.v_, &r.v_);
    return r;
  }
  friend constexpr B operator*(B a, B b) noexcept {
    B r;
    r.of_ = a.of_ || b.of_ || __builtin_mul_overflow(a.v_, b.v_, &r.v_);
    return r;
  }
  // Saturating difference (a term that cannot be negative).
  friend constexpr B sat_sub(B a, B b) noexcept {
    B r;
    r.of_ = a.of_ || b.of_;
    r.v_ = a.v_ > b.v_ ? a.v_ - b.v_ : 0;
    return r;
  }
  friend constexpr B max(B a, B b) noexcept {
    B r;
    r.of_ = a.of_ || b.of_;
    r.v_ = std::max(a.v_, b.v_);
    return r;
  }
  friend constexpr B min(B a, B b) noexcept {
    B r;
    r.of_ = a.of_ || b.of_;
    r.v_ = std::min(a.v_, b.v_);
    return r;
  }
  // Round up to a multiple of `align` (> 0).
  friend constexpr B pad(B a, std::uint64_t align) noexcept {
    B r = a + B(align - 1);
    // Alignments are powers of two (ggml buffers, KV padding): a mask, not a division.
    r.v_ = (align & (align - 1)) == 0 ? r.v_ & ~(align - 1) : r.v_ / align * align;
    return r;
  }
  // Rounded-up quotient (d > 0).
  friend constexpr B div_ceil(B a, std::uint64_t d) noexcept {
    B r = a + B(d - 1);
    r.v_ = r.v_ / d;
    return r;
  }
  B& operator+=(B b) noexcept { return *this = *this + b; }

  Result<std::uint64_t> to_result(const char* what) const {
    if (of_) return Error{Errc::kOverflow, std::string(what) + " overflows 64 bits", kNoOffset, {}, {}};
    return v_;
  }

 private:
  std::uint64_t v_ = 0;
  bool of_ = false;
};

inline constexpr std::uint64_t kMiB = 1024 * 1024;
inline constexpr std::uint64_t kKiB = 1024;

}  // namespace bitnet::detail
