// Type-map resolution (memory-model.md §2.2): BitNet builds and upstream ggml give type ids 36..42
// different meanings. A tensor's real byte span decides which map a file was written with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/types.h"
#include "format/gguf_reader.h"

namespace bitnet::detail {

struct ResolvedTensor {
  QuantizationType type = QuantizationType::kUnknown;
  std::uint64_t nbytes = 0;
  std::uint64_t span = 0;          // bytes to the next tensor (or EOF); 0 when unknown (header-only)
  Basis size_basis = Basis::kExact;
};

struct TypeResolution {
  TypeMap map = TypeMap::kUpstream;
  std::string reason;                    // which maps fit, and which hint decided
  std::vector<ResolvedTensor> tensors;   // in info order (f.tensors)
  std::vector<std::string> warnings;
  // The end of the data the tensors occupy: max(offset + pad(nbytes, align)).
  std::uint64_t data_end = 0;
};

// The candidate maps, in the order they are tried.
inline constexpr TypeMap kCandidateMaps[] = {TypeMap::kUpstream, TypeMap::kBitnet2024,
                                             TypeMap::kBitnetPort};

// Resolves every tensor's type and size. `forced` = kAuto decides by spans (then by the
// architecture's hint and general.file_type); another map is applied strictly, and a tensor its
// sizes contradict is an error naming the map. Errors: kUnknownTensorType when the spans themselves
// are impossible (tensors sharing an offset, a tensor past the end of the data, a tensor of a
// certain size larger than its span) or when a forced map contradicts a span.
Result<TypeResolution> resolve_types(const GgufFile& f, TypeMap forced);

}  // namespace bitnet::detail
