// The GGUF corruption table (style.md §7, after llama.cpp's tests/test-gguf.cpp): one row per
// corruption, each a malformed file built from a valid base made with GgufWriter and then mutated,
// truncated or extended by hand, with the exact error the reader must give.
//
// Expected offsets come from BaseLayout, which computes where each field of the base starts from
// the GGUF encoding (memory-model.md §1) by hand: the header is 24 bytes, a string is an 8-byte
// length plus its bytes, a key-value pair is key + i32 type + value, an array value is i32 element
// type + u64 count + elements, a tensor info is name + u32 n_dims + n_dims i64 + i32 type + u64
// offset. Nothing here asks the reader where a field is.
//
// Shared by tests/corrupt/gguf_corrupt_test.cpp, tests/corrupt/corpus_replay_test.cpp and the
// corpus generator fuzz/make_gguf_corpus.cpp (which writes fuzz/corpus/gguf/).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bitnet/error.h"
#include "synth/gguf_writer.h"

namespace bitnet::corrupt {

inline constexpr std::uint64_t kPrefixBytes = 4 + 4 + 8 + 8;  // magic, version, n_tensors, n_kv

constexpr std::uint64_t pad32(std::uint64_t x) { return (x + 31) / 32 * 32; }

struct KvAt {
  std::string key;
  std::uint64_t key_off, type_off, value_off, end;
};
struct TensorAt {
  std::string name;
  std::uint64_t name_off, ndims_off, dims_off, type_off, offset_off, end;
  std::uint64_t dim_off(std::uint32_t d) const { return dims_off + 8 * d; }
};

// Where every field of a file starts, from (key, encoded value bytes) and (name, n_dims) lists.
struct Layout {
  std::vector<KvAt> kv;
  std::vector<TensorAt> t;
  std::uint64_t kv_end = 0, infos_end = 0, data_offset = 0;

  Layout(const std::vector<std::pair<std::string, std::uint64_t>>& kvs,
         const std::vector<std::pair<std::string, std::uint32_t>>& tensors) {
    std::uint64_t off = kPrefixBytes;
    for (const auto& [key, value_bytes] : kvs) {
      const std::uint64_t type_off = off + 8 + key.size();
      kv.push_back({key, off, type_off, type_off + 4, type_off + 4 + value_bytes});
      off = kv.back().end;
    }
    kv_end = off;
    for (const auto& [name, n_dims] : tensors) {
      const std::uint64_t ndims_off = off + 8 + name.size();
      const std::uint64_t type_off = ndims_off + 4 + 8 * n_dims;
      t.push_back({name, off, ndims_off, ndims_off + 4, type_off, type_off + 4, type_off + 12});
      off = t.back().end;
    }
    infos_end = off;
    data_offset = pad32(off);
  }
};

// ---- the valid base ---------------------------------------------------------------------------

// Value bytes per kv (hand-encoded sizes), in the order base_writer() adds them.
inline const std::vector<std::pair<std::string, std::uint64_t>> kBaseKvs = {
    {"general.architecture", 8 + 5},                                 // string "llama"
    {"general.alignment", 4},                                        // u32 32
    {"llama.block_count", 4},                                        // u32 2
    {"general.flag", 1},                                             // bool true
    {"llama.arr", 4 + 8 + 3 * 4},                                    // i32[3] {1, 2, 3}
    {"tokenizer.ggml.tokens", 4 + 8 + (8 + 1) + (8 + 2) + (8 + 3)},  // string[3] {a, bb, ccc}
    {"llama.scale", 4},                                              // f32 0.5
    {"general.name", 8 + 4},                                         // string "tiny"
};
inline const std::vector<std::pair<std::string, std::uint32_t>> kBaseTensors = {
    {"token_embd.weight", 2},    // F32 [8, 4]: 128 bytes
    {"blk.0.attn_q.weight", 2},  // F16 [8, 8]: 128 bytes
    {"output_norm.weight", 1},   // F32 [8]: 32 bytes
};
inline constexpr std::uint64_t kBaseDataBytes = 128 + 128 + 32;  // each already a multiple of 32

inline void add_base_kvs(detail::GgufWriter& w) {
  w.add_string("general.architecture", "llama");
  w.add_u32("general.alignment", 32);
  w.add_u32("llama.block_count", 2);
  w.add_bool("general.flag", true);
  w.add_i32_array("llama.arr", {1, 2, 3});
  w.add_string_array("tokenizer.ggml.tokens", {"a", "bb", "ccc"});
  w.add_f32("llama.scale", 0.5f);
  w.add_string("general.name", "tiny");
}
inline void add_base_tensors(detail::GgufWriter& w) {
  w.add_tensor("token_embd.weight", 0, {8, 4}, 8 * 4 * 4);
  w.add_tensor("blk.0.attn_q.weight", 1, {8, 8}, 8 * 8 * 2);
  w.add_tensor("output_norm.weight", 0, {8}, 8 * 4);
}

inline detail::GgufWriter base_writer() {
  detail::GgufWriter w;
  add_base_kvs(w);
  add_base_tensors(w);
  return w;
}

// The whole file: header, then zero data up to the end of the last tensor.
inline std::string file_of(const detail::GgufWriter& w) {
  std::string s = w.header();
  s.resize(w.file_bytes(), '\0');
  return s;
}

inline std::string base_file() { return file_of(base_writer()); }
inline const Layout& base_layout() {
  static const Layout l(kBaseKvs, kBaseTensors);
  return l;
}

// ---- byte surgery -----------------------------------------------------------------------------

template <class T>
std::string patched(std::string b, std::uint64_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
  return b;
}
inline std::string cut(const std::string& b, std::uint64_t n) { return b.substr(0, n); }

inline std::string le32(std::uint32_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 4);
}
inline std::string le64(std::uint64_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 8);
}
inline std::string enc_str(const std::string& s) { return le64(s.size()) + s; }

// ---- the rows ---------------------------------------------------------------------------------

struct Row {
  std::string name;  // also the corpus file name: <name>.gguf
  std::string bytes;
  bool header_only = false;
  Errc code = Errc::kInternal;
  std::uint64_t offset = kNoOffset;
  std::string field;
};

inline std::vector<Row> gguf_corrupt_rows() {
  using detail::GgufWriter;
  const std::string B = base_file();
  const Layout& L = base_layout();
  const KvAt& arch = L.kv[0];
  const KvAt& align = L.kv[1];
  const KvAt& blocks = L.kv[2];
  const KvAt& flag = L.kv[3];
  const KvAt& arr = L.kv[4];
  const KvAt& toks = L.kv[5];
  const KvAt& scale = L.kv[6];
  const KvAt& name = L.kv[7];
  const TensorAt& t0 = L.t[0];
  const TensorAt& t1 = L.t[1];
  const TensorAt& t2 = L.t[2];
  const std::uint64_t arr_count = arr.value_off + 4, arr_data = arr.value_off + 12;
  const std::uint64_t toks_count = toks.value_off + 4, toks_data = toks.value_off + 12;
  const std::uint64_t tok1 = toks_data + 8 + 1, tok2 = tok1 + 8 + 2;  // elements "bb", "ccc"
  const std::int64_t kBig = std::int64_t{1} << 40;

  std::vector<Row> rows;
  auto add = [&](std::string name, std::string bytes, Errc code, std::uint64_t off,
                 std::string field, bool header_only = false) {
    rows.push_back({std::move(name), std::move(bytes), header_only, code, off, std::move(field)});
  };

  // Magic and version.
  add("bad_magic", patched(B, 0, std::uint8_t{'X'}), Errc::kBadMagic, 0, "magic");
  add("magic_not_gguf_short", "GX", Errc::kBadMagic, 0, "magic");
  add("empty_file", "", Errc::kTruncated, 0, "magic");
  add("trunc_in_magic", cut(B, 2), Errc::kTruncated, 0, "magic");
  add("version_0", patched(B, 4, std::uint32_t{0}), Errc::kUnsupportedVersion, 4, "version");
  add("version_1", patched(B, 4, std::uint32_t{1}), Errc::kUnsupportedVersion, 4, "version");
  add("version_4", patched(B, 4, std::uint32_t{4}), Errc::kUnsupportedVersion, 4, "version");
  add("version_byteswapped", patched(B, 4, std::uint32_t{0x03000000}), Errc::kUnsupportedVersion, 4,
      "version");
  add("trunc_in_version", cut(B, 6), Errc::kTruncated, 4, "version");

  // Counts.
  add("trunc_in_n_tensors", cut(B, 12), Errc::kTruncated, 8, "n_tensors");
  add("trunc_in_n_kv", cut(B, 20), Errc::kTruncated, 16, "n_kv");
  add("n_tensors_huge", patched(B, 8, std::int64_t{1} << 62), Errc::kTruncated, 8, "n_tensors");
  add("n_kv_huge", patched(B, 16, std::int64_t{1} << 62), Errc::kTruncated, 16, "n_kv");
  add("n_tensors_negative", patched(B, 8, std::int64_t{-1}), Errc::kMalformed, 8, "n_tensors");
  add("n_kv_negative", patched(B, 16, std::int64_t{-3}), Errc::kMalformed, 16, "n_kv");
  // One kv too few: the last kv ("general.name", type string = 8) is read as a tensor info whose
  // n_dims is the value type 8.
  add("n_kv_too_small", patched(B, 16, std::int64_t{7}), Errc::kMalformed, name.type_off,
      "general.name");
  // One tensor too many: the fourth info starts in the zero padding, so its name is empty.
  add("n_tensors_too_large", patched(B, 8, std::int64_t{4}), Errc::kMalformed, L.infos_end,
      "tensor info #3");

  // Keys and values.
  // Truncations early in the header fail the count bounds (n_tensors, n_kv) first, so these cut
  // inside the last kv, where the counts still fit in the bytes left.
  add("trunc_in_key_length", cut(B, name.key_off + 4), Errc::kTruncated, name.key_off,
      "metadata key #7");
  add("trunc_in_key", cut(B, name.key_off + 8 + 5), Errc::kTruncated, name.key_off,
      "metadata key #7");
  add("trunc_early_fails_count_bound", cut(B, arch.key_off + 8 + 5), Errc::kTruncated, 8,
      "n_tensors");
  add("key_length_past_eof", patched(B, arch.key_off, kBig), Errc::kTruncated, arch.key_off,
      "metadata key #0");
  add("empty_key", patched(B, blocks.key_off, std::uint64_t{0}), Errc::kMalformed, blocks.key_off,
      "metadata key #2");
  add("trunc_in_value_type", cut(B, name.type_off + 2), Errc::kTruncated, name.type_off,
      "general.name");
  add("unknown_value_type", patched(B, blocks.type_off, std::uint32_t{13}), Errc::kMalformed,
      blocks.type_off, "llama.block_count");
  add("unknown_value_type_huge", patched(B, blocks.type_off, std::uint32_t{0xFFFFFFFF}),
      Errc::kMalformed, blocks.type_off, "llama.block_count");
  add("trunc_in_value", cut(B, scale.value_off + 2), Errc::kTruncated, scale.value_off,
      "llama.scale");
  add("string_length_past_eof", patched(B, arch.value_off, kBig), Errc::kTruncated, arch.value_off,
      "general.architecture");
  add("trunc_in_string_value", cut(B, name.value_off + 8 + 2), Errc::kTruncated, name.value_off,
      "general.name");
  add("bool_value_2", patched(B, flag.value_off, std::uint8_t{2}), Errc::kMalformed, flag.value_off,
      "general.flag");
  {
    GgufWriter w = base_writer();
    w.add_u32("llama.block_count", 3);  // appended after the base kvs
    add("duplicate_key", file_of(w), Errc::kMalformed, L.kv_end, "llama.block_count");
  }

  // Arrays.
  add("trunc_in_array_elem_type", cut(B, arr.value_off + 2), Errc::kTruncated, arr.value_off,
      "llama.arr");
  add("trunc_in_array_count", cut(B, arr_count + 3), Errc::kTruncated, arr_count, "llama.arr");
  add("trunc_in_array_data", cut(B, arr_data + 5), Errc::kTruncated, arr_count, "llama.arr");
  add("unknown_array_elem_type", patched(B, arr.value_off, std::uint32_t{13}), Errc::kMalformed,
      arr.value_off, "llama.arr");
  add("array_count_past_eof", patched(B, arr_count, std::uint64_t{kBig}), Errc::kTruncated,
      arr_count, "llama.arr");
  add("array_count_max", patched(B, arr_count, ~std::uint64_t{0}), Errc::kTruncated, arr_count,
      "llama.arr");
  add("string_array_count_past_eof", patched(B, toks_count, std::uint64_t{kBig}), Errc::kTruncated,
      toks_count, "tokenizer.ggml.tokens");
  add("string_element_length_past_eof", patched(B, tok1, kBig), Errc::kTruncated, tok1,
      "tokenizer.ggml.tokens[1]");
  add("trunc_in_string_array", cut(B, tok2 + 8 + 1), Errc::kTruncated, tok2,
      "tokenizer.ggml.tokens[2]");
  {
    // [[...[u32]...]] nested 9 levels: the 9th array header (at value + 8 * 12) is too deep.
    std::string v = le32(9);  // value type: array
    for (int level = 1; level <= 8; ++level) v += le32(9) + le64(1);
    v += le32(4) + le64(1) + le32(7);
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    const std::uint64_t key_off = kPrefixBytes + 8 + 20 + 4 + 8 + 5;
    w.raw_kv_bytes(enc_str("deep") + v);
    const std::uint64_t value_off = key_off + 8 + 4 + 4;
    add("nested_arrays_too_deep", file_of(w), Errc::kMalformed, value_off + 8 * 12, "deep[0]");
  }
  {
    // [[u8 x 2^40]]: the inner count runs past the end.
    GgufWriter w;
    w.raw_kv_bytes(enc_str("nest") + le32(9) + le32(9) + le64(1) + le32(0) +
                   le64(std::uint64_t{1} << 40));
    const std::uint64_t value_off = kPrefixBytes + 8 + 4 + 4;
    add("nested_array_count_past_eof", file_of(w), Errc::kTruncated, value_off + 12 + 4, "nest");
  }
  {
    // [[<type 77>]]: unknown element type in a nested array.
    GgufWriter w;
    w.raw_kv_bytes(enc_str("nest") + le32(9) + le32(9) + le64(1) + le32(77) + le64(0));
    const std::uint64_t value_off = kPrefixBytes + 8 + 4 + 4;
    add("nested_unknown_elem_type", file_of(w), Errc::kMalformed, value_off + 12, "nest");
  }
  {
    GgufWriter w;
    w.add_bool_array("flags", {true, false});
    std::string b = file_of(w);
    const std::uint64_t elem1 = kPrefixBytes + 8 + 5 + 4 + 4 + 8 + 1;
    add("bool_array_element_2", patched(b, elem1, std::uint8_t{2}), Errc::kMalformed, elem1,
        "flags[1]");
  }

  // Alignment.
  add("alignment_0", patched(B, align.value_off, std::uint32_t{0}), Errc::kMalformed,
      align.value_off, "general.alignment");
  add("alignment_3", patched(B, align.value_off, std::uint32_t{3}), Errc::kMalformed,
      align.value_off, "general.alignment");
  {
    GgufWriter w;
    w.add_u64("general.alignment", 32);  // ggml reads it with gguf_get_val_u32
    add_base_tensors(w);
    add("alignment_wrong_type", file_of(w), Errc::kTypeMismatch, kPrefixBytes + 8 + 17,
        "general.alignment");
  }

  // Tensor infos.
  add("trunc_in_tensor_name", cut(B, t1.name_off + 8 + 3), Errc::kTruncated, t1.name_off,
      "tensor info #1");
  add("tensor_name_length_past_eof", patched(B, t1.name_off, kBig), Errc::kTruncated, t1.name_off,
      "tensor info #1");
  add("empty_tensor_name", patched(B, t2.name_off, std::uint64_t{0}), Errc::kMalformed, t2.name_off,
      "tensor info #2");
  add("trunc_in_n_dims", cut(B, t1.ndims_off + 1), Errc::kTruncated, t1.ndims_off,
      "blk.0.attn_q.weight");
  add("trunc_in_dims", cut(B, t1.dim_off(1) + 4), Errc::kTruncated, t1.dim_off(1),
      "blk.0.attn_q.weight");
  add("trunc_in_tensor_type", cut(B, t1.type_off + 3), Errc::kTruncated, t1.type_off,
      "blk.0.attn_q.weight");
  add("trunc_in_tensor_offset", cut(B, t1.offset_off + 7), Errc::kTruncated, t1.offset_off,
      "blk.0.attn_q.weight");
  add("n_dims_0", patched(B, t0.ndims_off, std::uint32_t{0}), Errc::kMalformed, t0.ndims_off,
      "token_embd.weight");
  add("n_dims_5", patched(B, t0.ndims_off, std::uint32_t{5}), Errc::kMalformed, t0.ndims_off,
      "token_embd.weight");
  add("dim_negative", patched(B, t0.dim_off(1), std::int64_t{-4}), Errc::kMalformed, t0.dim_off(1),
      "token_embd.weight");
  add("dim_zero", patched(B, t0.dim_off(0), std::int64_t{0}), Errc::kMalformed, t0.dim_off(0),
      "token_embd.weight");
  add("shape_overflow_u64",
      patched(patched(B, t0.dim_off(0), std::int64_t{1} << 32), t0.dim_off(1),
              std::int64_t{1} << 32),
      Errc::kOverflow, t0.dim_off(1), "token_embd.weight");
  add("shape_overflow_int64",
      patched(patched(B, t0.dim_off(0), std::int64_t{1} << 32), t0.dim_off(1),
              std::int64_t{1} << 31),
      Errc::kOverflow, t0.dim_off(1), "token_embd.weight");
  {
    GgufWriter w = base_writer();
    w.add_tensor_at("blk.0.ffn_up.weight", 0, {1 << 16, 1 << 16, 1 << 16, 1 << 16}, 0);
    add("shape_overflow_4d", file_of(w), Errc::kOverflow, L.infos_end + 8 + 19 + 4 + 3 * 8,
        "blk.0.ffn_up.weight");
  }
  {
    GgufWriter w = base_writer();
    w.add_tensor("output_norm.weight", 0, {8}, 32);  // a second info with the same name
    add("duplicate_tensor_name", file_of(w), Errc::kMalformed, L.infos_end, "output_norm.weight");
  }
  add("misaligned_tensor_offset", patched(B, t1.offset_off, std::uint64_t{33}), Errc::kMalformed,
      t1.offset_off, "blk.0.attn_q.weight");
  add("tensor_offset_past_eof", patched(B, t2.offset_off, std::uint64_t{1} << 20), Errc::kTruncated,
      t2.offset_off, "output_norm.weight");
  add("tensor_offset_overflow", patched(B, t2.offset_off, ~std::uint64_t{31}), Errc::kOverflow,
      t2.offset_off, "output_norm.weight");
  add("tensor_offset_overflow_header_only",
      patched(cut(B, L.infos_end), t2.offset_off, ~std::uint64_t{31}), Errc::kOverflow,
      t2.offset_off, "output_norm.weight", true);

  // The data section.
  add("trunc_in_padding", cut(B, L.infos_end + 1), Errc::kTruncated, L.data_offset, "tensor data");
  add("trunc_at_data_offset", cut(B, L.data_offset), Errc::kTruncated, t0.offset_off,
      "token_embd.weight");
  add("trunc_in_data", cut(B, L.data_offset + 200), Errc::kTruncated, t2.offset_off,
      "output_norm.weight");
  add("header_only_trunc_in_tensor_infos", cut(B, t2.type_off), Errc::kTruncated, t2.type_off,
      "output_norm.weight", true);

  // Allocation bombs: a declared count just under the byte bound, with a large filler present, so a
  // reader that reserved by the declared count would allocate many times the file's size.
  {
    GgufWriter w(2);  // version 2 has the same layout
    w.add_string("filler", std::string(8192, 'x'));
    const std::uint64_t kv_end = kPrefixBytes + 8 + 6 + 4 + 8 + 8192;
    std::string b = cut(file_of(w), kv_end);
    b = patched(b, 16, static_cast<std::int64_t>((kv_end - kPrefixBytes) / 14));
    add("n_kv_allocation_bomb", b, Errc::kTruncated, kv_end, "metadata key #1");
  }
  {
    GgufWriter w;
    w.add_u32("general.alignment", 32);
    w.add_tensor_at(std::string(8192, 'n'), 0, {8}, 0);
    const std::uint64_t infos_end = kPrefixBytes + (8 + 17 + 4 + 4) + (8 + 8192 + 4 + 8 + 4 + 8);
    std::string b = cut(file_of(w), infos_end);
    b = patched(b, 8, static_cast<std::int64_t>((infos_end - kPrefixBytes) / 33));
    add("n_tensors_allocation_bomb", b, Errc::kTruncated, infos_end, "tensor info #1", true);
  }
  return rows;
}

// Valid seeds for the fuzzer (the replay test expects them to parse in full mode).
inline std::vector<std::pair<std::string, std::string>> gguf_valid_seeds() {
  using detail::GgufWriter;
  std::vector<std::pair<std::string, std::string>> seeds;
  seeds.emplace_back("valid_base", base_file());
  {
    GgufWriter w(2);
    w.set_alignment(64);
    w.add_u32("general.alignment", 64);
    w.add_string("general.architecture", "bitnet-b1.58");
    w.add_u8("u8", 1);
    w.add_i8("i8", -1);
    w.add_u16("u16", 2);
    w.add_i16("i16", -2);
    w.add_i32("i32", -3);
    w.add_u64("u64", 4);
    w.add_i64("i64", -4);
    w.add_f64("f64", 0.5);
    w.add_bool_array("bools", {true, false});
    w.add_f32_array("floats", {1.0f});
    w.add_u32_array("counts", {1, 2});
    // [[1, 2], [], ["a"]]
    w.raw_kv_bytes(enc_str("nested") + le32(9) + le32(9) + le64(3) + le32(4) + le64(2) + le32(1) +
                   le32(2) + le32(0) + le64(0) + le32(8) + le64(1) + enc_str("a"));
    w.add_tensor("blk.0.attn_q.weight", 36, {256, 128}, 256 * 128 / 4 + 32);
    w.add_tensor("blk.0.ffn_down.weight", 39, {512, 64, 2, 1}, 1024);
    seeds.emplace_back("valid_v2_align64_all_types", file_of(w));
  }
  return seeds;
}

}  // namespace bitnet::corrupt
