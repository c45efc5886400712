// libFuzzer target for the GGUF reader: parses every input in both modes (full and header-only),
// checks the invariants every result must keep, and drives every accessor and the type table over
// what was parsed. Any violated invariant traps, so the fuzzer reports it as a crash.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "format/gguf_reader.h"
#include "tables/quant_traits.h"

namespace {

using namespace bitnet;
using namespace bitnet::detail;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void exercise_error(const Error& e, std::uint64_t size) {
  check(!e.message.empty());
  check(!e.hint.empty());
  check(e.offset != kNoOffset);
  // The offset names a byte of the buffer, or the data section that a short file does not reach.
  check(e.offset <= size || e.field == "tensor data");
  check(!e.to_string().empty());
  check(!errc_name(e.code).empty());
}

void exercise_file(const GgufFile& f, std::uint64_t size) {
  check(f.kvs.size() == f.n_kv && f.tensors.size() == f.n_tensors);
  check(f.alignment != 0 && (f.alignment & (f.alignment - 1)) == 0);
  check(f.data_offset % f.alignment == 0);
  for (const GgufKv& kv : f.kvs) {
    check(f.find(kv.key) == &kv);  // duplicates are rejected at parse
    check(kv.value.offset == kv.type_offset() + 4 && kv.value.offset <= size);
    (void)f.get_u64(kv.key);
    (void)f.get_string(kv.key);
    (void)f.get_f64(kv.key);
    (void)f.get_int_array(kv.key);
    auto ints = f.int_array(kv);
    if (ints) check(ints->size() == kv.value.count);
    if (kv.value.type == GgufType::kArray) {
      check(kv.value.data_offset + kv.value.data_bytes <= size);
      std::uint64_t n = 0, bytes = 0;
      auto st = f.for_each_string(kv, [&](std::string_view s) {
        ++n;
        bytes += 8 + s.size();
      });
      if (kv.value.elem_type == GgufType::kString) {
        check(st.has_value() && n == kv.value.count && bytes == kv.value.data_bytes);
      } else {
        check(!st.has_value());
      }
    } else if (kv.value.type == GgufType::kString) {
      check(kv.value.str.size() <= size);
    }
  }
  for (const GgufTensorInfo& t : f.tensors) {
    check(f.find_tensor(t.name) == &t);
    check(t.n_dims >= 1 && t.n_dims <= kGgufMaxDims && t.offset % f.alignment == 0);
    if (!f.header_only) check(f.data_offset + t.offset < size);
    for (TypeMap m : {TypeMap::kUpstream, TypeMap::kBitnet2024, TypeMap::kBitnetPort}) {
      if (const QuantTraits* q = find_traits(t.type_id, m)) {
        (void)tensor_bytes(*q, t.ne);
        (void)legacy_tensor_bytes(*q, t.ne);
      }
    }
  }
  (void)f.get_u64("general.alignment");
  (void)f.get_string("general.architecture");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  for (bool header_only : {false, true}) {
    auto f = parse_gguf(bytes, GgufParseOptions{.header_only = header_only});
    if (f) {
      exercise_file(*f, size);
    } else {
      exercise_error(f.error(), size);
    }
  }
  return 0;
}
