// GGUF reader: bytes only, no model semantics (memory-model.md §1). Every count, length and offset
// is checked against the bytes that remain before it is used; nothing is allocated in proportion to
// a declared count, only in proportion to the bytes actually present. Views (string_view) point
// into the caller's buffer, which must outlive the GgufFile.
//
// What parse_gguf checks: magic; version 2 or 3 (1, > 3 and byte-swapped/big-endian files are
// reported); counts against the bytes left; every key and value, arrays nested up to
// kGgufMaxArrayDepth (walked, not copied: 150k token strings are skipped by their length prefixes);
// bool values 0/1; empty and duplicate keys and tensor names; n_dims 1..4; dims > 0 with an element
// count that fits int64; general.alignment (u32, power of two); tensor offsets aligned and, unless
// header_only, inside the file. Type sizes, spans and overlaps are the analysis' job (type maps).
// Errors carry the exact Errc, the absolute offset where the bad field starts, the key or tensor
// name (or "metadata key #k" / "tensor info #k" before it is known) and a hint.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bitnet/error.h"

namespace bitnet::detail {

enum class GgufType : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
std::string_view gguf_type_name(GgufType t) noexcept;
// Size in bytes of a fixed-size scalar type; 0 for string and array.
std::uint32_t gguf_scalar_size(GgufType t) noexcept;

// A metadata value. Scalars are decoded; strings are views; arrays stay lazy (offset + count).
struct GgufValue {
  GgufType type = GgufType::kU8;
  std::uint64_t offset = 0;  // absolute offset of the value's first byte
  std::uint64_t u = 0;       // unsigned integers and bool
  std::int64_t i = 0;        // signed integers
  double f = 0.0;            // f32 / f64
  std::string_view str;      // string
  // Arrays.
  GgufType elem_type = GgufType::kU8;
  std::uint64_t count = 0;        // number of elements
  std::uint64_t data_offset = 0;  // absolute offset of the first element
  std::uint64_t data_bytes = 0;   // total bytes of the elements (strings: length prefixes included)

  bool is_integer() const noexcept;
  // Integer value as u64 (negative -> error) / i64; floats are not converted.
  Result<std::uint64_t> as_u64(std::string_view key) const;
};

struct GgufKv {
  std::string_view key;
  std::uint64_t key_offset = 0;  // absolute offset of the key's length prefix
  GgufValue value;

  // Absolute offset of the i32 value-type field (between the key and the value).
  std::uint64_t type_offset() const noexcept { return key_offset + 8 + key.size(); }
};

struct GgufTensorInfo {
  std::string_view name;
  std::uint64_t info_offset = 0;  // absolute offset of the name's length prefix
  std::uint32_t n_dims = 0;
  std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
  std::uint32_t type_id = 0;
  std::uint64_t offset = 0;        // relative to data_offset
  std::uint64_t offset_field = 0;  // absolute offset of the u64 offset field (for messages)
};

struct GgufParseOptions {
  // The buffer holds only the header (a prefix of the file that reaches at least the end of the
  // tensor infos): tensor offsets are not checked against the buffer's end, and the analysis uses
  // the declared sizes instead.
  bool header_only = false;
};

// Limits of the reader (hostile input).
inline constexpr std::uint32_t kGgufMaxArrayDepth = 8;  // nesting levels of arrays; top level = 1
inline constexpr std::uint32_t kGgufMaxDims = 4;

struct GgufFile {
  std::uint32_t version = 0;
  std::uint64_t n_tensors = 0;
  std::uint64_t n_kv = 0;
  std::uint64_t alignment = 32;
  std::uint64_t data_offset = 0;   // absolute offset of the tensor data section
  std::uint64_t buffer_bytes = 0;  // bytes available (the file size unless header_only)
  bool header_only = false;
  std::vector<GgufKv> kvs;
  std::vector<GgufTensorInfo> tensors;
  std::span<const std::byte> bytes;  // the buffer parsed; views point into it

  const GgufKv* find(std::string_view key) const noexcept;
  const GgufTensorInfo* find_tensor(std::string_view name) const noexcept;

  // Typed accessors: kMissingKey if absent, kTypeMismatch if of the wrong type.
  Result<std::uint64_t> get_u64(std::string_view key) const;
  Result<std::string_view> get_string(std::string_view key) const;
  Result<double> get_f64(std::string_view key) const;
  // An integer array's elements as u64 (bounded: count was checked against the buffer at parse).
  Result<std::vector<std::uint64_t>> get_int_array(std::string_view key) const;
  Result<std::vector<std::uint64_t>> int_array(const GgufKv& kv) const;
  // Calls f(string_view) for each element of a string array.
  template <class F>
  Status for_each_string(const GgufKv& kv, F&& f) const;

  std::unordered_map<std::string_view, std::size_t> key_index;
  std::unordered_map<std::string_view, std::size_t> tensor_index;
};

// Never throws: allocation failure becomes Errc::kResourceLimit.
Result<GgufFile> parse_gguf(std::span<const std::byte> bytes, const GgufParseOptions& opts = {});

template <class F>
Status GgufFile::for_each_string(const GgufKv& kv, F&& f) const {
  const GgufValue& v = kv.value;
  if (v.type != GgufType::kArray || v.elem_type != GgufType::kString)
    return Error{Errc::kTypeMismatch, "not an array of strings", kv.key_offset, std::string(kv.key),
                 "the metadata value has the wrong type; re-convert the model"};
  // The parse checked every length; these checks only guard against a kv of another buffer.
  const auto bad = [&] {
    return Error{Errc::kInternal, "string array lies outside the parsed buffer", v.data_offset,
                 std::string(kv.key), "pass a key-value pair of this file"};
  };
  if (v.data_offset > bytes.size() || v.data_bytes > bytes.size() - v.data_offset) return bad();
  const std::uint64_t end = v.data_offset + v.data_bytes;
  std::uint64_t pos = v.data_offset;
  for (std::uint64_t k = 0; k < v.count; ++k) {
    std::uint64_t len = 0;
    if (end - pos < 8) return bad();
    std::memcpy(&len, bytes.data() + pos, 8);
    pos += 8;
    if (len > end - pos) return bad();
    f(std::string_view(reinterpret_cast<const char*>(bytes.data() + pos), len));
    pos += len;
  }
  return Ok{};
}

}  // namespace bitnet::detail
