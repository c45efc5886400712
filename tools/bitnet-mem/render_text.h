// bitnet-mem: human-readable output. Pure functions of the library's structs, so tests can check
// them with hand-built values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitnet/measure.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"

namespace bitnet::cli {

// "0", "N MiB" (rounded up, so 1 byte is "1 MiB") below 1 GiB, "X.YY GiB" (rounded up to
// 0.01 GiB) from 1 GiB.
std::string format_bytes(std::uint64_t bytes);
// A signed size: "-N MiB" for negatives.
std::string format_signed_bytes(std::int64_t bytes);
// "2.41 B", "494.03 M", "4096": parameter counts at a glance.
std::string format_count(std::uint64_t n);

std::string render_inspect(const ModelStructureInfo& m);

// One table (segments and their parts x CPU anon / mapped / GPU), totals and peak, then the
// settings (given or inferred), recommendations, suggestions and warnings.
std::string render_estimate(const ModelStructureInfo& m, const DetailedMemoryRequirements& d,
                            const std::vector<std::string>& given);

// Predicted vs actual per segment and the total, and the verdict.
std::string render_validate(const ModelStructureInfo& m, const ValidationReport& r,
                            const std::vector<std::string>& given);

}  // namespace bitnet::cli
