// bitnet-models: error values. Exceptions never cross the public API (style.md §3): every public
// function that can fail on input returns Result<T>; *_or_throw conveniences throw Exception.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace bitnet {

// A closed set of error codes, like abseil's canonical codes.
enum class Errc : std::uint8_t {
  kIo,                  // the file cannot be opened, read or mapped
  kTruncated,           // the file ends inside a structure
  kBadMagic,            // not a GGUF file
  kUnsupportedVersion,  // GGUF version 1, > 3, or byte-swapped
  kMalformed,           // a structure is inconsistent (bad value type, dims, alignment, overlap ...)
  kUnknownTensorType,   // a tensor type whose size cannot be determined
  kOverflow,            // a count, size or offset overflows 64 bits
  kMissingKey,          // a required metadata key is absent
  kTypeMismatch,        // a metadata value has the wrong type
  kUnsupportedArch,     // an architecture we cannot analyse, not even generically
  kInvalidArgument,     // a request (config, flag value) is invalid
  kResourceLimit,       // the plan does not fit, or allocation failed
  kUnavailable,         // a facility (GPU, NVML, /proc) is not available
  kInternal,            // a bug in bitnet-models
};

std::string_view errc_name(Errc c) noexcept;

inline constexpr std::uint64_t kNoOffset = ~std::uint64_t{0};

struct Error {
  Errc code = Errc::kInternal;
  std::string message;               // what went wrong, in the user's terms
  std::uint64_t offset = kNoOffset;  // byte offset in the file, when known
  std::string field;                 // metadata key or tensor name, when known
  std::string hint;                  // what the user can do about it

  // "field @0x1f3a0: message (hint)" -- one line for a CLI or a log.
  std::string to_string() const;
};

// Thrown by value() on an error, and by the *_or_throw conveniences.
class Exception : public std::runtime_error {
 public:
  explicit Exception(Error e) : std::runtime_error(e.to_string()), error_(std::move(e)) {}
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

// A minimal expected<T, Error> (std::expected is C++23).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}          // NOLINT(google-explicit-constructor)
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT(google-explicit-constructor)

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  void check() const {
    if (v_.index() != 0) throw Exception(std::get<1>(v_));
  }
  std::variant<T, Error> v_;
};

// Result<void>.
struct Ok {};
using Status = Result<Ok>;

}  // namespace bitnet

#define BITNET_CONCAT_INNER_(a, b) a##b
#define BITNET_CONCAT_(a, b) BITNET_CONCAT_INNER_(a, b)

// Returns the error of a failed Result from the enclosing function.
#define BITNET_TRY(expr)                                              \
  do {                                                                \
    if (auto bitnet_r_ = (expr); !bitnet_r_) return std::move(bitnet_r_).error(); \
  } while (0)

// BITNET_ASSIGN_OR_RETURN(decl, expr): binds the value of expr to decl, or returns its error.
#define BITNET_ASSIGN_OR_RETURN(decl, expr) \
  BITNET_ASSIGN_OR_RETURN_IMPL_(BITNET_CONCAT_(bitnet_r_, __LINE__), decl, expr)
#define BITNET_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                                   \
  if (!tmp) return std::move(tmp).error();             \
  decl = std::move(tmp).value()
