#include "device/nvml.h"

#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

namespace bitnet::detail {
namespace {

// The subset of nvml.h we use (NVML API v2 entry points; the structs are stable ABI).
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr nvmlReturn_t kNvmlErrorInsufficientSize = 7;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlProcessInfo {  // nvmlProcessInfo_t (v3 entry points)
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};

struct Nvml {
  void* lib = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*count)(unsigned int*) = nullptr;
  nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, NvmlMemory*) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*compute_procs)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*) = nullptr;
  nvmlReturn_t (*graphics_procs)(nvmlDevice_t, unsigned int*, NvmlProcessInfo*) = nullptr;
  bool ok = false;
};

template <class F>
void bind(void* lib, F& f, const char* sym) {
  f = reinterpret_cast<F>(::dlsym(lib, sym));
}

const Nvml& nvml() {
  static Nvml n;
  static std::once_flag once;
  std::call_once(once, [] {
    // libnvidia-ml.so.1 is what the driver installs; the unversioned name only with dev packages.
    for (const char* so : {"libnvidia-ml.so.1", "libnvidia-ml.so"}) {
      n.lib = ::dlopen(so, RTLD_NOW | RTLD_LOCAL);
      if (n.lib != nullptr) break;
    }
    if (n.lib == nullptr) return;
    bind(n.lib, n.init, "nvmlInit_v2");
    bind(n.lib, n.count, "nvmlDeviceGetCount_v2");
    bind(n.lib, n.handle, "nvmlDeviceGetHandleByIndex_v2");
    bind(n.lib, n.memory, "nvmlDeviceGetMemoryInfo");
    bind(n.lib, n.name, "nvmlDeviceGetName");
    bind(n.lib, n.compute_procs, "nvmlDeviceGetComputeRunningProcesses_v3");
    bind(n.lib, n.graphics_procs, "nvmlDeviceGetGraphicsRunningProcesses_v3");
    n.ok = n.init && n.count && n.handle && n.memory && n.init() == kNvmlSuccess;
  });
  return n;
}

std::uint64_t used_by_pid(const Nvml& n, nvmlDevice_t dev, unsigned int pid) {
  std::uint64_t sum = 0;
  for (auto* fn : {n.compute_procs, n.graphics_procs}) {
    if (fn == nullptr) continue;
    std::vector<NvmlProcessInfo> procs(64);
    unsigned int cnt = static_cast<unsigned int>(procs.size());
    nvmlReturn_t r = fn(dev, &cnt, procs.data());
    if (r == kNvmlErrorInsufficientSize) {
      procs.resize(cnt + 16);
      cnt = static_cast<unsigned int>(procs.size());
      r = fn(dev, &cnt, procs.data());
    }
    if (r != kNvmlSuccess) continue;
    for (unsigned int i = 0; i < cnt; ++i)
      if (procs[i].pid == pid) sum += procs[i].usedGpuMemory;
  }
  return sum;
}

}  // namespace

std::optional<std::vector<GpuMemory>> probe_gpus() {
  const Nvml& n = nvml();
  if (!n.ok) return std::nullopt;
  unsigned int count = 0;
  if (n.count(&count) != kNvmlSuccess || count == 0) return std::nullopt;
  std::vector<GpuMemory> out;
  const auto pid = static_cast<unsigned int>(::getpid());
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t dev = nullptr;
    if (n.handle(i, &dev) != kNvmlSuccess) continue;
    GpuMemory g;
    g.index = i;
    NvmlMemory m{};
    if (n.memory(dev, &m) == kNvmlSuccess) {
      g.total = m.total;
      g.used = m.used;
    }
    if (n.name != nullptr) {
      char buf[96] = {};
      if (n.name(dev, buf, sizeof buf) == kNvmlSuccess) g.name = buf;
    }
    g.used_by_self = used_by_pid(n, dev, pid);
    out.push_back(std::move(g));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::uint64_t> gpu_memory_of_self() {
  const auto gpus = probe_gpus();
  if (!gpus) return std::nullopt;
  std::uint64_t sum = 0;
  for (const GpuMemory& g : *gpus) sum += g.used_by_self;
  return sum;
}

}  // namespace bitnet::detail
