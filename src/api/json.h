// JSON documents of api.md §3 (inspect, estimate, validate). Private header: nlohmann types stay
// out of include/bitnet/. Field order follows api.md (ordered_json); extra fields come after the
// required ones.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bitnet/measure.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"

namespace bitnet::detail {

using Json = nlohmann::ordered_json;

// inspect --json; also "model" in estimate --json.
Json model_json(const ModelStructureInfo& m);

// SEG = {cpu_bytes, gpu_bytes|null, shared_bytes, peak_multiplier, parts:[PART...]}.
Json segment_json(const MemorySegment& s);
Json part_json(const MemoryPart& p);

// "config": the resolved settings; `given` names those the user set explicitly (extra field).
Json config_json(const ResolvedConfig& c, const std::vector<std::string>& given = {});

Json recommendations_json(const MemoryRecommendations& r);

// estimate --json.
Json estimate_json(const ModelStructureInfo& m, const DetailedMemoryRequirements& d,
                   const std::vector<std::string>& given = {});

Json measured_json(const MeasuredMemory& mm);

// validate --json: estimate's document plus "actual" (the segment names and total, same SEG shape,
// with rss_bytes and hwm_bytes), rss_bytes, hwm_bytes, passed, tolerance, rows.
Json validation_json(const ModelStructureInfo& m, const ValidationReport& r,
                     const std::vector<std::string>& given = {});

// The segment names of api.md §3, in order.
inline constexpr const char* kSegmentNames[] = {"model_weights", "kv_cache", "activations",
                                                "quantization_overhead", "system_overhead"};

}  // namespace bitnet::detail
