// The tensor type table (memory-model.md §2): one row per (type id, dialect). Sizes are data.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "bitnet/error.h"
#include "bitnet/types.h"

namespace bitnet::detail {

enum class SizeRule : std::uint8_t {
  kBlocks,         // n / block_elems * block_bytes (ne0 % block_elems == 0)
  kTailPerTensor,  // I2_S / TL1, 2024 fork: n/4 + 32 (one f32 scale + 28 B pad per tensor)
  kTailPerSlice,   // I2_S / TL1, port: (ne0*ne1/4 + 32) * ne2 * ne3
  kTl2,            // TL2 fixed formula (memory-model.md §2.1)
  kRemoved,        // a removed id: no size in current runtimes
};

// Dialect bits: which type maps a row belongs to.
inline constexpr std::uint8_t kUp = 1, kB24 = 2, kBPort = 4;

struct QuantTraits {
  std::uint32_t id;             // as stored in the GGUF tensor info
  QuantizationType type;
  std::string_view name;        // JSON / gguf-py spelling "Q4_K"
  std::string_view ggml_name;   // ggml spelling "q4_K"
  std::uint32_t block_elems;    // 0 for removed ids
  std::uint32_t block_bytes;
  SizeRule rule;
  std::uint8_t dialects;        // kUp | kB24 | kBPort
  // A removed id's last block size in ggml before its removal (what old readers such as
  // gguf-parser-go still apply, memory-model.md §2.2); 0 for live rows and for ids that never
  // appeared in a GGUF file. Informational only: tensor_bytes() never uses it.
  std::uint32_t legacy_block_elems = 0;
  std::uint32_t legacy_block_bytes = 0;
};

// All rows (for tests and diagnostics).
std::span<const QuantTraits> all_quant_traits() noexcept;

// The row for `id` under a concrete map (not kAuto); nullptr if that map has no row for it.
const QuantTraits* find_traits(std::uint32_t id, TypeMap map) noexcept;
// The canonical row for a type (any dialect); nullptr for kUnknown.
const QuantTraits* find_traits(QuantizationType t) noexcept;

using Dims4 = std::array<std::uint64_t, 4>;

// ggml_nbytes of a contiguous tensor of this type. Errors: removed type, ne0 not a multiple of the
// block, overflow.
Result<std::uint64_t> tensor_bytes(const QuantTraits& t, const Dims4& ne);

// The size a removed id had before its removal (legacy_block_*), for diagnostics that list what
// other readers make of a tensor. kUnknownTensorType if the row has no legacy size.
Result<std::uint64_t> legacy_tensor_bytes(const QuantTraits& t, const Dims4& ne);

// ggml_row_size(type, n): bytes of one row of n elements (n % block_elems == 0). For KV caches.
Result<std::uint64_t> row_bytes(QuantizationType t, std::uint64_t n);

}  // namespace bitnet::detail
