// bitnet-models: vocabulary types shared by every layer (tensor types, KV precisions, bases, devices).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bitnet/error.h"

namespace bitnet {

// Every ggml tensor type (the value is the upstream ggml id), plus BitNet's formats, which have
// values of their own because their ids collide with upstream ones (memory-model.md §2.2).
// Sizes and names live in the type table (src/tables/quant_traits.cpp), not here.
enum class QuantizationType : std::uint16_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kIQ2_XXS = 16, kIQ2_XS = 17, kIQ3_XXS = 18, kIQ1_S = 19, kIQ4_NL = 20, kIQ3_S = 21, kIQ2_S = 22,
  kIQ4_XS = 23, kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kIQ1_M = 29, kBF16 = 30,
  kTQ1_0 = 34, kTQ2_0 = 35, kMXFP4 = 39, kNVFP4 = 40, kQ1_0 = 41, kQ2_0 = 42,
  // BitNet (2024 fork ids 36..39, port ids 36..38 and 42); values outside ggml's range.
  kI2_S = 0x100, kI8_S = 0x101, kTL1 = 0x102, kTL2 = 0x103,
  // Removed upstream ids (Q4_2, Q4_3, Q4_0_4_4.., IQ4_NL_4_4..) that still appear in old files.
  kQ4_0_4_4 = 0x200, kQ4_0_4_8 = 0x201, kQ4_0_8_8 = 0x202,
  kIQ4_NL_4_4 = 0x203, kIQ4_NL_4_8 = 0x204, kIQ4_NL_8_8 = 0x205,
  // A type id no table row explains; its size comes from its byte span (Basis::kDerived).
  kUnknown = 0xFFFF,
};

// Upper-case gguf-py spelling ("Q4_K", "I2_S"); "UNKNOWN" for kUnknown.
std::string_view quantization_type_name(QuantizationType t) noexcept;
// Parses the gguf-py or ggml spelling, case-insensitively ("q4_k", "Q4_K", "i2_s").
std::optional<QuantizationType> parse_quantization_type(std::string_view name) noexcept;

// KV cache types the runtimes accept (-ctk / -ctv).
enum class Precision : std::uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kIQ4_NL, kQ5_0, kQ5_1 };
QuantizationType precision_type(Precision p) noexcept;
std::string_view precision_name(Precision p) noexcept;           // ggml spelling: "f16", "q8_0"
std::optional<Precision> parse_precision(std::string_view name) noexcept;
bool precision_is_quantized(Precision p) noexcept;

// How sure a number is.
enum class Basis : std::uint8_t {
  kExact,       // computed from the file and the runtime's source; reproduces measurements to the byte
  kDerived,     // computed from the file where metadata was missing (shapes, spans)
  kCalibrated,  // a mechanism whose constants were fitted to measurements of a real runtime
  kHeuristic,   // an estimate with a stated margin
  kUnknown,     // not known; the value is not to be trusted
};
std::string_view basis_name(Basis b) noexcept;  // "exact", "derived", "calibrated", "heuristic", "unknown"

// How to read the type ids that BitNet builds and upstream ggml use differently (memory-model.md §2.2).
enum class TypeMap : std::uint8_t { kAuto, kUpstream, kBitnet2024, kBitnetPort };
std::string_view type_map_name(TypeMap m) noexcept;  // "auto", "upstream", "bitnet-2024", "bitnet-port"
std::optional<TypeMap> parse_type_map(std::string_view s) noexcept;  // also accepts "bitnet" = bitnet-2024

// A target device: "cpu", "cuda", "cuda:N", "gpu" (= cuda:0).
struct Device {
  enum class Kind : std::uint8_t { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  std::uint32_t index = 0;

  bool is_gpu() const noexcept { return kind != Kind::kCpu; }
  std::string to_string() const;  // "cpu", "cuda:0"
  static Result<Device> parse(std::string_view s);
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace bitnet
