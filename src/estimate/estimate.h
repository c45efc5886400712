// The memory engine: ModelStructureInfo + MemoryAnalysisConfig -> DetailedMemoryRequirements.
// Never reads the file; pure arithmetic over the analysis, so an estimate is microseconds.
#pragma once

#include "bitnet/error.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"

namespace bitnet::detail {

Result<DetailedMemoryRequirements> estimate_memory(const ModelStructureInfo& model,
                                                   const MemoryAnalysisConfig& config);

}  // namespace bitnet::detail
