// bitnet-models: memory requirements (api.md §1, §3). Bytes are the source of truth; *_mb() round up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/types.h"

namespace bitnet {

// MiB, rounded up: 1 byte is 1 MiB, never 0 (the original sketch truncated with integer division).
constexpr std::uint64_t bytes_to_mib_ceil(std::uint64_t bytes) noexcept {
  return bytes / (1024 * 1024) + (bytes % (1024 * 1024) != 0 ? 1 : 0);
}

// Where a part's bytes live.
enum class MemoryKind : std::uint8_t {
  kAnonymous,  // malloc'd host memory (counted in RSS once touched)
  kMapped,     // file-backed pages of the mapped model (shared, reclaimable)
  kPinned,     // pinned host memory (CUDA_Host): in RSS, neither anon nor file
  kDevice,     // GPU memory
};
std::string_view memory_kind_name(MemoryKind k) noexcept;  // "anonymous", "mapped", "pinned", "device"

// One term of a segment: a llama.cpp buffer, a work buffer, a tokenizer ...
struct MemoryPart {
  std::string name;     // "CPU_Mapped", "kv_cache", "compute_buffer", ...
  std::string device;   // "cpu", "cuda:0"
  MemoryKind kind = MemoryKind::kAnonymous;
  std::uint64_t bytes = 0;           // reserved
  std::uint64_t resident_bytes = 0;  // what becomes resident at the serving peak (<= bytes unless transient)
  Basis basis = Basis::kExact;
  // Upstream code or measurement behind the number: static text (string literals, the tables),
  // valid for the life of the program, so an estimate copies no provenance strings. Assign only
  // literals or other static text.
  std::string_view source;
};

struct MemorySegment {
  std::uint64_t cpu_bytes = 0;               // anonymous (and pinned) host memory
  std::optional<std::uint64_t> gpu_bytes;    // device memory; absent when no GPU is involved
  std::uint64_t shared_bytes = 0;            // file-backed mapped pages
  double peak_multiplier = 1.0;              // peak / steady state, derived, never guessed
  std::vector<MemoryPart> parts;

  std::uint64_t cpu_mb() const noexcept { return bytes_to_mib_ceil(cpu_bytes); }
  std::optional<std::uint64_t> gpu_mb() const noexcept {
    return gpu_bytes ? std::optional<std::uint64_t>(bytes_to_mib_ceil(*gpu_bytes)) : std::nullopt;
  }
  std::uint64_t shared_mb() const noexcept { return bytes_to_mib_ceil(shared_bytes); }
  std::uint64_t host_bytes() const noexcept { return cpu_bytes + shared_bytes; }
};

struct OptimizationSuggestion {
  std::string id;          // stable identifier: "kv_q8_0", "flash_attn_on", ...
  std::string text;        // what to do, in the user's terms
  std::string flags;       // the llama.cpp flags that do it, e.g. "-ctk q8_0 -ctv q8_0 -fa on"
  std::int64_t saves_bytes = 0;  // peak host+device bytes saved (negative: costs more)
};

struct MemoryRecommendations {
  std::uint64_t min_system_ram = 0;
  std::uint64_t recommended_system_ram = 0;
  std::optional<std::uint64_t> min_gpu_memory;
  std::optional<std::uint64_t> recommended_gpu_memory;
  std::uint64_t swap_requirements = 0;
  std::vector<OptimizationSuggestion> optimization_suggestions;
};

enum class FlashAttn : std::uint8_t { kOff, kOn, kAuto };
std::string_view flash_attn_name(FlashAttn f) noexcept;  // "off", "on", "auto"

// The runtime settings (api.md §2; llama.cpp's names and meanings).
struct RuntimeConfig {
  std::uint32_t max_batch_size = 1;        // -np: concurrent sequences
  std::uint32_t max_sequence_length = 0;   // tokens per sequence; used only when n_ctx is 0
  std::uint32_t n_ctx = 4096;              // -c: total KV cells over all sequences; 0 = see below
  // n_ctx resolution: n_ctx if set, else max_sequence_length * max_batch_size if set,
  // else the model's training context.
  std::uint32_t n_batch = 2048;            // -b
  std::uint32_t n_ubatch = 512;            // -ub
  bool kv_unified = false;                 // -kvu
  Precision kv_cache_precision = Precision::kF16;   // K and V, unless overridden below
  std::optional<Precision> type_k;         // -ctk
  std::optional<Precision> type_v;         // -ctv
  Precision activation_precision = Precision::kF32; // llama.cpp computes activations in f32
  FlashAttn flash_attn = FlashAttn::kAuto; // -fa
  bool mmap = true;                        // --mmap / --no-mmap
  std::optional<std::int32_t> n_gpu_layers;  // -ngl; default 0 on cpu, all on a GPU
  bool no_kv_offload = false;              // -nkvo
  std::uint32_t n_threads = 0;             // -t; 0 = the runtime's default
  std::uint32_t n_outputs_max = 0;         // logits rows reserved; 0 = the runtime profile's rule
  bool repack = true;                      // CPU weight repacking (llama.cpp's default)
  Device device;                           // --device (the first GPU of a split)
  // Several GPUs (llama.cpp's layer split, -sm layer): --device cuda:0,cuda:1 lists them in split
  // order; -ts gives each one's proportion of the offloaded layers (llama-model.cpp load_tensors:
  // layer i of the k offloaded goes to the first GPU whose cumulative normalised proportion
  // exceeds i/k, so GPU 0 takes the lowest layers and the output layer lands on the last GPU that
  // gets any). The GPU count is the longer of the two (-ts alone: cuda:0 .. cuda:N-1 from
  // `device`); empty or one entry each: the single GPU `device`. Devices without -ts split
  // equally (llama.cpp splits by free memory, which an estimate does not know: a warning says so).
  std::vector<Device> devices;             // --device cuda:0,cuda:1
  std::vector<float> tensor_split;         // -ts, --tensor-split 3,1
  std::string runtime = "llama.cpp";       // --runtime: llama.cpp | bitnet.cpp | native

  Precision effective_type_k() const noexcept { return type_k.value_or(kv_cache_precision); }
  Precision effective_type_v() const noexcept { return type_v.value_or(kv_cache_precision); }
};

struct MemoryAnalysisConfig {
  Device device;                  // overrides runtime.device when set explicitly by the caller
  RuntimeConfig runtime;
  double safety_margin = 0.10;    // recommended = minimum * (1 + safety_margin)
  bool include_system_overhead = true;
  bool detailed_breakdown = true; // keep the parts of each segment
  bool suggestions = true;        // search alternatives for optimization_suggestions
  std::optional<std::uint64_t> available_ram;   // for "largest context that fits"; default: none
  std::optional<std::uint64_t> available_vram;
  std::string gpu_name;   // selects the device-overhead row (e.g. "H100"); "" = the default row
  std::vector<std::string> gpu_names;  // per GPU of a split, device order; a missing or "" entry
                                       // takes gpu_name
  std::string cpu_isa;    // CPU features that decide repacking: "avx2", "avx512", "avx512+amx",
                          // "neon"; "" = the runtime profile's default (x86-64 AVX-512)
  // RSS of the process that will load the model, measured just before the load (validate_model
  // sets it). Only for runtimes that load inside this process (native): it replaces the table's
  // estimate of that process's base. A measured input, reported as such (basis exact, source
  // "measured"); never the measurement the estimate is compared with.
  std::optional<std::uint64_t> process_base_bytes;
  // false: where the compute buffers would come from simulating llama.cpp's scheduler (a GPU
  // build with partial offload), take the closed forms instead: within 3 % of the simulation on
  // the ground truth and 10-50x cheaper. For searches that verify their answer with the
  // simulation (the fit planner); DetailedMemoryRequirements::compute_closed_form says when it
  // applied.
  bool simulate_compute = true;
};

// The settings as the runtime resolves them (echoed as "config" in JSON).
struct ResolvedConfig {
  std::string device = "cpu";      // "cuda:0"; a split: "cuda:0,cuda:1"
  std::vector<float> tensor_split; // the split's proportions (empty for one device)
  std::string runtime = "llama.cpp";
  std::uint32_t n_ctx = 0;
  std::uint32_t n_ctx_seq = 0;     // cells per stream
  std::uint32_t n_batch = 0;
  std::uint32_t n_ubatch = 0;
  std::uint32_t n_seq = 1;
  bool kv_unified = false;
  Precision type_k = Precision::kF16;
  Precision type_v = Precision::kF16;
  bool flash_attn = false;
  bool mmap = true;
  std::int32_t n_gpu_layers = 0;
  std::uint32_t n_threads = 0;
};

// One GPU's share of a GPU estimate (each part's bytes also appear, with its device, in the
// segments). One entry per GPU, in split order.
struct DeviceUsage {
  std::string device;                 // "cuda:1"
  std::uint32_t n_layers = 0;         // layers on it (the output layer counts as one)
  std::uint64_t weights_bytes = 0;    // its model buffer (CUDA<N>)
  std::uint64_t kv_bytes = 0;         // KV cache / recurrent state of its layers
  std::uint64_t compute_bytes = 0;    // its compute buffer
  std::uint64_t overhead_bytes = 0;   // CUDA context, cuBLAS workspace and pool
  std::uint64_t peak_bytes = 0;       // what nvidia-smi shows for the process on it
};

struct DetailedMemoryRequirements {
  MemorySegment model_weights;
  MemorySegment kv_cache;
  MemorySegment activations;
  MemorySegment quantization_overhead;
  MemorySegment system_overhead;
  MemorySegment total;        // sum of the reservations
  MemorySegment peak_usage;   // what becomes resident at the serving peak
  MemoryRecommendations recommendations;
  ResolvedConfig config;
  std::vector<DeviceUsage> devices;  // per GPU (GPU estimates only); total/peak gpu_bytes sum them
  // simulate_compute was false and a closed form stood in for the scheduler simulation.
  bool compute_closed_form = false;
  std::vector<std::string> warnings;
};

// The original request's summary, now derived from DetailedMemoryRequirements.
struct MemoryRequirements {
  std::uint64_t total_mb = 0;
  std::optional<std::uint64_t> gpu_memory_mb;
  std::uint64_t cpu_memory_mb = 0;
  std::uint64_t kv_cache_mb = 0;
  std::uint64_t activation_mb = 0;
  std::uint64_t headroom_mb = 0;
};

}  // namespace bitnet
