// The native loader: verify, pre-flight, map or read, commit. ProductionModelLoader::load is a thin
// wrapper over load_model (src/load/production_load.cpp) that asks the estimator for the plan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/measure.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"
#include "device/probe_linux.h"

namespace bitnet::detail {

// llama.cpp's CPU buffer alignment (ggml-cpu: TENSOR_ALIGNMENT 32); our read weights use it too.
inline constexpr std::uint64_t kCpuBufferAlign = 32;
// Parts inside one committed region start at this alignment (a cache line).
inline constexpr std::uint64_t kPartAlign = 64;

// Checks every tensor of an opened model against the file: its offset is aligned, its bytes lie
// inside the data section, and no two tensors overlap. Errors name the tensor and its offset.
Status verify_tensors(const ModelStructureInfo& info, std::uint64_t file_size);

// The file range the tensors occupy: [first tensor's start, last tensor's end), absolute offsets.
struct TensorSpan {
  std::uint64_t begin = 0, end = 0;
  std::uint64_t bytes() const noexcept { return end - begin; }
};
TensorSpan tensor_span(const ModelStructureInfo& info);

// Bytes of the no-mmap weight buffer: sum of pad(nbytes, kCpuBufferAlign) in file order.
Result<std::uint64_t> read_weights_bytes(const ModelStructureInfo& info);

// What a load will newly make resident, by kind; the pre-flight check compares it with the host.
struct LoadFootprint {
  std::uint64_t mapped = 0;     // the whole file (mmap)
  std::uint64_t anonymous = 0;  // read weights + every committed part
  std::vector<std::pair<std::string, std::uint64_t>> items;  // for the message: name, bytes
  std::uint64_t total() const noexcept { return mapped + anonymous; }
};
Result<LoadFootprint> load_footprint(const ModelStructureInfo& info, const DetailedMemoryRequirements& plan);

// Refuses (kResourceLimit) a footprint above what the host can give (`limit` overrides the
// probe); the message has the numbers, the hint the plan's own suggestions and --force.
Status preflight(const LoadFootprint& need, const DetailedMemoryRequirements& plan, const HostMemory& host,
                 std::optional<std::uint64_t> limit);

// Loads `info` (opened from info.path) as `plan` says: plan.config.mmap picks map (the whole file)
// or read (every tensor into one anonymous buffer, pad32 each); every
// anonymous part of kv_cache, activations and quantization_overhead is committed.
Result<LoadedModel> load_model(const ModelStructureInfo& info, const DetailedMemoryRequirements& plan,
                               const LoadOptions& options);

}  // namespace bitnet::detail
