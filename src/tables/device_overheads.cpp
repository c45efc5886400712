// Device overhead table (style.md §5: {device, term, bytes, basis, source}).
#include "tables/device_overheads.h"

#include <algorithm>
#include <cctype>
#include <iterator>

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

bool icontains(std::string_view hay, std::string_view needle) noexcept {
  if (needle.empty()) return false;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

// clang-format off
constexpr GpuOverheads kGpus[] = {
  // Measured (../groundtruth/gpu-llamacpp.jsonl, 35 runs): NVIDIA H100 80GB HBM3, driver 580.159.04,
  // CUDA 13.0. cuda_context: device memory after context creation, identical in every run.
  // retained_pool: device memory left after llama_free + model free (68.0 MiB in 30 runs; cuBLAS
  // workspace 32 MiB per handle on Hopper, ggml-cuda/common.cuh, + the VMM pool, which never shrinks).
  // transient_pool: median of (peak - context - buffers - retained) over the FA runs without a cuBLAS
  // GEMM (78.6-91.5 MiB - 68 MiB). cublas_gemm_extra: the step between those runs and the runs that
  // reach cuBLAS (f16 weights, f32 MoE router, no-FA attention): 88.4-94.6 MiB.
  // host_lazy_*: anonymous RSS growth beyond every host buffer during the first ubatches, the
  // lower end of each group (design §13): 26.5-52.5 MiB with FA and quantized weights (17 runs),
  // 103.8-147.9 MiB once cuBLAS GEMMs run (4), 198.8-224.3 MiB without FA (8).
  {"H100", 552402944, 68 * kMiB, 16 * kMiB, 92 * kMiB, 109 * kMiB, 8 * kMiB,
   26 * kMiB + kMiB / 2, 77 * kMiB, 95 * kMiB, Basis::kCalibrated,
   "measured: H100 80GB HBM3, driver 580.159.04, CUDA 13.0 (groundtruth/gpu-llamacpp.jsonl)"},
  // Any other GPU: the largest context reported upstream (PR #23604: 107 MiB on an RTX 4060 Ti to
  // 555 MiB on an RTX PRO 6000 Blackwell), so the estimate errs high; pools as measured on the H100.
  {"", 555 * kMiB, 68 * kMiB, 16 * kMiB, 92 * kMiB, 109 * kMiB, 8 * kMiB,
   26 * kMiB + kMiB / 2, 77 * kMiB, 95 * kMiB, Basis::kHeuristic,
   "estimate: CUDA context 107-555 MiB by GPU (llama.cpp PR #23604), upper end; pools as on H100"},
};

constexpr HostBase kHostBases[] = {
  // RSS after backend init, CPU build: 7.0-7.3 MiB (groundtruth cpu runs, rss_phases.baseline).
  {"cpu", 7400000, Basis::kCalibrated, "measured: RSS after ggml CPU backend init (groundtruth)"},
  // CUDA build before CUDA init: 163.4 MiB (libcudart/cuBLAS images mapped and touched).
  {"cuda", 163 * kMiB, Basis::kCalibrated, "measured: RSS of a CUDA build before cuInit (groundtruth)"},
};
// clang-format on

}  // namespace

const GpuOverheads& gpu_overheads(std::string_view gpu_name) noexcept {
  for (const auto& r : kGpus)
    if (icontains(gpu_name, r.gpu)) return r;
  return kGpus[std::size(kGpus) - 1];
}
std::span<const GpuOverheads> all_gpu_overheads() noexcept { return kGpus; }

const HostBase& host_base(bool cuda_build) noexcept { return kHostBases[cuda_build ? 1 : 0]; }

}  // namespace bitnet::detail
