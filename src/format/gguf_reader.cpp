// GGUF reader (memory-model.md §1; ggml src/gguf.cpp gguf_init_from_file_impl). Hostile input:
// every declared count is checked against the bytes left before anything is sized by it.
#include "format/gguf_reader.h"

#include <string>

#include "core/checked.h"
#include "format/byte_cursor.h"

namespace bitnet::detail {
namespace {

constexpr std::uint32_t kMaxArrayDepth = 8;
// Smallest possible encodings, used to bound declared counts by the bytes that remain.
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;              // key length, type, 1-byte value
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name len, n_dims, 1 dim, type, offset

std::string hex(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), d[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

Error at(Errc c, std::uint64_t off, std::string field, std::string msg, std::string hint = {}) {
  return Error{c, std::move(msg), off, std::move(field), std::move(hint)};
}

// Walks an array's elements (already positioned after elem_type and count), checking every length.
Status skip_array(ByteCursor& cur, GgufType elem, std::uint64_t count, std::string_view key,
                  std::uint32_t depth) {
  if (depth > kMaxArrayDepth)
    return at(Errc::kMalformed, cur.pos(), std::string(key),
              "arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
  const std::uint32_t sz = gguf_scalar_size(elem);
  if (sz != 0) {
    auto bytes = checked_mul(count, sz, "array size");
    if (!bytes || *bytes > cur.remaining())
      return at(Errc::kTruncated, cur.pos(), std::string(key),
                "array of " + std::to_string(count) + " " + std::string(gguf_type_name(elem)) +
                    " runs past the end of the file");
    return cur.skip(*bytes, "array");
  }
  if (elem == GgufType::kString) {
    if (count > cur.remaining() / 8)
      return at(Errc::kTruncated, cur.pos(), std::string(key),
                "array of " + std::to_string(count) + " strings runs past the end of the file");
    for (std::uint64_t k = 0; k < count; ++k) {
      auto s = cur.read_string("string array element");
      if (!s) {
        Error e = std::move(s).error();
        e.field = std::string(key) + "[" + std::to_string(k) + "]";
        return e;
      }
    }
    return Ok{};
  }
  if (elem == GgufType::kArray) {
    if (count > cur.remaining() / 12)
      return at(Errc::kTruncated, cur.pos(), std::string(key),
                "array of " + std::to_string(count) + " arrays runs past the end of the file");
    for (std::uint64_t k = 0; k < count; ++k) {
      const std::uint64_t p = cur.pos();
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t et, cur.read<std::uint32_t>("nested array type"));
      if (et > static_cast<std::uint32_t>(GgufType::kF64))
        return at(Errc::kMalformed, p, std::string(key),
                  "unknown value type " + std::to_string(et) + " in a nested array");
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t n, cur.read<std::uint64_t>("nested array count"));
      BITNET_TRY(skip_array(cur, static_cast<GgufType>(et), n, key, depth + 1));
    }
    return Ok{};
  }
  return at(Errc::kMalformed, cur.pos(), std::string(key), "unknown array element type");
}

Status read_value(ByteCursor& cur, GgufType type, std::string_view key, GgufValue& v) {
  v.type = type;
  v.offset = cur.pos();
  switch (type) {
    case GgufType::kU8: { BITNET_ASSIGN_OR_RETURN(v.u, cur.read<std::uint8_t>("u8 value")); return Ok{}; }
    case GgufType::kI8: { BITNET_ASSIGN_OR_RETURN(v.i, cur.read<std::int8_t>("i8 value")); return Ok{}; }
    case GgufType::kU16: { BITNET_ASSIGN_OR_RETURN(v.u, cur.read<std::uint16_t>("u16 value")); return Ok{}; }
    case GgufType::kI16: { BITNET_ASSIGN_OR_RETURN(v.i, cur.read<std::int16_t>("i16 value")); return Ok{}; }
    case GgufType::kU32: { BITNET_ASSIGN_OR_RETURN(v.u, cur.read<std::uint32_t>("u32 value")); return Ok{}; }
    case GgufType::kI32: { BITNET_ASSIGN_OR_RETURN(v.i, cur.read<std::int32_t>("i32 value")); return Ok{}; }
    case GgufType::kU64: { BITNET_ASSIGN_OR_RETURN(v.u, cur.read<std::uint64_t>("u64 value")); return Ok{}; }
    case GgufType::kI64: { BITNET_ASSIGN_OR_RETURN(v.i, cur.read<std::int64_t>("i64 value")); return Ok{}; }
    case GgufType::kF32: { BITNET_ASSIGN_OR_RETURN(const float x, cur.read<float>("f32 value")); v.f = x; return Ok{}; }
    case GgufType::kF64: { BITNET_ASSIGN_OR_RETURN(v.f, cur.read<double>("f64 value")); return Ok{}; }
    case GgufType::kBool: {
      BITNET_ASSIGN_OR_RETURN(const std::uint8_t b, cur.read<std::uint8_t>("bool value"));
      if (b > 1) return at(Errc::kMalformed, v.offset, std::string(key), "bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.u = b;
      return Ok{};
    }
    case GgufType::kString: { BITNET_ASSIGN_OR_RETURN(v.str, cur.read_string("string value")); return Ok{}; }
    case GgufType::kArray: {
      const std::uint64_t p = cur.pos();
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t et, cur.read<std::uint32_t>("array element type"));
      if (et > static_cast<std::uint32_t>(GgufType::kF64))
        return at(Errc::kMalformed, p, std::string(key), "unknown array element type " + std::to_string(et),
                  "the file is corrupt or from an unsupported GGUF writer");
      v.elem_type = static_cast<GgufType>(et);
      BITNET_ASSIGN_OR_RETURN(v.count, cur.read<std::uint64_t>("array count"));
      v.data_offset = cur.pos();
      BITNET_TRY(skip_array(cur, v.elem_type, v.count, key, 1));
      v.data_bytes = cur.pos() - v.data_offset;
      return Ok{};
    }
  }
  return at(Errc::kMalformed, v.offset, std::string(key), "unknown value type");
}

Error with_field(Error e, std::string_view field) {
  if (e.field.empty()) e.field = std::string(field);
  return e;
}

}  // namespace

std::string_view gguf_type_name(GgufType t) noexcept {
  static constexpr std::string_view kNames[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : std::string_view("?");
}

std::uint32_t gguf_scalar_size(GgufType t) noexcept {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

bool GgufValue::is_integer() const noexcept {
  switch (type) {
    case GgufType::kU8: case GgufType::kU16: case GgufType::kU32: case GgufType::kU64:
    case GgufType::kI8: case GgufType::kI16: case GgufType::kI32: case GgufType::kI64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

Result<std::uint64_t> GgufValue::as_u64(std::string_view key) const {
  switch (type) {
    case GgufType::kU8: case GgufType::kU16: case GgufType::kU32: case GgufType::kU64: case GgufType::kBool:
      return u;
    case GgufType::kI8: case GgufType::kI16: case GgufType::kI32: case GgufType::kI64:
      if (i < 0) return at(Errc::kMalformed, offset, std::string(key), "negative value " + std::to_string(i));
      return static_cast<std::uint64_t>(i);
    default:
      return at(Errc::kTypeMismatch, offset, std::string(key),
                "expected an integer, found " + std::string(gguf_type_name(type)));
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
  if (kv == nullptr) return at(Errc::kMissingKey, kNoOffset, std::string(key), "required key is missing");
  return kv->value.as_u64(key);
}

Result<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return at(Errc::kMissingKey, kNoOffset, std::string(key), "required key is missing");
  if (kv->value.type != GgufType::kString)
    return at(Errc::kTypeMismatch, kv->value.offset, std::string(key),
              "expected a string, found " + std::string(gguf_type_name(kv->value.type)));
  return kv->value.str;
}

Result<double> GgufFile::get_f64(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return at(Errc::kMissingKey, kNoOffset, std::string(key), "required key is missing");
  if (kv->value.type == GgufType::kF32 || kv->value.type == GgufType::kF64) return kv->value.f;
  if (kv->value.is_integer()) {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t u, kv->value.as_u64(key));
    return static_cast<double>(u);
  }
  return at(Errc::kTypeMismatch, kv->value.offset, std::string(key),
            "expected a number, found " + std::string(gguf_type_name(kv->value.type)));
}

Result<std::vector<std::uint64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufKv* kv = find(key);
  if (kv == nullptr) return at(Errc::kMissingKey, kNoOffset, std::string(key), "required key is missing");
  return int_array(*kv);
}

Result<std::vector<std::uint64_t>> GgufFile::int_array(const GgufKv& kv) const {
  const GgufValue& v = kv.value;
  if (v.type != GgufType::kArray)
    return at(Errc::kTypeMismatch, v.offset, std::string(kv.key),
              "expected an array, found " + std::string(gguf_type_name(v.type)));
  const std::uint32_t sz = gguf_scalar_size(v.elem_type);
  if (sz == 0 || v.elem_type == GgufType::kF32 || v.elem_type == GgufType::kF64)
    return at(Errc::kTypeMismatch, v.offset, std::string(kv.key),
              "expected an integer array, found an array of " + std::string(gguf_type_name(v.elem_type)));
  // count * sz bytes were checked to lie inside the buffer at parse time.
  std::vector<std::uint64_t> out;
  out.reserve(v.count);
  for (std::uint64_t k = 0; k < v.count; ++k) {
    GgufValue e;
    ByteCursor cur(bytes, v.data_offset + k * sz);
    BITNET_TRY(read_value(cur, v.elem_type, kv.key, e));
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t x, e.as_u64(kv.key));
    out.push_back(x);
  }
  return out;
}

Result<GgufFile> parse_gguf(std::span<const std::byte> bytes, const GgufParseOptions& opts) {
  GgufFile f;
  f.bytes = bytes;
  f.buffer_bytes = bytes.size();
  f.header_only = opts.header_only;
  ByteCursor cur(bytes);

  // Magic and version.
  if (bytes.size() < 4)
    return at(Errc::kTruncated, 0, "magic", "the file is " + std::to_string(bytes.size()) +
                                                " bytes long, too short for a GGUF header");
  if (std::memcmp(bytes.data(), "GGUF", 4) != 0)
    return at(Errc::kBadMagic, 0, "magic", "not a GGUF file (the first 4 bytes are not \"GGUF\")",
              "check that the path names a .gguf model file");
  BITNET_TRY(cur.skip(4, "magic"));
  auto version = cur.read<std::uint32_t>("the version");
  if (!version) return with_field(std::move(version).error(), "version");
  f.version = *version;
  if ((f.version & 0xFFFFu) == 0 && f.version != 0)
    return at(Errc::kUnsupportedVersion, 4, "version",
              "version field " + hex(f.version) + " is byte-swapped: a big-endian GGUF file",
              "convert the model to little-endian GGUF");
  if (f.version == 1)
    return at(Errc::kUnsupportedVersion, 4, "version", "GGUF version 1 (32-bit counts) is not supported",
              "re-convert the model with a current gguf writer (version 3)");
  if (f.version < 2 || f.version > 3)
    return at(Errc::kUnsupportedVersion, 4, "version",
              "GGUF version " + std::to_string(f.version) + " is not supported (2 and 3 are)");

  // Counts.
  auto n_tensors = cur.read<std::int64_t>("the tensor count");
  if (!n_tensors) return with_field(std::move(n_tensors).error(), "n_tensors");
  auto n_kv = cur.read<std::int64_t>("the metadata count");
  if (!n_kv) return with_field(std::move(n_kv).error(), "n_kv");
  if (*n_tensors < 0)
    return at(Errc::kMalformed, 8, "n_tensors", "negative tensor count " + std::to_string(*n_tensors));
  if (*n_kv < 0) return at(Errc::kMalformed, 16, "n_kv", "negative metadata count " + std::to_string(*n_kv));
  f.n_tensors = static_cast<std::uint64_t>(*n_tensors);
  f.n_kv = static_cast<std::uint64_t>(*n_kv);
  if (f.n_kv > cur.remaining() / kMinKvBytes)
    return at(Errc::kTruncated, 16, "n_kv",
              "metadata count " + std::to_string(f.n_kv) + " cannot fit in the " +
                  std::to_string(cur.remaining()) + " bytes that follow");
  if (f.n_tensors > cur.remaining() / kMinTensorInfoBytes)
    return at(Errc::kTruncated, 8, "n_tensors",
              "tensor count " + std::to_string(f.n_tensors) + " cannot fit in the " +
                  std::to_string(cur.remaining()) + " bytes that follow");

  // Metadata.
  f.kvs.reserve(f.n_kv);
  f.key_index.reserve(f.n_kv);
  for (std::uint64_t k = 0; k < f.n_kv; ++k) {
    GgufKv kv;
    kv.key_offset = cur.pos();
    auto key = cur.read_string("a metadata key");
    if (!key) return with_field(std::move(key).error(), "metadata key #" + std::to_string(k));
    kv.key = *key;
    if (kv.key.empty()) return at(Errc::kMalformed, kv.key_offset, "metadata key #" + std::to_string(k), "empty key");
    const std::uint64_t type_off = cur.pos();
    auto type = cur.read<std::uint32_t>("a value type");
    if (!type) return with_field(std::move(type).error(), kv.key);
    if (*type > static_cast<std::uint32_t>(GgufType::kF64))
      return at(Errc::kMalformed, type_off, std::string(kv.key), "unknown value type " + std::to_string(*type),
                "the file is corrupt or from an unsupported GGUF writer");
    if (auto st = read_value(cur, static_cast<GgufType>(*type), kv.key, kv.value); !st)
      return with_field(std::move(st).error(), kv.key);
    if (!f.key_index.emplace(kv.key, f.kvs.size()).second)
      return at(Errc::kMalformed, kv.key_offset, std::string(kv.key), "duplicate metadata key");
    f.kvs.push_back(kv);
  }

  // Alignment.
  if (const GgufKv* a = f.find("general.alignment")) {
    if (a->value.type != GgufType::kU32)
      return at(Errc::kTypeMismatch, a->value.offset, "general.alignment",
                "expected u32, found " + std::string(gguf_type_name(a->value.type)));
    const std::uint64_t al = a->value.u;
    if (al == 0 || (al & (al - 1)) != 0)
      return at(Errc::kMalformed, a->value.offset, "general.alignment",
                "alignment " + std::to_string(al) + " is not a power of two");
    f.alignment = al;
  }

  // Tensor infos.
  f.tensors.reserve(f.n_tensors);
  f.tensor_index.reserve(f.n_tensors);
  for (std::uint64_t k = 0; k < f.n_tensors; ++k) {
    GgufTensorInfo t;
    t.info_offset = cur.pos();
    const std::string label = "tensor info #" + std::to_string(k);
    auto name = cur.read_string("a tensor name");
    if (!name) return with_field(std::move(name).error(), label);
    t.name = *name;
    const std::string field = t.name.empty() ? label : std::string(t.name);
    if (t.name.empty()) return at(Errc::kMalformed, t.info_offset, label, "empty tensor name");
    const std::uint64_t dims_off = cur.pos();
    auto n_dims = cur.read<std::uint32_t>("n_dims");
    if (!n_dims) return with_field(std::move(n_dims).error(), field);
    if (*n_dims == 0 || *n_dims > 4)
      return at(Errc::kMalformed, dims_off, field,
                "n_dims " + std::to_string(*n_dims) + " is outside 1..4");
    t.n_dims = *n_dims;
    std::uint64_t n_el = 1;
    for (std::uint32_t d = 0; d < t.n_dims; ++d) {
      const std::uint64_t ne_off = cur.pos();
      auto ne = cur.read<std::int64_t>("a dimension");
      if (!ne) return with_field(std::move(ne).error(), field);
      if (*ne <= 0)
        return at(Errc::kMalformed, ne_off, field,
                  "dimension " + std::to_string(d) + " is " + std::to_string(*ne) + " (must be positive)");
      t.ne[d] = static_cast<std::uint64_t>(*ne);
      if (__builtin_mul_overflow(n_el, t.ne[d], &n_el))
        return at(Errc::kOverflow, ne_off, field, "the element count overflows 64 bits");
    }
    if (n_el > (std::uint64_t{1} << 62))
      return at(Errc::kOverflow, dims_off, field, "element count " + std::to_string(n_el) + " is absurd");
    auto type = cur.read<std::uint32_t>("a tensor type");
    if (!type) return with_field(std::move(type).error(), field);
    t.type_id = *type;
    const std::uint64_t off_off = cur.pos();
    auto off = cur.read<std::uint64_t>("a tensor offset");
    if (!off) return with_field(std::move(off).error(), field);
    t.offset = *off;
    if (t.offset % f.alignment != 0)
      return at(Errc::kMalformed, off_off, field,
                "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                    std::to_string(f.alignment));
    if (!f.tensor_index.emplace(t.name, f.tensors.size()).second)
      return at(Errc::kMalformed, t.info_offset, field, "duplicate tensor name");
    f.tensors.push_back(t);
  }

  // Data section.
  auto data = checked_pad(cur.pos(), f.alignment);
  if (!data) return at(Errc::kOverflow, cur.pos(), "data offset", "data offset overflows");
  f.data_offset = *data;
  if (!f.header_only) {
    if (f.data_offset > bytes.size() && f.n_tensors > 0)
      return at(Errc::kTruncated, cur.pos(), "data offset",
                "the file ends before the tensor data (data offset " + std::to_string(f.data_offset) +
                    ", file " + std::to_string(bytes.size()) + " bytes)",
                "if the file holds only the header, pass --header-only");
    const std::uint64_t data_size = bytes.size() > f.data_offset ? bytes.size() - f.data_offset : 0;
    for (const GgufTensorInfo& t : f.tensors) {
      if (t.offset >= data_size)
        return at(Errc::kTruncated, t.info_offset, std::string(t.name),
                  "tensor data offset " + std::to_string(t.offset) + " lies past the end of the file (" +
                      std::to_string(data_size) + " data bytes)",
                  "if the file holds only the header, pass --header-only");
    }
  }
  return f;
}

}  // namespace bitnet::detail
