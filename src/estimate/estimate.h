// The memory engine: ModelStructureInfo + MemoryAnalysisConfig -> DetailedMemoryRequirements.
// Never reads the file; pure arithmetic over the analysis, so an estimate is microseconds.
#pragma once

#include "bitnet/error.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"

namespace bitnet::detail {

// Computes the tensor digest on the fly (one pass over the tensors).
Result<DetailedMemoryRequirements> estimate_memory(const ModelStructureInfo& model,
                                                   const MemoryAnalysisConfig& config);
// With a digest made once per analysis (make_digest(model)): no walk over the tensors.
struct TensorDigest;
Result<DetailedMemoryRequirements> estimate_memory(const ModelStructureInfo& model,
                                                   const TensorDigest& digest,
                                                   const MemoryAnalysisConfig& config);

}  // namespace bitnet::detail
