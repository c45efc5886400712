// The comparison behind validate_model, separate from loading so that tests can feed it records.
#pragma once

#include <vector>

#include "bitnet/measure.h"
#include "load/loaded_model_impl.h"

namespace bitnet::detail {

ValidationReport compare_with_measurement(const DetailedMemoryRequirements& plan, const std::vector<CommitRecord>& commits,
                                          const MeasuredMemory& before, const MeasuredMemory& after, double tolerance);

}  // namespace bitnet::detail
