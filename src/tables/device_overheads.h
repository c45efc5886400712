// Per-device and per-process memory that no llama.cpp buffer lists (memory-model.md §7, §13):
// the CUDA context, cuBLAS workspaces and the CUDA memory pool, the process's own base. These are
// not derivable from source: each row says whether it was measured (and where) or is an estimate.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "bitnet/types.h"

namespace bitnet::detail {

struct GpuOverheads {
  std::string_view gpu;                 // matched case-insensitively as a substring; "" = default
  std::uint64_t cuda_context;           // device memory in use after cuInit/context creation
  std::uint64_t retained_pool;          // cuBLAS workspace + pool kept after every free
  std::uint64_t transient_pool;         // pool growth at the first ubatch (MMQ q8_1 activations ...)
  std::uint64_t cublas_gemm_extra;      // extra device memory once a cuBLAS GEMM runs (f16 weights,
                                        // f32 MoE router, no-FA KQ/KQV)
  std::uint64_t host_runtime_rss;       // host RSS added by CUDA init (anon + file, not pinned)
  std::uint64_t host_pinned_init;       // pinned host memory after CUDA init
  // Host anonymous memory of CUDA modules loaded lazily at the first ubatch (CUDA 12+ lazy module
  // loading): always / once cuBLAS GEMMs run / with attention without FA.
  std::uint64_t host_lazy_modules, host_lazy_cublas, host_lazy_no_fa;
  Basis basis;
  std::string_view source;
};

// The row for a GPU name ("" or an unknown name: the default row, kHeuristic).
const GpuOverheads& gpu_overheads(std::string_view gpu_name) noexcept;
std::span<const GpuOverheads> all_gpu_overheads() noexcept;

struct HostBase {
  std::string_view runtime_build;  // "cpu" (CPU build of the runtime) or "cuda" (CUDA build)
  std::uint64_t process_base;      // RSS after backend init: code, libc, ggml, thread pool
  Basis basis;
  std::string_view source;
};
const HostBase& host_base(bool cuda_build) noexcept;

}  // namespace bitnet::detail
