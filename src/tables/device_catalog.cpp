// The device catalog (planner issue). GPU memory is the total NVML reports for the board (what
// `nvidia-smi` prints as "Total"), which is what a detected inventory would give; instance RAM is
// the provider's nominal figure (MemTotal is a few percent lower: the kernel keeps the rest; the
// --reserve default does not cover a whole OS, raise it on a busy host). The per-device overheads
// (CUDA context, cuBLAS workspace, pool) are not repeated here: the engine's device-overhead table
// (tables/device_overheads.cpp) owns them, selected by the GPU's name, as for a detected GPU.
#include "tables/device_catalog.h"

#include "tables/device_overheads.h"

#include <algorithm>
#include <cctype>

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

// clang-format off
constexpr DeviceTarget kCatalog[] = {
  // ---- GPUs: memory = NVML total ("nvidia-smi" Total) of the common board ----
  {.id = "h100-80g", .description = "NVIDIA H100 80GB HBM3 (SXM)", .gpu_id = "h100-80g", .n_gpus = 1,
   .gpu_bytes = 81559 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 81559 MiB"},
  {.id = "h200", .description = "NVIDIA H200 141GB HBM3e", .gpu_id = "h200", .n_gpus = 1,
   .gpu_bytes = 143771 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 143771 MiB"},
  {.id = "a100-80g", .description = "NVIDIA A100 80GB", .gpu_id = "a100-80g", .n_gpus = 1,
   .gpu_bytes = 81920 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 81920 MiB"},
  {.id = "a100-40g", .description = "NVIDIA A100 40GB", .gpu_id = "a100-40g", .n_gpus = 1,
   .gpu_bytes = 40960 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 40960 MiB"},
  {.id = "l40s", .description = "NVIDIA L40S 48GB", .gpu_id = "l40s", .n_gpus = 1,
   .gpu_bytes = 46068 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 46068 MiB"},
  {.id = "a10g", .description = "NVIDIA A10G 24GB (AWS g5)", .gpu_id = "a10g", .n_gpus = 1,
   .gpu_bytes = 23028 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 23028 MiB"},
  {.id = "l4", .description = "NVIDIA L4 24GB", .gpu_id = "l4", .n_gpus = 1,
   .gpu_bytes = 23034 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 23034 MiB"},
  {.id = "t4", .description = "NVIDIA T4 16GB", .gpu_id = "t4", .n_gpus = 1,
   .gpu_bytes = 15360 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 15360 MiB"},
  {.id = "v100-16g", .description = "NVIDIA V100 16GB (SXM2)", .gpu_id = "v100-16g", .n_gpus = 1,
   .gpu_bytes = 16160 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 16160 MiB"},
  {.id = "rtx-4090", .description = "NVIDIA GeForce RTX 4090 24GB", .gpu_id = "rtx-4090", .n_gpus = 1,
   .gpu_bytes = 24564 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 24564 MiB"},
  {.id = "rtx-3090", .description = "NVIDIA GeForce RTX 3090 24GB", .gpu_id = "rtx-3090", .n_gpus = 1,
   .gpu_bytes = 24576 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 24576 MiB"},
  {.id = "rtx-4060-ti-16g", .description = "NVIDIA GeForce RTX 4060 Ti 16GB", .gpu_id = "rtx-4060-ti-16g", .n_gpus = 1,
   .gpu_bytes = 16380 * kMiB, .host_bytes = 0, .vcpus = 0, .basis = Basis::kHeuristic,
   .source = "memory: nvidia-smi 16380 MiB"},

  // ---- cloud instances: RAM and vCPUs as the provider lists them ----
  {.id = "g4dn.xlarge", .description = "AWS g4dn.xlarge: 1x T4, 16 GiB, 4 vCPU", .gpu_id = "t4", .n_gpus = 1,
   .gpu_bytes = 15360 * kMiB, .host_bytes = 16 * kGiB, .vcpus = 4, .basis = Basis::kHeuristic,
   .source = "aws.amazon.com/ec2/instance-types/g4/"},
  {.id = "g5.xlarge", .description = "AWS g5.xlarge: 1x A10G, 16 GiB, 4 vCPU", .gpu_id = "a10g", .n_gpus = 1,
   .gpu_bytes = 23028 * kMiB, .host_bytes = 16 * kGiB, .vcpus = 4, .basis = Basis::kHeuristic,
   .source = "aws.amazon.com/ec2/instance-types/g5/"},
  {.id = "g5.12xlarge", .description = "AWS g5.12xlarge: 4x A10G, 192 GiB, 48 vCPU", .gpu_id = "a10g", .n_gpus = 4,
   .gpu_bytes = 23028 * kMiB, .host_bytes = 192 * kGiB, .vcpus = 48, .basis = Basis::kHeuristic,
   .source = "aws.amazon.com/ec2/instance-types/g5/"},
  {.id = "g6.xlarge", .description = "AWS g6.xlarge: 1x L4, 16 GiB, 4 vCPU", .gpu_id = "l4", .n_gpus = 1,
   .gpu_bytes = 23034 * kMiB, .host_bytes = 16 * kGiB, .vcpus = 4, .basis = Basis::kHeuristic,
   .source = "aws.amazon.com/ec2/instance-types/g6/"},
  {.id = "p4d.24xlarge", .description = "AWS p4d.24xlarge: 8x A100 40GB, 1152 GiB, 96 vCPU", .gpu_id = "a100-40g", .n_gpus = 8,
   .gpu_bytes = 40960 * kMiB, .host_bytes = 1152 * kGiB, .vcpus = 96, .basis = Basis::kHeuristic,
   .source = "aws.amazon.com/ec2/instance-types/p4/"},
  {.id = "p5.48xlarge", .description = "AWS p5.48xlarge: 8x H100 80GB, 2048 GiB, 192 vCPU", .gpu_id = "h100-80g", .n_gpus = 8,
   .gpu_bytes = 81559 * kMiB, .host_bytes = 2048 * kGiB, .vcpus = 192, .basis = Basis::kExact,
   .source = "aws.amazon.com/ec2/instance-types/p5/"},
  {.id = "g2-standard-8", .description = "GCP g2-standard-8: 1x L4, 32 GB, 8 vCPU", .gpu_id = "l4", .n_gpus = 1,
   .gpu_bytes = 23034 * kMiB, .host_bytes = 32 * kGiB, .vcpus = 8, .basis = Basis::kHeuristic,
   .source = "cloud.google.com/compute/docs/gpus (G2 machine types)"},
  {.id = "a2-highgpu-1g", .description = "GCP a2-highgpu-1g: 1x A100 40GB, 85 GB, 12 vCPU", .gpu_id = "a100-40g", .n_gpus = 1,
   .gpu_bytes = 40960 * kMiB, .host_bytes = 85 * kGiB, .vcpus = 12, .basis = Basis::kHeuristic,
   .source = "cloud.google.com/compute/docs/gpus (A2 machine types)"},
  {.id = "nc24ads-a100-v4", .description = "Azure NC24ads A100 v4: 1x A100 80GB, 220 GiB, 24 vCPU", .gpu_id = "a100-80g", .n_gpus = 1,
   .gpu_bytes = 81920 * kMiB, .host_bytes = 220 * kGiB, .vcpus = 24, .basis = Basis::kHeuristic,
   .source = "learn.microsoft.com/azure/virtual-machines/nc-a100-v4-series"},
  {.id = "m7i.xlarge", .description = "AWS m7i.xlarge: CPU only, 16 GiB, 4 vCPU", .gpu_id = "", .n_gpus = 0,
   .gpu_bytes = 0, .host_bytes = 16 * kGiB, .vcpus = 4, .basis = Basis::kExact,
   .source = "aws.amazon.com/ec2/instance-types/m7i/"},
  {.id = "r7i.xlarge", .description = "AWS r7i.xlarge: CPU only, 32 GiB, 4 vCPU", .gpu_id = "", .n_gpus = 0,
   .gpu_bytes = 0, .host_bytes = 32 * kGiB, .vcpus = 4, .basis = Basis::kExact,
   .source = "aws.amazon.com/ec2/instance-types/r7i/"},
};
// clang-format on

}  // namespace

std::span<const DeviceTarget> device_catalog_rows() noexcept { return kCatalog; }

}  // namespace bitnet::detail

namespace bitnet {

std::span<const DeviceTarget> device_catalog() noexcept { return detail::device_catalog_rows(); }

GpuOverheadInfo gpu_overhead_info(std::string_view gpu_name) {
  const detail::GpuOverheads& o = detail::gpu_overheads(gpu_name);
  return GpuOverheadInfo{o.cuda_context, o.retained_pool, o.transient_pool, o.basis, std::string(o.source)};
}

const DeviceTarget* find_device_target(std::string_view id) noexcept {
  auto eq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const DeviceTarget& t : detail::device_catalog_rows())
    if (eq(t.id, id)) return &t;
  return nullptr;
}

}  // namespace bitnet
