// NVML, loaded at run time with dlopen: the binary needs no CUDA and runs where there is none.
// No library, no driver or no device -> std::nullopt, never an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bitnet::detail {

struct GpuMemory {
  std::uint32_t index = 0;
  std::string name;
  std::uint64_t total = 0;
  std::uint64_t used = 0;          // by every process
  std::uint64_t used_by_self = 0;  // by this process (NVML's compute/graphics process lists)
};

// Every GPU NVML sees; nullopt when NVML cannot be loaded or initialised, or lists no device.
std::optional<std::vector<GpuMemory>> probe_gpus();

// Device memory this process uses on all GPUs; nullopt without a GPU.
std::optional<std::uint64_t> gpu_memory_of_self();

}  // namespace bitnet::detail
