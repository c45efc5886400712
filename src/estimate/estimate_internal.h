// Internal interfaces of the memory engine: the resolved plan every term reads, and the terms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"
#include "estimate/bytes.h"
#include "estimate/runtime_profiles.h"
#include "tables/device_overheads.h"

namespace bitnet::detail {

enum class Seg : std::uint8_t { kWeights, kKv, kActivations, kQuant, kSystem };

// One part plus what it holds resident during the load phase (memory-model.md §11).
struct Term {
  Seg seg = Seg::kSystem;
  MemoryPart part;
  std::uint64_t load_resident = 0;  // resident at the end of loading (before the context exists)
};

// llama.cpp model buffer types a weight can land in (names: buffer_name()).
enum class Buf : std::uint8_t { kMapped, kHost, kPinned, kRepack, kAmx, kDevice, kCount };

// Where a weight tensor lives.
struct Placement {
  const TensorInfo* t = nullptr;
  bool synthetic_output = false;  // the tied head's duplicate of token_embd (not in the file)
  bool on_gpu = false;
  std::uint32_t gpu = 0;          // which GPU of the split (Plan::gpu_devs) when on_gpu
  Buf buf = Buf::kMapped;         // CPU_Mapped, CPU, CUDA_Host, CPU_REPACK, AMX, CUDA0 ...
  std::uint64_t alloc = 0;        // bytes in that buffer (padding, row padding, packed layout)
};

struct TensorDigest;

// The resolved settings and model-derived quantities every term reads.
struct Plan {
  const ModelStructureInfo* m = nullptr;
  const TensorDigest* digest = nullptr;  // the tensors, grouped once per analysis (digest.h)
  const RuntimeProfile* prof = nullptr;
  const GpuOverheads* gpu = nullptr;  // nullptr when no GPU is involved
  ResolvedConfig rc;
  bool gpu_build = false;             // the runtime runs with a CUDA backend
  std::string gpu_dev;                // "cuda:0" (the first GPU of a split)
  std::uint32_t i_gpu_start = 0;      // first layer (0..n_layer; n_layer = output) on the GPU
  // Several GPUs (-ts / --device a,b): per GPU its device name and overhead row, and per layer
  // 0..n_layer (n_layer = output) the GPU it is on (-1: host). One GPU: one entry each, every
  // offloaded layer on GPU 0.
  std::vector<std::string> gpu_devs;
  std::vector<const GpuOverheads*> gpu_rows;
  std::vector<std::int16_t> layer_gpu;
  std::uint32_t out_gpu = 0;          // the GPU that computes the logits (or runs the op-offloaded head)
  bool kv_offload = true;
  bool repack_enabled = true;        // --repack (llama.cpp default) / --no-repack
  IsaMask isa = 0;
  // Batches and cells (memory-model.md §5, §6).
  std::uint32_t n_stream = 1;
  std::uint64_t kv_size = 0;          // cells per stream, full-attention layers
  std::uint64_t swa_size = 0;         // cells per stream, SWA layers
  std::uint64_t n_tokens = 0;         // tokens of the reserved ubatch
  std::uint64_t n_outputs = 0;        // logits rows reserved
  std::uint32_t n_threads = 1;
  std::optional<std::uint64_t> measured_base;  // RSS of this process before an in-process load
  std::vector<std::string> warnings;
  bool simulate_compute = true;              // MemoryAnalysisConfig::simulate_compute
  mutable bool compute_closed_form = false;  // set by activation_terms when it skipped the simulation

  bool layer_on_gpu(std::int64_t il) const noexcept {
    return gpu_build && il >= static_cast<std::int64_t>(i_gpu_start);
  }
  std::string host_dev() const { return "cpu"; }
  // The GPU (index into gpu_devs) layer il (0..n_layer) is on; -1 when on the host.
  int gpu_of(std::int64_t il) const noexcept {
    if (!layer_on_gpu(il) || il < 0 || static_cast<std::size_t>(il) >= layer_gpu.size()) return -1;
    return layer_gpu[static_cast<std::size_t>(il)];
  }
  std::size_t n_gpus() const noexcept { return gpu_devs.size(); }
};

// Resolves the config (MemoryAnalysisConfig -> Plan); errors for impossible requests.
Result<Plan> resolve_plan(const ModelStructureInfo& m, const TensorDigest& digest,
                          const MemoryAnalysisConfig& cfg);

// Weight placement per tensor and the model-buffer terms (weights + repack overhead).
struct WeightsResult {
  std::vector<Term> terms;
  B work_matmul;                            // largest src1 -> vec_dot_type conversion (CPU matmuls)
  B work_bitnet;                            // largest I8_S / TL LUT scratch (bitnet.cpp kernels)
  std::uint64_t n_tl = 0;                   // TL1/TL2 weights (TL extras)
  std::uint64_t output_weight_on_host = 0;  // nbytes of a CPU-resident head weight run on the GPU
  bool gpu_cublas_gemm = false;             // an offloaded matmul weight takes cuBLAS (f16/f32)
  bool host_matmul_in_gpu_layer = false;    // an offloaded layer's weight the GPU cannot run
  std::uint64_t read_buffer = 0;            // no-mmap read buffer kept after load
};
Result<WeightsResult> weight_terms(const Plan& p);

Status kv_terms(const Plan& p, std::vector<Term>& out);
Status activation_terms(const Plan& p, const WeightsResult& w, std::vector<Term>& out);
Status system_terms(const Plan& p, const WeightsResult& w, std::vector<Term>& out);
// Host bytes the native loader's own structs take per model (system_overhead, native profile).
B native_loader_struct_bytes(const ModelStructureInfo& m);
// ggml_backend_cuda_buffer_type_get_alloc_size: a weight's bytes in a CUDA buffer.
Result<std::uint64_t> cuda_alloc_bytes(const TensorInfo& t);

// Segments, totals and the peak from the terms.
// keep_parts = false leaves the segments' part lists empty (callers that read only the totals,
// e.g. the fit planner: copying every part's strings was most of an estimate's time).
void assemble(const Plan& p, std::vector<Term>& terms, DetailedMemoryRequirements& out,
              bool keep_parts = true);

// The estimate without recommendations' suggestions (the suggestion search re-runs this).
Result<DetailedMemoryRequirements> estimate_core(const ModelStructureInfo& m,
                                                 const TensorDigest& digest,
                                                 const MemoryAnalysisConfig& cfg);

// Recommendations: RAM/VRAM policy and, if cfg.suggestions, the alternatives search.
Status recommend(const ModelStructureInfo& m, const TensorDigest& digest,
                 const MemoryAnalysisConfig& cfg, DetailedMemoryRequirements& d);

// Helpers shared by the terms.
std::uint64_t max_n_head(const ModelStructureInfo& m) noexcept;
std::uint64_t max_n_embd_v_gqa(const ModelStructureInfo& m) noexcept;
std::uint64_t n_ff_effective(const ModelStructureInfo& m) noexcept;  // dense n_ff or used experts
inline std::uint64_t attn_cells(const Plan& p, const LayerInfo& L) noexcept {
  return L.is_swa ? p.swa_size : p.kv_size;
} // cells per stream of a layer

// Every field equal: the layer needs the same bytes and the same graph as the other.
inline bool same_layer(const LayerInfo& a, const LayerInfo& b) noexcept {
  return a.kind == b.kind && a.n_head == b.n_head && a.n_head_kv == b.n_head_kv &&
         a.head_dim_k == b.head_dim_k && a.head_dim_v == b.head_dim_v &&
         a.n_embd_k_gqa == b.n_embd_k_gqa && a.n_embd_v_gqa == b.n_embd_v_gqa && a.is_swa == b.is_swa &&
         a.n_ff == b.n_ff && a.is_moe == b.is_moe && a.n_embd_r == b.n_embd_r && a.n_embd_s == b.n_embd_s;
}

// Layer il's hyperparameters; the model-level scalars where the analysis has no per-layer entry.
inline LayerInfo layer_at(const ModelStructureInfo& m, std::uint32_t il) {
  if (il < m.layers.size()) return m.layers[il];
  LayerInfo L;
  L.kind = m.recurrent ? LayerKind::kRecurrent : LayerKind::kAttention;
  L.n_head = m.n_head;
  L.n_head_kv = m.n_head_kv;
  L.head_dim_k = m.head_dim_k;
  L.head_dim_v = m.head_dim_v;
  L.n_embd_k_gqa = std::uint64_t{m.n_head_kv} * m.head_dim_k;
  L.n_embd_v_gqa = m.mla ? 0 : std::uint64_t{m.n_head_kv} * m.head_dim_v;
  L.n_ff = m.n_ff;
  return L;
}

}  // namespace bitnet::detail
