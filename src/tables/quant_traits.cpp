// The tensor type table (memory-model.md §2). Each block size is written as the sum of the fields of
// ggml's block struct (ggml-common.h), so a reviewer can check it against the struct, not against
// another copy of the table.
#include "tables/quant_traits.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "core/checked.h"

namespace bitnet::detail {
namespace {

constexpr std::uint32_t kQK = 256;  // QK_K, super-block of the K-quants and IQ types
constexpr std::uint32_t kF16 = 2;   // ggml_half
constexpr std::uint8_t kAll = kUp | kB24 | kBPort;
using Q = QuantizationType;
using R = SizeRule;

// clang-format off
constexpr QuantTraits kQuantTraits[] = {
  // id name       ggml      block  bytes (struct fields)                         rule     dialects
  {0,  Q::kF32,    "F32",    "f32",    1, 4,                                      R::kBlocks, kAll},
  {1,  Q::kF16,    "F16",    "f16",    1, 2,                                      R::kBlocks, kAll},
  {2,  Q::kQ4_0,   "Q4_0",   "q4_0",  32, kF16 + 32 / 2,                          R::kBlocks, kAll},
  {3,  Q::kQ4_1,   "Q4_1",   "q4_1",  32, 2 * kF16 + 32 / 2,                      R::kBlocks, kAll},
  // Q4_2 / Q4_3 were removed (May 2023) before GGUF existed (Aug 2023): no legacy size.
  {4,  Q::kUnknown,"Q4_2",   "q4_2",   0, 0,                                      R::kRemoved, kAll, 0, 0},
  {5,  Q::kUnknown,"Q4_3",   "q4_3",   0, 0,                                      R::kRemoved, kAll, 0, 0},
  {6,  Q::kQ5_0,   "Q5_0",   "q5_0",  32, kF16 + 4 + 32 / 2,                      R::kBlocks, kAll},
  {7,  Q::kQ5_1,   "Q5_1",   "q5_1",  32, 2 * kF16 + 4 + 32 / 2,                  R::kBlocks, kAll},
  {8,  Q::kQ8_0,   "Q8_0",   "q8_0",  32, kF16 + 32,                              R::kBlocks, kAll},
  {9,  Q::kQ8_1,   "Q8_1",   "q8_1",  32, 2 * kF16 + 32,                          R::kBlocks, kAll},
  {10, Q::kQ2_K,   "Q2_K",   "q2_K", kQK, kQK / 16 + kQK / 4 + 2 * kF16,          R::kBlocks, kAll},
  {11, Q::kQ3_K,   "Q3_K",   "q3_K", kQK, kQK / 8 + kQK / 4 + 12 + kF16,          R::kBlocks, kAll},
  {12, Q::kQ4_K,   "Q4_K",   "q4_K", kQK, 2 * kF16 + 12 + kQK / 2,                R::kBlocks, kAll},
  {13, Q::kQ5_K,   "Q5_K",   "q5_K", kQK, 2 * kF16 + 12 + kQK / 8 + kQK / 2,      R::kBlocks, kAll},
  {14, Q::kQ6_K,   "Q6_K",   "q6_K", kQK, kQK / 2 + kQK / 4 + kQK / 16 + kF16,    R::kBlocks, kAll},
  {15, Q::kQ8_K,   "Q8_K",   "q8_K", kQK, 4 + kQK + 2 * (kQK / 16),               R::kBlocks, kAll},
  {16, Q::kIQ2_XXS,"IQ2_XXS","iq2_xxs", kQK, kF16 + 2 * (kQK / 8),                R::kBlocks, kAll},
  {17, Q::kIQ2_XS, "IQ2_XS", "iq2_xs", kQK, kF16 + 2 * (kQK / 8) + kQK / 32,      R::kBlocks, kAll},
  {18, Q::kIQ3_XXS,"IQ3_XXS","iq3_xxs", kQK, kF16 + 3 * (kQK / 8),                R::kBlocks, kAll},
  {19, Q::kIQ1_S,  "IQ1_S",  "iq1_s", kQK, kF16 + kQK / 8 + 2 * (kQK / 32),       R::kBlocks, kAll},
  {20, Q::kIQ4_NL, "IQ4_NL", "iq4_nl", 32, kF16 + 32 / 2,                         R::kBlocks, kAll},
  {21, Q::kIQ3_S,  "IQ3_S",  "iq3_s", kQK, kF16 + kQK / 4 + kQK / 32 + kQK / 8 + kQK / 64, R::kBlocks, kAll},
  {22, Q::kIQ2_S,  "IQ2_S",  "iq2_s", kQK, kF16 + kQK / 4 + kQK / 32 + kQK / 32,  R::kBlocks, kAll},
  {23, Q::kIQ4_XS, "IQ4_XS", "iq4_xs", kQK, kF16 + 2 + kQK / 64 + kQK / 2,        R::kBlocks, kAll},
  {24, Q::kI8,     "I8",     "i8",     1, 1,                                      R::kBlocks, kAll},
  {25, Q::kI16,    "I16",    "i16",    1, 2,                                      R::kBlocks, kAll},
  {26, Q::kI32,    "I32",    "i32",    1, 4,                                      R::kBlocks, kAll},
  {27, Q::kI64,    "I64",    "i64",    1, 8,                                      R::kBlocks, kAll},
  {28, Q::kF64,    "F64",    "f64",    1, 8,                                      R::kBlocks, kAll},
  {29, Q::kIQ1_M,  "IQ1_M",  "iq1_m", kQK, kQK / 8 + kQK / 16 + kQK / 32,         R::kBlocks, kAll},
  {30, Q::kBF16,   "BF16",   "bf16",   1, 2,                                      R::kBlocks, kAll},
  // 31..33: Q4_0 interleaved layouts, stored in files until late 2024 (the 2024 BitNet fork still
  // has them); removed upstream (runtime CPU_REPACK instead).
  {31, Q::kQ4_0_4_4, "Q4_0_4_4", "q4_0_4x4", 32, kF16 + 32 / 2,                  R::kBlocks, kB24},
  {32, Q::kQ4_0_4_8, "Q4_0_4_8", "q4_0_4x8", 32, kF16 + 32 / 2,                  R::kBlocks, kB24},
  {33, Q::kQ4_0_8_8, "Q4_0_8_8", "q4_0_8x8", 32, kF16 + 32 / 2,                  R::kBlocks, kB24},
  // Legacy: block_q4_0 traits (32 elements, ggml_half d + 16 B) until their removal.
  {31, Q::kQ4_0_4_4, "Q4_0_4_4", "q4_0_4x4", 0, 0,                               R::kRemoved, kUp | kBPort, 32, kF16 + 32 / 2},
  {32, Q::kQ4_0_4_8, "Q4_0_4_8", "q4_0_4x8", 0, 0,                               R::kRemoved, kUp | kBPort, 32, kF16 + 32 / 2},
  {33, Q::kQ4_0_8_8, "Q4_0_8_8", "q4_0_8x8", 0, 0,                               R::kRemoved, kUp | kBPort, 32, kF16 + 32 / 2},
  {34, Q::kTQ1_0,  "TQ1_0",  "tq1_0", kQK, (kQK - 4 * kQK / 64) / 5 + kQK / 64 + kF16, R::kBlocks, kAll},
  {35, Q::kTQ2_0,  "TQ2_0",  "tq2_0", kQK, kQK / 4 + kF16,                        R::kBlocks, kAll},
  // 36..38: removed IQ4_NL_4_4.. upstream; BitNet's I2_S / I8_S / TL1 in both BitNet dialects.
  // Legacy: block_iq4_nl traits (32 elements, ggml_half d + 16 B) until their removal.
  {36, Q::kIQ4_NL_4_4, "IQ4_NL_4_4", "iq4_nl_4x4", 0, 0,                          R::kRemoved, kUp, 32, kF16 + 32 / 2},
  {37, Q::kIQ4_NL_4_8, "IQ4_NL_4_8", "iq4_nl_4x8", 0, 0,                          R::kRemoved, kUp, 32, kF16 + 32 / 2},
  {38, Q::kIQ4_NL_8_8, "IQ4_NL_8_8", "iq4_nl_8x8", 0, 0,                          R::kRemoved, kUp, 32, kF16 + 32 / 2},
  {36, Q::kI2_S,   "I2_S",   "i2_s",   4, 1,                                      R::kTailPerTensor, kB24},
  {37, Q::kI8_S,   "I8_S",   "i8_s",   1, 1,                                      R::kBlocks, kB24 | kBPort},
  {38, Q::kTL1,    "TL1",    "tl1",    4, 1,                                      R::kTailPerTensor, kB24},
  {39, Q::kTL2,    "TL2",    "tl2",    4, 1,                                      R::kTl2, kB24},
  {36, Q::kI2_S,   "I2_S",   "i2_s",   4, 1,                                      R::kTailPerSlice, kBPort},
  {38, Q::kTL1,    "TL1",    "tl1",    4, 1,                                      R::kTailPerSlice, kBPort},
  {42, Q::kTL2,    "TL2",    "tl2",    4, 1,                                      R::kTl2, kBPort},
  {39, Q::kMXFP4,  "MXFP4",  "mxfp4",  32, 1 + 32 / 2,                            R::kBlocks, kUp | kBPort},
  {40, Q::kNVFP4,  "NVFP4",  "nvfp4",  64, 4 + 64 / 2,                            R::kBlocks, kUp | kBPort},
  {41, Q::kQ1_0,   "Q1_0",   "q1_0",  128, kF16 + 128 / 8,                        R::kBlocks, kUp | kBPort},
  {42, Q::kQ2_0,   "Q2_0",   "q2_0",   64, kF16 + 64 / 4,                         R::kBlocks, kUp},
};
// clang-format on

constexpr std::uint8_t dialect_bit(TypeMap m) {
  switch (m) {
    case TypeMap::kUpstream: return kUp;
    case TypeMap::kBitnet2024: return kB24;
    case TypeMap::kBitnetPort: return kBPort;
    case TypeMap::kAuto: return 0;
  }
  return 0;
}

constexpr const QuantTraits* find_row(std::uint32_t id, std::uint8_t bit) {
  for (const QuantTraits& t : kQuantTraits)
    if (t.id == id && (t.dialects & bit) != 0) return &t;
  return nullptr;
}

static_assert(find_row(10, kUp)->block_bytes == 84, "q2_K block is 84 bytes");
static_assert(find_row(15, kUp)->block_bytes == 292, "q8_K block is 292 bytes");
static_assert(find_row(9, kUp)->block_bytes == 36, "q8_1 block is 36 bytes (gguf-py says 40)");
static_assert(find_row(34, kUp)->block_bytes == 54, "tq1_0 block is 54 bytes");
static_assert(find_row(19, kUp)->block_bytes == 50, "iq1_s block is 50 bytes");
static_assert(find_row(39, kB24)->type == QuantizationType::kTL2, "2024 fork: id 39 is TL2");
static_assert(find_row(42, kBPort)->type == QuantizationType::kTL2, "port: id 42 is TL2");

// TL2's stored size (memory-model.md §2.1): u64, evaluated left to right, "/" truncates.
Result<std::uint64_t> tl2_bytes(std::uint64_t ne0, std::uint64_t ne1) {
  if (ne0 < 256) return Error{Errc::kMalformed, "TL2 tensor has fewer than 256 columns", kNoOffset, {}, {}};
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t a, checked_mul(ne0 - 256, ne1));
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t a5, checked_mul(a / 3, 5));
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t b0, checked_mul(256, ne1));
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t b4, checked_mul(b0 / 2, 4));
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t b, checked_add(a5 / 8, b4 / 8));
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t p, checked_pad(b, 32));
  return checked_add(p, 32);
}

}  // namespace

std::span<const QuantTraits> all_quant_traits() noexcept { return kQuantTraits; }

const QuantTraits* find_traits(std::uint32_t id, TypeMap map) noexcept {
  return find_row(id, dialect_bit(map));
}

const QuantTraits* find_traits(QuantizationType t) noexcept {
  if (t == QuantizationType::kUnknown) return nullptr;
  for (const QuantTraits& r : kQuantTraits)
    if (r.type == t && r.rule != SizeRule::kRemoved) return &r;
  for (const QuantTraits& r : kQuantTraits)
    if (r.type == t) return &r;
  return nullptr;
}

Result<std::uint64_t> tensor_bytes(const QuantTraits& t, const Dims4& ne) {
  if (t.rule == SizeRule::kRemoved || t.block_elems == 0)
    return Error{Errc::kUnknownTensorType,
                 std::string("type ") + std::string(t.name) + " (id " + std::to_string(t.id) +
                     ") was removed from ggml and has no size",
                 kNoOffset, std::string(t.name), "pass --type-map to choose another dialect"};
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t n, checked_product(ne));
  switch (t.rule) {
    case SizeRule::kBlocks:
      if (ne[0] % t.block_elems != 0)
        return Error{Errc::kMalformed,
                     "row length " + std::to_string(ne[0]) + " is not a multiple of the " +
                         std::string(t.name) + " block size " + std::to_string(t.block_elems),
                     kNoOffset, std::string(t.name), {}};
      return checked_mul(n / t.block_elems, t.block_bytes);
    case SizeRule::kTailPerTensor:
      return checked_add(n / 4, 32);
    case SizeRule::kTailPerSlice: {
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t slice, checked_mul(ne[0], ne[1]));
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t per, checked_add(slice / 4, 32));
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t s23, checked_mul(ne[2], ne[3]));
      return checked_mul(per, s23);
    }
    case SizeRule::kTl2: {
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t rows, checked_mul(ne[1], ne[2]));
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t rows3, checked_mul(rows, ne[3]));
      return tl2_bytes(ne[0], rows3);
    }
    case SizeRule::kRemoved:
      break;
  }
  return Error{Errc::kInternal, "unhandled size rule", kNoOffset, std::string(t.name), {}};
}

Result<std::uint64_t> legacy_tensor_bytes(const QuantTraits& t, const Dims4& ne) {
  if (t.legacy_block_elems == 0)
    return Error{Errc::kUnknownTensorType,
                 std::string("type ") + std::string(t.name) + " (id " + std::to_string(t.id) +
                     ") has no legacy size",
                 kNoOffset, std::string(t.name), "only removed ids that appeared in GGUF files have one"};
  if (ne[0] % t.legacy_block_elems != 0)
    return Error{Errc::kMalformed,
                 "row length " + std::to_string(ne[0]) + " is not a multiple of the legacy " +
                     std::string(t.name) + " block size " + std::to_string(t.legacy_block_elems),
                 kNoOffset, std::string(t.name), {}};
  BITNET_ASSIGN_OR_RETURN(const std::uint64_t n, checked_product(ne));
  return checked_mul(n / t.legacy_block_elems, t.legacy_block_bytes);
}

Result<std::uint64_t> row_bytes(QuantizationType type, std::uint64_t n) {
  const QuantTraits* t = find_traits(type);
  if (t == nullptr || t->rule != SizeRule::kBlocks || t->block_elems == 0)
    return Error{Errc::kInvalidArgument,
                 std::string("type ") + std::string(quantization_type_name(type)) +
                     " has no fixed row size",
                 kNoOffset, {}, {}};
  if (n % t->block_elems != 0)
    return Error{Errc::kInvalidArgument,
                 "row of " + std::to_string(n) + " elements is not a multiple of the " +
                     std::string(t->name) + " block size " + std::to_string(t->block_elems),
                 kNoOffset, {}, "use f16 or another type whose block divides the row"};
  return checked_mul(n / t->block_elems, t->block_bytes);
}

}  // namespace bitnet::detail

namespace bitnet {

std::string_view quantization_type_name(QuantizationType t) noexcept {
  const detail::QuantTraits* r = detail::find_traits(t);
  return r != nullptr ? r->name : std::string_view("UNKNOWN");
}

std::optional<QuantizationType> parse_quantization_type(std::string_view name) noexcept {
  auto eq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const detail::QuantTraits& r : detail::kQuantTraits)
    if (r.type != QuantizationType::kUnknown && (eq(r.name, name) || eq(r.ggml_name, name)))
      return r.type;
  return std::nullopt;
}

}  // namespace bitnet
