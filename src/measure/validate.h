// The comparison behind validate_model, separate from loading so that tests can feed it records.
#pragma once

#include <vector>

#include "bitnet/measure.h"
#include "load/loaded_model_impl.h"

namespace bitnet::detail {

// Below this difference a segment passes whatever its relative error: RSS is measured in pages,
// and the first touch of library code and heap reuse move a few-MiB segment by 0.1-1.8 MiB between
// processes (docs/memory-model.md, native system_overhead). A relative tolerance on such a segment
// would test that noise, not the plan.
inline constexpr std::uint64_t kValidationFloorBytes = std::uint64_t{1} << 20;

ValidationReport compare_with_measurement(const DetailedMemoryRequirements& plan, const std::vector<CommitRecord>& commits,
                                          const MeasuredMemory& before, const MeasuredMemory& after, double tolerance);

}  // namespace bitnet::detail
