// Bounds-checked little-endian reads; every error carries the offset where the read started.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "bitnet/error.h"

namespace bitnet::detail {

class ByteCursor {
 public:
  explicit ByteCursor(std::span<const std::byte> data, std::uint64_t pos = 0) : data_(data), pos_(pos) {}

  std::uint64_t pos() const noexcept { return pos_; }
  std::uint64_t remaining() const noexcept { return data_.size() - pos_; }
  std::uint64_t size() const noexcept { return data_.size(); }

  template <class T>
  Result<T> read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T))
      return fail(Errc::kTruncated, "the file ends inside " + std::string(what) + " (needs " +
                                        std::to_string(sizeof(T)) + " bytes, " +
                                        std::to_string(remaining()) + " left)");
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // A u64 length followed by that many bytes.
  Result<std::string_view> read_string(std::string_view what) {
    const std::uint64_t at = pos_;
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t len, read<std::uint64_t>(what));
    if (len > remaining()) {
      pos_ = at;
      return fail(Errc::kTruncated, std::string(what) + " length " + std::to_string(len) +
                                        " runs past the end of the file (" +
                                        std::to_string(remaining() > 8 ? remaining() - 8 : 0) +
                                        " bytes left)");
    }
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  Status skip(std::uint64_t n, std::string_view what) {
    if (n > remaining())
      return fail(Errc::kTruncated, "the file ends inside " + std::string(what));
    pos_ += n;
    return Ok{};
  }

  Error fail(Errc c, std::string msg) const { return Error{c, std::move(msg), pos_, {}, {}}; }

 private:
  std::span<const std::byte> data_;
  std::uint64_t pos_ = 0;
};

}  // namespace bitnet::detail
