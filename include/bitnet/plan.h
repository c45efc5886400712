// bitnet-models: what can run where (the planner issue). A device inventory (detected, described
// or named from a catalog), and the fit: the largest configuration -- context, -ngl, tensor split,
// KV type, flash attention -- that fits the inventory's budgets, solved from the memory engine's
// piecewise-linear equations rather than by repeated loads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/memory.h"
#include "bitnet/types.h"

namespace bitnet {

class ProductionModelLoader;

// ---- inventory -------------------------------------------------------------------------------

struct HostInventory {
  std::uint64_t mem_total = 0;                  // MemTotal (or --ram / the catalog)
  std::optional<std::uint64_t> mem_available;   // MemAvailable; absent for described hardware
  std::optional<std::uint64_t> cgroup_limit;    // memory.max / memory.limit_in_bytes; absent = none
  std::optional<std::uint64_t> cgroup_usage;    // working set (usage - inactive_file)
  std::uint64_t swap_total = 0;
  std::uint64_t swap_free = 0;
  std::uint32_t logical_cores = 0;
  std::uint32_t physical_cores = 0;             // 0 = unknown
  std::optional<double> cpu_quota;              // cgroup cpu.max / cfs quota, in cores
  std::string source;                           // "detected", "--ram", "catalog:<name>"

  // Bytes this process may use before the reserve: the cgroup headroom, MemAvailable, MemTotal,
  // whichever is smallest of those known.
  std::uint64_t usable_bytes() const noexcept;
  // Threads a runtime should use: physical cores, capped by the cgroup CPU quota; 0 = unknown.
  std::uint32_t recommended_threads() const noexcept;
};

struct GpuInventory {
  std::uint32_t index = 0;                      // CUDA ordinal as the runtime sees it (cuda:N)
  std::string name;                             // "NVIDIA H100 80GB HBM3", "--gpu 24GiB", ...
  std::uint64_t total_bytes = 0;
  std::optional<std::uint64_t> free_bytes;      // NVML free memory; absent for described hardware
  std::string catalog_id;                       // the catalog row when known ("h100-80g")
  std::string source;                           // "nvml", "--gpu", "catalog:<name>"

  std::uint64_t usable_bytes() const noexcept { return free_bytes.value_or(total_bytes); }
};

struct Inventory {
  HostInventory host;
  std::vector<GpuInventory> gpus;
  std::vector<std::string> notes;               // what was not found, and why ("NVML not found")
};

// One row of the device catalog (src/tables/device_catalog.cpp): a GPU, or a cloud instance with
// its GPUs. Every row names its source.
struct DeviceTarget {
  std::string_view id;            // "h100-80g", "rtx-4090", "g5.xlarge"
  std::string_view description;
  std::string_view gpu_id;        // instances: the GPU row they carry; GPUs: their own id
  std::uint32_t n_gpus = 0;       // GPUs: 1; CPU-only instances: 0
  std::uint64_t gpu_bytes = 0;    // per GPU, as NVML reports the total
  std::uint64_t host_bytes = 0;   // instances: RAM; GPUs: 0 (the host is not part of the row)
  std::uint32_t vcpus = 0;        // instances only
  Basis basis = Basis::kHeuristic;
  std::string_view source;
};
std::span<const DeviceTarget> device_catalog() noexcept;
const DeviceTarget* find_device_target(std::string_view id) noexcept;  // case-insensitive

// The per-device overheads the engine charges a GPU of this name (its device-overhead table,
// matched by name; an unknown name gets the conservative default row).
struct GpuOverheadInfo {
  std::uint64_t cuda_context = 0;    // context + kernel images, before any buffer
  std::uint64_t retained_pool = 0;   // cuBLAS workspace + pool kept after every free
  std::uint64_t transient_pool = 0;  // pool growth at the first ubatch
  Basis basis = Basis::kUnknown;
  std::string source;
};
GpuOverheadInfo gpu_overhead_info(std::string_view gpu_name);

// "32GiB", "512MiB", "1.5GiB", "24GB" (= GiB, as the tools around llama.cpp mean it), "1048576".
Result<std::uint64_t> parse_size(std::string_view text);

struct InventoryProbeOptions {
  std::string root = "/";                      // prefix for /proc and /sys (tests use a fake tree)
  bool probe_gpus = true;
  std::optional<std::string> cuda_visible_devices;  // nullopt: read the environment
};
// Detects this machine. No GPU and no NVML are normal: they leave `gpus` empty with a note.
Result<Inventory> detect_inventory(const InventoryProbeOptions& options = {});

// Described hardware: --ram, --gpu (repeatable), --target (repeatable). Described GPUs replace
// detected ones; a --ram replaces the detected host; a target adds its GPUs and, for an instance,
// sets the host. `detected` is used for whatever is not described (pass nullptr for none).
struct InventorySpec {
  std::optional<std::uint64_t> ram;
  std::vector<std::uint64_t> gpus;
  std::vector<std::string> targets;
};
Result<Inventory> describe_inventory(const InventorySpec& spec, const Inventory* detected);

// ---- fit -------------------------------------------------------------------------------------

// Default reserve per device, kept free for other processes and the estimate's residual error.
// The estimate already counts what llama.cpp's --fit margin (1024 MiB) is there for: the CUDA
// context, cuBLAS workspace and pool, the CPU work buffer, tokenizer and code (memory-model.md §7).
inline constexpr std::uint64_t kDefaultReserveBytes = std::uint64_t{512} << 20;
// The context floor llama.cpp's fit keeps before it gives up layers (-fitc, memory-model.md §8).
inline constexpr std::uint32_t kDefaultFitContextMin = 4096;

struct FitRequest {
  RuntimeConfig given;                   // the user's flags; what is set is kept
  bool n_ctx_given = false;              // -c was set (else solved, up to n_ctx_train per sequence)
  bool flash_attn_given = false;         // -fa was set (auto counts as unset)
  std::vector<std::uint32_t> tensor_split;  // -ts as given (empty: solved)
  std::uint64_t reserve = kDefaultReserveBytes;  // --reserve, per device
  std::uint32_t n_ctx_min = kDefaultFitContextMin;
  bool alternatives = true;              // fill FitResult::alternatives
};

struct DeviceBudget {
  std::string device;                    // "cpu", "cuda:0"
  std::string name;
  std::uint64_t usable = 0;              // before the reserve
  std::uint64_t reserve = 0;
  std::uint64_t budget = 0;              // usable - reserve
  std::uint64_t used = 0;                // at the chosen configuration (peak)
};

struct FitCandidate {
  ResolvedConfig config;
  std::vector<std::uint32_t> tensor_split;  // layers per GPU (device order), empty for one device
  std::string flags;                        // llama.cpp flags
  bool fits = false;
  std::vector<std::uint64_t> used;          // per device, in FitResult::budget order
  std::string note;
};

struct ScaleOutPlan {
  std::string gpu;                          // the GPU kind (catalog id or size)
  std::uint64_t gpu_bytes = 0;
  std::uint32_t n_gpus = 0;                 // 0: not possible within max_gpus
  std::vector<std::uint32_t> tensor_split;
  std::uint32_t n_ctx = 0;
  std::string flags;
  std::string note;
};

struct FitResult {
  bool fits = false;
  ResolvedConfig config;                    // the chosen configuration
  std::vector<std::uint32_t> tensor_split;  // layers per GPU, device order; empty for <= 1 GPU.
                                            // When flags name GPUs with -dev (some left out), per
                                            // GPU of that list.
  std::string flags;                        // "-c 32768 -ngl 20 -ctk q8_0 -ctv q8_0 -fa on"
  std::vector<DeviceBudget> budget;         // host first, then each GPU
  std::vector<FitCandidate> alternatives;   // context x KV type x ngl, with totals per device
  std::string reason;                       // why this configuration, and what limits it
  std::string limited_by;                   // "cpu", "cuda:1", "n_ctx_train", "given"
  std::optional<ScaleOutPlan> scale_out;    // when the model does not fit fully on the GPUs
  std::vector<std::string> warnings;
  std::uint32_t engine_calls = 0;           // estimates the solve needed
};

// The best placement of the model on the inventory: CPU only, full or partial offload, several
// GPUs by tensor split; with threads, batch sizes and the reason.
Result<FitResult> get_optimal_device_config(const ProductionModelLoader& model,
                                            const Inventory& inventory, const FitRequest& request);

// How many GPUs of `gpu_bytes` each the model needs for a full offload at the request's context
// (given, or the floor), and with which split.
Result<ScaleOutPlan> plan_scale_out(const ProductionModelLoader& model, std::string_view gpu_kind,
                                    std::uint64_t gpu_bytes, const FitRequest& request,
                                    std::uint32_t max_gpus = 16);

// ---- plot ------------------------------------------------------------------------------------

struct PlotOptions {
  std::uint32_t n_ctx_min = 256;
  std::uint32_t n_ctx_max = 0;              // 0 = the model's training context
  std::uint32_t n_points = 16;              // sampled contexts (geometric), >= 2
  std::uint32_t width = 900;
  std::uint32_t height = 540;
};
// An SVG: memory per segment (stacked) against context, with each device budget as a horizontal
// line. The sampled values are embedded as JSON in <metadata id="bitnet-data">.
Result<std::string> render_memory_plot(const ProductionModelLoader& model, const RuntimeConfig& config,
                                       const Inventory* inventory, std::uint64_t reserve,
                                       const PlotOptions& options = {});

}  // namespace bitnet
