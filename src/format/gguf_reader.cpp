// GGUF reader (memory-model.md §1; ggml src/gguf.cpp gguf_init_from_file_impl). Hostile input:
// every declared count is checked against the bytes left before it is used, and containers are
// reserved in proportion to the bytes present, never to a declared count.
#include "format/gguf_reader.h"

#include <algorithm>
#include <limits>
#include <new>
#include <string>

#include "core/checked.h"

namespace bitnet::detail {
namespace {

constexpr std::uint32_t kNumValueTypes = 13;  // u8 .. f64
// Bytes of each value type's fixed-size encoding; 0 for string and array.
constexpr std::uint8_t kScalarBytes[kNumValueTypes] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
constexpr std::string_view kTypeNames[kNumValueTypes] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

// Smallest encodings, used to bound declared counts by the bytes that remain. Empty keys and names
// are rejected, so each has at least one byte.
constexpr std::uint64_t kMinKvBytes = 8 + 1 + 4 + 1;  // key len, key, type, u8 value
constexpr std::uint64_t kMinTensorInfoBytes =
    8 + 1 + 4 + 8 + 4 + 8;                       // name len, name, n_dims, 1 dim, type, offset
constexpr std::uint64_t kMinStringBytes = 8;     // length prefix of ""
constexpr std::uint64_t kMinArrayBytes = 4 + 8;  // elem type + count of []

// Heap cost of one parsed entry (vector slot + hash node + bucket), to cap reservations so that
// they never exceed the bytes that remain in the buffer.
constexpr std::uint64_t kHashNodeBytes = 64;
constexpr std::uint64_t kKvCost = sizeof(GgufKv) + kHashNodeBytes;
constexpr std::uint64_t kTensorCost = sizeof(GgufTensorInfo) + kHashNodeBytes;

constexpr std::string_view kHintCorrupt =
    "the file is corrupt or was not written by a GGUF writer; re-download or re-convert the model";
constexpr std::string_view kHintTruncated =
    "the file is incomplete (an interrupted download or copy?); re-download it, or pass "
    "--header-only if it holds only the header";
constexpr std::string_view kHintHeaderPrefix =
    "the header-only buffer ends inside the header; read a longer prefix of the file";

template <class T>
T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string hex(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

// A key or name from the file, made safe to print: non-printable bytes as \xNN, at most 160 bytes.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 160;
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kDigits[] = "0123456789abcdef";
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  if (out.size() >= kMax) out += "...";
  return out;
}

Error make(Errc c, std::uint64_t off, std::string field, std::string msg, std::string_view hint) {
  return Error{c, std::move(msg), off, std::move(field), std::string(hint)};
}

std::string_view type_name(std::uint32_t t) {
  return t < kNumValueTypes ? kTypeNames[t] : std::string_view("?");
}

// Where the parse is; all reads are bounds-checked by the callers through need()/take().
class Parser {
 public:
  Parser(std::span<const std::byte> b, bool header_only)
      : d_(b.data()), n_(b.size()), header_only_(header_only) {}

  std::uint64_t pos() const noexcept { return pos_; }
  std::uint64_t left() const noexcept { return n_ - pos_; }
  std::uint64_t size() const noexcept { return n_; }
  const std::byte* data() const noexcept { return d_; }

  // Reads a scalar; false (position unchanged) if the buffer ends first.
  template <class T>
  bool take(T& v) noexcept {
    if (left() < sizeof(T)) return false;
    v = load<T>(d_ + pos_);
    pos_ += sizeof(T);
    return true;
  }
  // Reads a u64-length-prefixed string; false (position unchanged) if it does not fit.
  bool take_string(std::string_view& s) noexcept {
    if (left() < 8) return false;
    const auto len = load<std::uint64_t>(d_ + pos_);
    if (len > left() - 8) return false;
    s = std::string_view(reinterpret_cast<const char*>(d_ + pos_ + 8), len);
    pos_ += 8 + len;
    return true;
  }
  void advance(std::uint64_t k) noexcept { pos_ += k; }  // k <= left(), checked by the caller

  // The error for a truncated scalar or string that starts at `off`.
  Error truncated(std::uint64_t off, std::string field, std::string_view what) const {
    return make(Errc::kTruncated, off, std::move(field),
                "the file ends inside " + std::string(what) + " (" +
                    std::to_string(n_ - std::min(off, n_)) + " bytes left at offset " +
                    std::to_string(off) + ")",
                truncated_hint());
  }
  Error truncated_string(std::uint64_t off, std::string field, std::string_view what) const {
    if (n_ - off < 8) return truncated(off, std::move(field), "the length of " + std::string(what));
    const auto len = load<std::uint64_t>(d_ + off);
    return make(Errc::kTruncated, off, std::move(field),
                std::string(what) + " of " + std::to_string(len) +
                    " bytes runs past the end of the file (" + std::to_string(n_ - off - 8) +
                    " bytes left)",
                truncated_hint());
  }
  std::string_view truncated_hint() const {
    return header_only_ ? kHintHeaderPrefix : kHintTruncated;
  }

 private:
  const std::byte* d_;
  std::uint64_t n_;
  std::uint64_t pos_ = 0;
  bool header_only_;
};

std::string elem_field(std::string_view key, std::uint64_t k) {
  return printable(key) + "[" + std::to_string(k) + "]";
}

// The hot loop of the parse (tokens, merges): walks `count` length-prefixed strings, leaving `pos`
// after the last one. Returns the index of the first string that does not fit (with `pos` at its
// length prefix), or `count`.
std::uint64_t skip_strings(const std::byte* d, std::uint64_t n, std::uint64_t& pos,
                           std::uint64_t count) noexcept {
  std::uint64_t p = pos;
  for (std::uint64_t k = 0; k < count; ++k) {
    if (n - p < 8 || load<std::uint64_t>(d + p) > n - p - 8) {
      pos = p;
      return k;
    }
    p += 8 + load<std::uint64_t>(d + p);
  }
  pos = p;
  return count;
}

// Reads an array header (element type, count) at the current position and bounds the count.
Status read_array_header(Parser& P, std::string_view key, std::uint32_t& elem,
                         std::uint64_t& count) {
  const std::uint64_t elem_off = P.pos();
  if (!P.take(elem)) return P.truncated(elem_off, printable(key), "an array's element type");
  if (elem >= kNumValueTypes)
    return make(Errc::kMalformed, elem_off, printable(key),
                "unknown array element type " + std::to_string(elem) + " (valid: 0..12)",
                kHintCorrupt);
  const std::uint64_t count_off = P.pos();
  if (!P.take(count)) return P.truncated(count_off, printable(key), "an array's element count");
  const std::uint64_t min_elem = kScalarBytes[elem] != 0 ? kScalarBytes[elem]
                                 : elem == static_cast<std::uint32_t>(GgufType::kString)
                                     ? kMinStringBytes
                                     : kMinArrayBytes;
  if (count > P.left() / min_elem)
    return make(Errc::kTruncated, count_off, printable(key),
                "array of " + std::to_string(count) + " " + std::string(type_name(elem)) +
                    " elements runs past the end of the file (" + std::to_string(P.left()) +
                    " bytes left, at least " + std::to_string(min_elem) + " per element)",
                P.truncated_hint());
  return Ok{};
}

// Walks an array's elements (positioned after its header). `depth` is the nesting level of this
// array (the top level is 1).
Status skip_array_body(Parser& P, std::string_view key, std::uint32_t elem, std::uint64_t count,
                       std::uint32_t depth) {
  if (const std::uint32_t sz = kScalarBytes[elem]; sz != 0) {
    const std::uint64_t begin = P.pos();  // count * sz <= left(): checked by read_array_header
    if (elem == static_cast<std::uint32_t>(GgufType::kBool)) {
      const std::byte* b = P.data() + begin;
      for (std::uint64_t k = 0; k < count; ++k)
        if (static_cast<std::uint8_t>(b[k]) > 1)
          return make(
              Errc::kMalformed, begin + k, elem_field(key, k),
              "bool value " + std::to_string(static_cast<unsigned>(b[k])) + " is neither 0 nor 1",
              kHintCorrupt);
    }
    P.advance(count * sz);
    return Ok{};
  }
  if (elem == static_cast<std::uint32_t>(GgufType::kString)) {
    std::uint64_t pos = P.pos();
    const std::uint64_t k = skip_strings(P.data(), P.size(), pos, count);
    if (k != count) return P.truncated_string(pos, elem_field(key, k), "a string array element");
    P.advance(pos - P.pos());
    return Ok{};
  }
  // Arrays of arrays.
  for (std::uint64_t k = 0; k < count; ++k) {
    if (depth + 1 > kGgufMaxArrayDepth)
      return make(Errc::kMalformed, P.pos(), elem_field(key, k),
                  "arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth) + " levels",
                  kHintCorrupt);
    std::uint32_t et = 0;
    std::uint64_t n = 0;
    BITNET_TRY(read_array_header(P, key, et, n));
    BITNET_TRY(skip_array_body(P, key, et, n, depth + 1));
  }
  return Ok{};
}

// Reads a value of `type` (< kNumValueTypes) at the current position.
Status read_value(Parser& P, std::uint32_t type, std::string_view key, GgufValue& v) {
  v.type = static_cast<GgufType>(type);
  v.offset = P.pos();
  const auto trunc = [&] {
    return P.truncated(v.offset, printable(key), "the " + std::string(type_name(type)) + " value");
  };
  switch (v.type) {
    case GgufType::kU8: {
      std::uint8_t x;
      if (!P.take(x)) return trunc();
      v.u = x;
      return Ok{};
    }
    case GgufType::kI8: {
      std::int8_t x;
      if (!P.take(x)) return trunc();
      v.i = x;
      return Ok{};
    }
    case GgufType::kU16: {
      std::uint16_t x;
      if (!P.take(x)) return trunc();
      v.u = x;
      return Ok{};
    }
    case GgufType::kI16: {
      std::int16_t x;
      if (!P.take(x)) return trunc();
      v.i = x;
      return Ok{};
    }
    case GgufType::kU32: {
      std::uint32_t x;
      if (!P.take(x)) return trunc();
      v.u = x;
      return Ok{};
    }
    case GgufType::kI32: {
      std::int32_t x;
      if (!P.take(x)) return trunc();
      v.i = x;
      return Ok{};
    }
    case GgufType::kU64: {
      if (!P.take(v.u)) return trunc();
      return Ok{};
    }
    case GgufType::kI64: {
      if (!P.take(v.i)) return trunc();
      return Ok{};
    }
    case GgufType::kF32: {
      float x;
      if (!P.take(x)) return trunc();
      v.f = x;
      return Ok{};
    }
    case GgufType::kF64: {
      if (!P.take(v.f)) return trunc();
      return Ok{};
    }
    case GgufType::kBool: {
      std::uint8_t b;
      if (!P.take(b)) return trunc();
      if (b > 1)
        return make(Errc::kMalformed, v.offset, printable(key),
                    "bool value " + std::to_string(b) + " is neither 0 nor 1", kHintCorrupt);
      v.u = b;
      return Ok{};
    }
    case GgufType::kString:
      if (!P.take_string(v.str))
        return P.truncated_string(v.offset, printable(key), "a string value");
      return Ok{};
    case GgufType::kArray: {
      std::uint32_t et = 0;
      BITNET_TRY(read_array_header(P, key, et, v.count));
      v.elem_type = static_cast<GgufType>(et);
      v.data_offset = P.pos();
      BITNET_TRY(skip_array_body(P, key, et, v.count, 1));
      v.data_bytes = P.pos() - v.data_offset;
      return Ok{};
    }
  }
  return make(Errc::kInternal, v.offset, printable(key), "unhandled value type", {});
}

Error missing(std::string_view key) {
  return make(Errc::kMissingKey, kNoOffset, std::string(key), "required metadata key is missing",
              "the model was converted without it; re-convert it with a current converter");
}

Error mismatch(const GgufKv& kv, std::string_view expected) {
  return make(Errc::kTypeMismatch, kv.type_offset(), printable(kv.key),
              "expected " + std::string(expected) + ", found " +
                  std::string(type_name(static_cast<std::uint32_t>(kv.value.type))),
              "the metadata value has the wrong type; re-convert the model");
}

Result<GgufFile> parse_impl(std::span<const std::byte> bytes, const GgufParseOptions& opts) {
  GgufFile f;
  f.bytes = bytes;
  f.buffer_bytes = bytes.size();
  f.header_only = opts.header_only;
  Parser P(bytes, opts.header_only);

  // Magic: compare the bytes present, so a 2-byte "XY" is not GGUF but a 2-byte "GG" is truncated.
  static constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
  const std::size_t have = std::min<std::size_t>(4, bytes.size());
  if (have > 0 && std::memcmp(bytes.data(), kMagic, have) != 0)
    return make(Errc::kBadMagic, 0, "magic", "not a GGUF file (it does not start with \"GGUF\")",
                "check that the path names a .gguf model file");
  if (bytes.size() < 4) return P.truncated(0, "magic", "the magic \"GGUF\"");
  P.advance(4);

  // Version.
  if (!P.take(f.version)) return P.truncated(4, "version", "the version");
  if ((f.version & 0xFFFFu) == 0 && f.version != 0)
    return make(Errc::kUnsupportedVersion, 4, "version",
                "version field " + hex(f.version) + " is byte-swapped (version " +
                    std::to_string(__builtin_bswap32(f.version)) + "): a big-endian GGUF file",
                "convert the model to little-endian GGUF (gguf-py's gguf-convert-endian)");
  if (f.version == 1)
    return make(Errc::kUnsupportedVersion, 4, "version",
                "GGUF version 1 (32-bit counts) is not supported",
                "re-convert the model with a current GGUF writer (version 3)");
  if (f.version < 2 || f.version > 3)
    return make(Errc::kUnsupportedVersion, 4, "version",
                "GGUF version " + std::to_string(f.version) + " is not supported (2 and 3 are)",
                f.version > 3 ? "the file is newer than this reader; update bitnet-models"
                              : std::string_view(kHintCorrupt));

  // Counts.
  std::int64_t n_tensors = 0, n_kv = 0;
  if (!P.take(n_tensors)) return P.truncated(8, "n_tensors", "the tensor count");
  if (!P.take(n_kv)) return P.truncated(16, "n_kv", "the metadata count");
  if (n_tensors < 0)
    return make(Errc::kMalformed, 8, "n_tensors",
                "negative tensor count " + std::to_string(n_tensors), kHintCorrupt);
  if (n_kv < 0)
    return make(Errc::kMalformed, 16, "n_kv", "negative metadata count " + std::to_string(n_kv),
                kHintCorrupt);
  f.n_tensors = static_cast<std::uint64_t>(n_tensors);
  f.n_kv = static_cast<std::uint64_t>(n_kv);
  if (f.n_tensors > P.left() / kMinTensorInfoBytes)
    return make(Errc::kTruncated, 8, "n_tensors",
                "tensor count " + std::to_string(f.n_tensors) + " cannot fit in the " +
                    std::to_string(P.left()) + " bytes that follow (at least " +
                    std::to_string(kMinTensorInfoBytes) + " per tensor info)",
                P.truncated_hint());
  if (f.n_kv > P.left() / kMinKvBytes)
    return make(Errc::kTruncated, 16, "n_kv",
                "metadata count " + std::to_string(f.n_kv) + " cannot fit in the " +
                    std::to_string(P.left()) + " bytes that follow (at least " +
                    std::to_string(kMinKvBytes) + " per key-value pair)",
                P.truncated_hint());

  // Metadata. Reservations are bounded by the bytes left, not by the declared count alone.
  {
    const std::uint64_t r = std::min(f.n_kv, P.left() / kKvCost);
    f.kvs.reserve(r);
    f.key_index.reserve(r);
  }
  for (std::uint64_t k = 0; k < f.n_kv; ++k) {
    GgufKv kv;
    kv.key_offset = P.pos();
    if (!P.take_string(kv.key))
      return P.truncated_string(kv.key_offset, "metadata key #" + std::to_string(k),
                                "a metadata key");
    if (kv.key.empty())
      return make(Errc::kMalformed, kv.key_offset, "metadata key #" + std::to_string(k),
                  "empty metadata key", kHintCorrupt);
    const auto [it, inserted] = f.key_index.emplace(kv.key, f.kvs.size());
    if (!inserted)
      return make(Errc::kMalformed, kv.key_offset, printable(kv.key),
                  "duplicate metadata key (first at offset " +
                      std::to_string(f.kvs[it->second].key_offset) + ")",
                  kHintCorrupt);
    const std::uint64_t type_off = P.pos();
    std::uint32_t type = 0;
    if (!P.take(type)) return P.truncated(type_off, printable(kv.key), "a value type");
    if (type >= kNumValueTypes)
      return make(Errc::kMalformed, type_off, printable(kv.key),
                  "unknown value type " + std::to_string(type) + " (valid: 0..12)", kHintCorrupt);
    BITNET_TRY(read_value(P, type, kv.key, kv.value));
    f.kvs.push_back(kv);
  }

  // Alignment (ggml reads it with gguf_get_val_u32, which requires the u32 type).
  if (const GgufKv* a = f.find("general.alignment")) {
    if (a->value.type != GgufType::kU32) return mismatch(*a, "u32");
    const std::uint64_t al = a->value.u;
    if (al == 0 || (al & (al - 1)) != 0)
      return make(Errc::kMalformed, a->value.offset, "general.alignment",
                  "alignment " + std::to_string(al) + " is not a power of two", kHintCorrupt);
    f.alignment = al;
  }

  // Tensor infos.
  {
    const std::uint64_t r = std::min(f.n_tensors, P.left() / kTensorCost);
    f.tensors.reserve(r);
    f.tensor_index.reserve(r);
  }
  for (std::uint64_t k = 0; k < f.n_tensors; ++k) {
    GgufTensorInfo t;
    t.info_offset = P.pos();
    if (!P.take_string(t.name))
      return P.truncated_string(t.info_offset, "tensor info #" + std::to_string(k),
                                "a tensor name");
    if (t.name.empty())
      return make(Errc::kMalformed, t.info_offset, "tensor info #" + std::to_string(k),
                  "empty tensor name", kHintCorrupt);
    const auto [it, inserted] = f.tensor_index.emplace(t.name, f.tensors.size());
    if (!inserted)
      return make(Errc::kMalformed, t.info_offset, printable(t.name),
                  "duplicate tensor name (first at offset " +
                      std::to_string(f.tensors[it->second].info_offset) + ")",
                  kHintCorrupt);
    const std::uint64_t dims_off = P.pos();
    if (!P.take(t.n_dims)) return P.truncated(dims_off, printable(t.name), "n_dims");
    if (t.n_dims == 0 || t.n_dims > kGgufMaxDims)
      return make(
          Errc::kMalformed, dims_off, printable(t.name),
          "n_dims " + std::to_string(t.n_dims) + " is outside 1.." + std::to_string(kGgufMaxDims),
          kHintCorrupt);
    std::uint64_t n_el = 1;
    for (std::uint32_t d = 0; d < t.n_dims; ++d) {
      const std::uint64_t ne_off = P.pos();
      std::int64_t ne = 0;
      if (!P.take(ne)) return P.truncated(ne_off, printable(t.name), "a dimension");
      if (ne <= 0)
        return make(
            Errc::kMalformed, ne_off, printable(t.name),
            "dimension " + std::to_string(d) + " is " + std::to_string(ne) + " (must be positive)",
            kHintCorrupt);
      t.ne[d] = static_cast<std::uint64_t>(ne);
      // ggml counts elements in int64_t.
      if (__builtin_mul_overflow(n_el, t.ne[d], &n_el) ||
          n_el > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return make(Errc::kOverflow, ne_off, printable(t.name),
                    "the element count overflows int64 at dimension " + std::to_string(d),
                    kHintCorrupt);
    }
    const std::uint64_t type_off = P.pos();
    if (!P.take(t.type_id)) return P.truncated(type_off, printable(t.name), "a tensor type");
    t.offset_field = P.pos();
    if (!P.take(t.offset)) return P.truncated(t.offset_field, printable(t.name), "a tensor offset");
    if (t.offset % f.alignment != 0)
      return make(Errc::kMalformed, t.offset_field, printable(t.name),
                  "data offset " + std::to_string(t.offset) +
                      " is not a multiple of the alignment " + std::to_string(f.alignment),
                  kHintCorrupt);
    f.tensors.push_back(t);
  }

  // Data section.
  auto data = checked_pad(P.pos(), f.alignment);
  if (!data)
    return make(Errc::kOverflow, P.pos(), "tensor data", "the data offset overflows", kHintCorrupt);
  f.data_offset = *data;
  for (const GgufTensorInfo& t : f.tensors)
    if (t.offset > std::numeric_limits<std::uint64_t>::max() - f.data_offset)
      return make(Errc::kOverflow, t.offset_field, printable(t.name),
                  "data offset " + std::to_string(t.offset) +
                      " overflows 64 bits past the data section at " +
                      std::to_string(f.data_offset),
                  kHintCorrupt);
  if (!f.header_only && f.n_tensors > 0) {
    if (f.data_offset > bytes.size())
      return make(Errc::kTruncated, f.data_offset, "tensor data",
                  "the file ends at " + std::to_string(bytes.size()) +
                      ", before the tensor data section at " + std::to_string(f.data_offset),
                  kHintTruncated);
    const std::uint64_t data_size = bytes.size() - f.data_offset;
    for (const GgufTensorInfo& t : f.tensors)
      if (t.offset >= data_size)
        return make(Errc::kTruncated, t.offset_field, printable(t.name),
                    "tensor data offset " + std::to_string(t.offset) + " (absolute " +
                        std::to_string(f.data_offset + t.offset) +
                        ") lies past the end of the file (" + std::to_string(bytes.size()) +
                        " bytes)",
                    kHintTruncated);
  }
  return f;
}

}  // namespace

std::string_view gguf_type_name(GgufType t) noexcept {
  return type_name(static_cast<std::uint32_t>(t));
}

std::uint32_t gguf_scalar_size(GgufType t) noexcept {
  const auto i = static_cast<std::uint32_t>(t);
  return i < kNumValueTypes ? kScalarBytes[i] : 0;
}

bool GgufValue::is_integer() const noexcept {
  switch (type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

Result<std::uint64_t> GgufValue::as_u64(std::string_view key) const {
  switch (type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
    case GgufType::kBool:
      return u;
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      if (i < 0)
        return make(Errc::kMalformed, offset, printable(key), "negative value " + std::to_string(i),
                    "the metadata value must not be negative; re-convert the model");
      return static_cast<std::uint64_t>(i);
    default:
      return make(Errc::kTypeMismatch, offset, printable(key),
                  "expected an integer, found " + std::string(gguf_type_name(type)),
                  "the metadata value has the wrong type; re-convert the model");
  }
}

const GgufKv* GgufFile::find(std::string_view key) const noexcept {
  auto it = key_index.find(key);
  return it == key_index.end() ? nullptr : &kvs[it->second];
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const noexcept {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

Result<std::uint64_t> GgufFile::get_u64(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return missing(key);
  if (!kv->value.is_integer()) return mismatch(*kv, "an integer");
  return kv->value.as_u64(key);
}

Result<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return missing(key);
  if (kv->value.type != GgufType::kString) return mismatch(*kv, "a string");
  return kv->value.str;
}

Result<double> GgufFile::get_f64(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return missing(key);
  if (kv->value.type == GgufType::kF32 || kv->value.type == GgufType::kF64) return kv->value.f;
  if (kv->value.is_integer()) {
    if (kv->value.type == GgufType::kI8 || kv->value.type == GgufType::kI16 ||
        kv->value.type == GgufType::kI32 || kv->value.type == GgufType::kI64)
      return static_cast<double>(kv->value.i);
    return static_cast<double>(kv->value.u);
  }
  return mismatch(*kv, "a number");
}

Result<std::vector<std::uint64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return missing(key);
  return int_array(*kv);
}

Result<std::vector<std::uint64_t>> GgufFile::int_array(const GgufKv& kv) const {
  const GgufValue& v = kv.value;
  if (v.type != GgufType::kArray) return mismatch(kv, "an array");
  const std::uint32_t et = static_cast<std::uint32_t>(v.elem_type);
  const std::uint32_t sz = gguf_scalar_size(v.elem_type);
  if (sz == 0 || v.elem_type == GgufType::kF32 || v.elem_type == GgufType::kF64)
    return make(Errc::kTypeMismatch, kv.type_offset(), printable(kv.key),
                "expected an integer array, found an array of " + std::string(type_name(et)),
                "the metadata value has the wrong type; re-convert the model");
  // Re-check the span against this file's buffer: the kv may come from elsewhere.
  if (v.data_offset > bytes.size() || v.count > (bytes.size() - v.data_offset) / sz)
    return make(Errc::kInternal, v.data_offset, printable(kv.key),
                "array lies outside the parsed buffer", "pass a key-value pair of this file");
  const bool is_signed = v.elem_type == GgufType::kI8 || v.elem_type == GgufType::kI16 ||
                         v.elem_type == GgufType::kI32 || v.elem_type == GgufType::kI64;
  std::vector<std::uint64_t> out;
  out.reserve(v.count);
  const std::byte* p = bytes.data() + v.data_offset;
  for (std::uint64_t k = 0; k < v.count; ++k, p += sz) {
    std::uint64_t u = 0;
    std::int64_t i = 0;
    switch (v.elem_type) {
      case GgufType::kU8:
      case GgufType::kBool:
        u = load<std::uint8_t>(p);
        break;
      case GgufType::kU16:
        u = load<std::uint16_t>(p);
        break;
      case GgufType::kU32:
        u = load<std::uint32_t>(p);
        break;
      case GgufType::kU64:
        u = load<std::uint64_t>(p);
        break;
      case GgufType::kI8:
        i = load<std::int8_t>(p);
        break;
      case GgufType::kI16:
        i = load<std::int16_t>(p);
        break;
      case GgufType::kI32:
        i = load<std::int32_t>(p);
        break;
      case GgufType::kI64:
        i = load<std::int64_t>(p);
        break;
      default:
        break;
    }
    if (is_signed) {
      if (i < 0)
        return make(Errc::kMalformed, v.data_offset + k * sz, elem_field(kv.key, k),
                    "negative value " + std::to_string(i) + " in an array of counts",
                    "the metadata value must not be negative; re-convert the model");
      u = static_cast<std::uint64_t>(i);
    }
    out.push_back(u);
  }
  return out;
}

Result<GgufFile> parse_gguf(std::span<const std::byte> bytes, const GgufParseOptions& opts) {
  try {
    return parse_impl(bytes, opts);
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit,
                 "out of memory while parsing the GGUF header",
                 kNoOffset,
                 {},
                 "the header is too large for the memory available"};
  }
}

}  // namespace bitnet::detail
