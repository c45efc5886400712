// What the planner adds to the loader's probes (src/device/): physical cores and the cgroup CPU
// quota for the thread count, and CUDA_VISIBLE_DEVICES over the NVML list. Pure parsers are
// exposed for the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bitnet/plan.h"

namespace bitnet::detail {

// Logical and physical cores from /proc/cpuinfo (distinct (physical id, core id) pairs).
std::pair<std::uint32_t, std::uint32_t> parse_cpuinfo(std::string_view text);

// The cgroup CPU quota in cores (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) of this
// process under `root`; nullopt: none.
std::optional<double> probe_cpu_quota(const std::string& root);

// CUDA_VISIBLE_DEVICES: the visible entries in CUDA order -- NVML indices ("0,2") or UUID
// prefixes ("GPU-8f3a..."). nullopt: unset (all devices). An invalid entry hides it and every later
// entry, as the CUDA runtime does.
std::optional<std::vector<std::string>> parse_cuda_visible_devices(const char* value);

struct NvmlDevice {
  std::string name, uuid;  // uuid empty: not known (then UUID entries cannot be matched)
  std::uint64_t total = 0, free = 0;
};
// Applies CUDA_VISIBLE_DEVICES to the NVML list: the GPUs a CUDA process would see, in order.
std::vector<GpuInventory> visible_gpus(const std::vector<NvmlDevice>& all,
                                       const std::optional<std::vector<std::string>>& visible);

}  // namespace bitnet::detail
