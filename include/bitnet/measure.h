// bitnet-models: loading for real and measuring what it used (api.md §1; the loader issue).
#pragma once

#include <cstdint>
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"

namespace bitnet {

class ProductionModelLoader;
namespace detail {
struct LoadedModelAccess;  // the library's private accessor to a LoadedModel's state (src/load/)
}  // namespace detail

struct LoadOptions {
  MemoryAnalysisConfig analysis;      // the plan to commit (runtime "native" is used for the buffers)
  bool populate = true;               // prefault the mapped file (MAP_POPULATE)
  bool mlock = false;
  bool force = false;                 // load even when the pre-flight check says it will not fit
  std::optional<std::uint64_t> memory_limit;  // override the detected limit (tests)
  bool progress = true;               // progress bar on stderr when it is a terminal
};

// A tensor as an engine sees it.
struct TensorView {
  std::string name;
  QuantizationType type = QuantizationType::kUnknown;
  std::uint32_t n_dims = 0;
  std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
  std::span<const std::byte> data;
};

// A loaded model: mapped (or read) weights and the committed KV cache and activation arena.
class LoadedModel {
 public:
  const ModelStructureInfo& info() const noexcept;
  const std::vector<TensorView>& tensors() const noexcept;
  std::span<std::byte> kv_cache() noexcept;
  std::span<std::byte> activations() noexcept;
  const DetailedMemoryRequirements& plan() const noexcept;  // what was predicted for this load

  ~LoadedModel();
  LoadedModel(LoadedModel&&) noexcept;
  LoadedModel& operator=(LoadedModel&&) noexcept;
  struct Impl;
  explicit LoadedModel(std::unique_ptr<Impl> impl);

 private:
  friend struct detail::LoadedModelAccess;
  std::unique_ptr<Impl> impl_;
};

struct MeasuredMemory {
  std::uint64_t rss_bytes = 0;        // VmRSS
  std::uint64_t hwm_bytes = 0;        // VmHWM (peak)
  std::uint64_t rss_anon_bytes = 0;   // RssAnon
  std::uint64_t rss_file_bytes = 0;   // RssFile
  std::uint64_t rss_shmem_bytes = 0;  // RssShmem
  std::optional<std::uint64_t> pss_bytes;       // smaps_rollup; absent where unreadable
  std::optional<std::uint64_t> gpu_bytes;       // NVML; absent without a GPU
};

// Predicted vs actual, per segment (bitnet-mem validate).
struct ValidationRow {
  std::string segment;            // model_weights, kv_cache, activations, quantization_overhead, system_overhead, total
  std::uint64_t predicted_bytes = 0;
  std::uint64_t actual_bytes = 0;
  double error = 0.0;             // (predicted - actual) / actual
  bool within_tolerance = false;
};

struct ValidationReport {
  DetailedMemoryRequirements predicted;
  std::vector<ValidationRow> rows;
  MemorySegment actual_model_weights, actual_kv_cache, actual_activations,
      actual_quantization_overhead, actual_system_overhead, actual_total;  // same shape as predicted
  MeasuredMemory before_load;     // process memory before loading
  MeasuredMemory after_load;      // after load, buffers committed
  double tolerance = 0.05;
  std::uint64_t tolerance_bytes = 0;  // a segment also passes when |predicted - actual| <= this (RSS noise floor)
  bool passed = false;
};

// Reads the current process's memory (/proc/self/status, /proc/self/smaps_rollup, NVML).
Result<MeasuredMemory> measure_process_memory();
Result<MeasuredMemory> measure_actual_memory_usage(const LoadedModel& model);

// Loads with the native runtime profile, measures, and compares every segment and the total.
Result<ValidationReport> validate_model(const ProductionModelLoader& loader, const LoadOptions& options,
                                        double tolerance = 0.05);

}  // namespace bitnet
