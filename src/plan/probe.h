// Host and GPU probes behind detect_inventory (Linux /proc and cgroup files; NVML through dlopen).
// Pure parsers are exposed for the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/plan.h"

namespace bitnet::detail {

struct MemInfo {
  std::optional<std::uint64_t> mem_total, mem_available, swap_total, swap_free;
};
MemInfo parse_meminfo(std::string_view text);  // /proc/meminfo ("MemTotal: 123 kB")

// Logical and physical cores from /proc/cpuinfo (distinct (physical id, core id) pairs).
std::pair<std::uint32_t, std::uint32_t> parse_cpuinfo(std::string_view text);

// CUDA_VISIBLE_DEVICES: the visible entries in CUDA order -- NVML indices ("0,2") or UUID
// prefixes ("GPU-8f3a..."). nullopt: unset (all devices). An invalid entry hides it and every later
// entry, as the CUDA runtime does.
std::optional<std::vector<std::string>> parse_cuda_visible_devices(const char* value);

// Host probe under `root` ("/" or a fake tree for tests).
Result<HostInventory> probe_host(const std::string& root, std::vector<std::string>& notes);

struct NvmlDevice {
  std::string name, uuid;
  std::uint64_t total = 0, free = 0;
};
// All devices NVML sees, in NVML order; an error when NVML is absent or fails (a normal case).
Result<std::vector<NvmlDevice>> probe_nvml(const std::string& library);

// Applies CUDA_VISIBLE_DEVICES to the NVML list: the GPUs a CUDA process would see, in order.
std::vector<GpuInventory> visible_gpus(const std::vector<NvmlDevice>& all,
                                       const std::optional<std::vector<std::string>>& visible);

}  // namespace bitnet::detail
