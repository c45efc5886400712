// Our own GGUF writer (low level): metadata, tensor infos, alignment, then sparse zero data, so a
// multi-GB model costs no disk. Used by `bitnet-mem synth`, the tests and the benchmarks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/error.h"

namespace bitnet::detail {

class GgufWriter {
 public:
  explicit GgufWriter(std::uint32_t version = 3) : version_(version) {}

  // Alignment of tensor offsets and of the data section. Writes no key: add general.alignment
  // yourself when it is not 32 (as real writers do).
  void set_alignment(std::uint32_t a) { alignment_ = a; }
  std::uint32_t alignment() const { return alignment_; }

  void add_u8(std::string_view key, std::uint8_t v);
  void add_i8(std::string_view key, std::int8_t v);
  void add_u16(std::string_view key, std::uint16_t v);
  void add_i16(std::string_view key, std::int16_t v);
  void add_u32(std::string_view key, std::uint32_t v);
  void add_i32(std::string_view key, std::int32_t v);
  void add_u64(std::string_view key, std::uint64_t v);
  void add_i64(std::string_view key, std::int64_t v);
  void add_f32(std::string_view key, float v);
  void add_f64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  void add_u32_array(std::string_view key, const std::vector<std::uint32_t>& v);
  void add_i32_array(std::string_view key, const std::vector<std::int32_t>& v);
  void add_f32_array(std::string_view key, const std::vector<float>& v);
  void add_bool_array(std::string_view key, const std::vector<bool>& v);
  void add_string_array(std::string_view key, const std::vector<std::string>& v);
  // A string array produced by a callback (no vector of 280k strings needed): f(i) -> std::string.
  template <class F>
  void add_string_array_fn(std::string_view key, std::uint64_t n, F&& f) {
    begin_kv(key, 9);
    put_u32(8);
    put_u64(n);
    for (std::uint64_t i = 0; i < n; ++i) put_str(f(i));
  }

  // Appends a tensor info; its offset is the running sum of pad(nbytes, alignment), as every real
  // writer does. Returns the offset (relative to the data section).
  std::uint64_t add_tensor(std::string_view name, std::uint32_t type_id,
                           const std::vector<std::uint64_t>& ne, std::uint64_t nbytes);
  // Appends a tensor info with an explicit offset (for corrupt fixtures).
  void add_tensor_at(std::string_view name, std::uint32_t type_id,
                     const std::vector<std::uint64_t>& ne, std::uint64_t offset);

  // Magic .. tensor infos .. padding to the data offset.
  std::string header() const;
  std::uint64_t data_offset() const;
  // Bytes of the data section: running offset (last tensor padded to the alignment).
  std::uint64_t data_bytes() const { return next_offset_; }
  std::uint64_t file_bytes() const { return data_offset() + data_bytes(); }
  std::uint64_t n_tensors() const { return n_tensors_; }
  std::uint64_t n_kv() const { return n_kv_; }

  // Writes the header and extends the file with zeros (sparse) to file_bytes(); header_only
  // writes just the header.
  Status write(const std::string& path, bool header_only = false) const;

  // Raw appends to the metadata section, for corrupt fixtures.
  void raw_kv_bytes(std::string_view bytes, std::uint64_t count_as = 1) {
    kv_.append(bytes);
    n_kv_ += count_as;
  }

 private:
  void begin_kv(std::string_view key, std::uint32_t type);
  void put_u32(std::uint32_t v) { kv_.append(reinterpret_cast<const char*>(&v), 4); }
  void put_u64(std::uint64_t v) { kv_.append(reinterpret_cast<const char*>(&v), 8); }
  void put_str(std::string_view s) {
    put_u64(s.size());
    kv_.append(s);
  }
  template <class T>
  void put_raw(T v) { kv_.append(reinterpret_cast<const char*>(&v), sizeof v); }

  std::uint32_t version_;
  std::uint32_t alignment_ = 32;
  std::string kv_;
  std::string ti_;
  std::uint64_t n_kv_ = 0;
  std::uint64_t n_tensors_ = 0;
  std::uint64_t next_offset_ = 0;
};

}  // namespace bitnet::detail
