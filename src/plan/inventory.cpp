// Device inventory: Linux host probe (/proc/meminfo, /proc/cpuinfo, cgroup v1/v2), NVML through
// dlopen (no link-time dependency: a machine without a GPU or a driver is a normal case), sizes,
// described hardware and catalog targets.
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "bitnet/plan.h"
#include "plan/probe.h"
#include "tables/device_catalog.h"

namespace bitnet {

std::uint64_t HostInventory::usable_bytes() const noexcept {
  std::uint64_t u = mem_available.value_or(mem_total);
  if (u == 0) u = mem_total;
  if (cgroup_limit) {
    const std::uint64_t used = cgroup_usage.value_or(0);
    const std::uint64_t head = *cgroup_limit > used ? *cgroup_limit - used : 0;
    u = std::min(u, head);
  }
  return u;
}

std::uint32_t HostInventory::recommended_threads() const noexcept {
  std::uint32_t t = physical_cores != 0 ? physical_cores : logical_cores;
  if (cpu_quota && *cpu_quota > 0) {
    const auto q = static_cast<std::uint32_t>(std::max(1.0, std::floor(*cpu_quota)));
    t = t == 0 ? q : std::min(t, q);
  }
  return t;
}

Result<std::uint64_t> parse_size(std::string_view text) {
  auto bad = [&](std::string why) {
    return Error{Errc::kInvalidArgument, "invalid size '" + std::string(text) + "': " + why,
                 kNoOffset, {}, "write sizes as 32GiB, 512MiB, 1.5GiB or a byte count"};
  };
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return bad("no number");
  const std::string num(s.substr(0, i));
  std::string unit(s.substr(i));
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Binary units; "GB"/"G" mean GiB as llama.cpp's tools and nvidia-smi's users use them.
  static constexpr std::pair<std::string_view, unsigned> kUnits[] = {
      {"", 0},    {"b", 0},   {"k", 10},  {"kb", 10}, {"kib", 10}, {"m", 20},  {"mb", 20},
      {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},  {"tb", 40}, {"tib", 40}};
  const auto* u = std::find_if(std::begin(kUnits), std::end(kUnits),
                               [&](const auto& p) { return p.first == unit; });
  if (u == std::end(kUnits)) return bad("unknown unit '" + unit + "'");
  if (num.find('.') == std::string::npos) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || p != num.data() + num.size()) return bad("not a number");
    if (u->second > 0 && v > (~std::uint64_t{0} >> u->second)) return bad("too large");
    return v << u->second;
  }
  if (std::count(num.begin(), num.end(), '.') != 1) return bad("not a number");
  const double d = std::strtod(num.c_str(), nullptr);
  const double bytes = std::ldexp(d, static_cast<int>(u->second));
  if (!(bytes >= 0) || bytes >= 1.8e19) return bad("too large");
  return static_cast<std::uint64_t>(bytes);
}

namespace detail {
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "key value" lines (memory.stat).
std::optional<std::uint64_t> stat_value(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ')
      return to_u64(line.substr(key.size() + 1));
    pos = end + 1;
  }
  return std::nullopt;
}

std::string join(const std::string& root, std::string_view rel) {
  std::string r = root;
  while (!r.empty() && r.back() == '/') r.pop_back();
  if (rel.empty() || rel.front() != '/') r += '/';
  r += rel;
  return r;
}

// cgroup v1 reports "no limit" as a page-rounded LONG_MAX.
constexpr std::uint64_t kV1Unlimited = std::uint64_t{1} << 62;

}  // namespace

MemInfo parse_meminfo(std::string_view text) {
  MemInfo m;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::string_view rest = line.substr(colon + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::uint64_t mult = 1;
    if (rest.size() > 3 && rest.substr(rest.size() - 3) == " kB") {
      rest.remove_suffix(3);
      mult = 1024;
    }
    const auto v = to_u64(rest);
    if (!v) continue;
    const std::uint64_t b = *v * mult;
    if (key == "MemTotal") m.mem_total = b;
    else if (key == "MemAvailable") m.mem_available = b;
    else if (key == "SwapTotal") m.swap_total = b;
    else if (key == "SwapFree") m.swap_free = b;
  }
  return m;
}

std::pair<std::uint32_t, std::uint32_t> parse_cpuinfo(std::string_view text) {
  std::uint32_t logical = 0;
  std::set<std::pair<std::string, std::string>> cores;
  std::string phys, core;
  auto flush = [&] {
    if (!core.empty()) cores.emplace(phys, core);
    phys.clear();
    core.clear();
  };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) {
      flush();
      if (end == text.size()) break;
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.remove_suffix(1);
    std::string_view val = line.substr(colon + 1);
    while (!val.empty() && val.front() == ' ') val.remove_prefix(1);
    if (key == "processor") ++logical;
    else if (key == "physical id") phys = std::string(val);
    else if (key == "core id") core = std::string(val);
    if (end == text.size()) break;
  }
  flush();
  return {logical, static_cast<std::uint32_t>(cores.size())};
}

std::optional<std::vector<std::string>> parse_cuda_visible_devices(const char* value) {
  if (value == nullptr) return std::nullopt;
  std::vector<std::string> out;
  std::string_view s(value);
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t end = s.find(',', pos);
    if (end == std::string_view::npos) end = s.size();
    std::string_view tok = s.substr(pos, end - pos);
    while (!tok.empty() && std::isspace(static_cast<unsigned char>(tok.front()))) tok.remove_prefix(1);
    while (!tok.empty() && std::isspace(static_cast<unsigned char>(tok.back()))) tok.remove_suffix(1);
    // The CUDA runtime stops at the first invalid entry (e.g. "-1" hides everything after it).
    const bool is_index = !tok.empty() && std::all_of(tok.begin(), tok.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    const bool is_uuid = tok.size() > 4 && (tok.substr(0, 4) == "GPU-" || tok.substr(0, 4) == "MIG-");
    if (!is_index && !is_uuid) break;
    out.emplace_back(tok);
    if (end == s.size()) break;
    pos = end + 1;
  }
  return out;
}

std::vector<GpuInventory> visible_gpus(const std::vector<NvmlDevice>& all,
                                       const std::optional<std::vector<std::string>>& visible) {
  std::vector<GpuInventory> out;
  auto add = [&](const NvmlDevice& d) {
    GpuInventory g;
    g.index = static_cast<std::uint32_t>(out.size());
    g.name = d.name;
    g.total_bytes = d.total;
    g.free_bytes = d.free;
    g.source = "nvml";
    out.push_back(std::move(g));
  };
  if (!visible) {
    for (const NvmlDevice& d : all) add(d);
    return out;
  }
  std::set<std::size_t> used;
  for (const std::string& v : *visible) {
    std::optional<std::size_t> pick;
    if (std::isdigit(static_cast<unsigned char>(v.front()))) {
      const auto idx = to_u64(v);
      if (idx && *idx < all.size()) pick = static_cast<std::size_t>(*idx);
    } else {
      for (std::size_t i = 0; i < all.size(); ++i)
        if (all[i].uuid.compare(0, v.size(), v) == 0) { pick = i; break; }
    }
    if (!pick || used.count(*pick)) break;  // invalid or repeated: CUDA stops here
    used.insert(*pick);
    add(all[*pick]);
  }
  return out;
}

Result<HostInventory> probe_host(const std::string& root, std::vector<std::string>& notes) {
  HostInventory h;
  h.source = "detected";
  const auto meminfo = read_text(join(root, "/proc/meminfo"));
  if (!meminfo)
    return Error{Errc::kUnavailable, "cannot read " + join(root, "/proc/meminfo"), kNoOffset, {},
                 "describe the host instead: --ram SIZE"};
  const MemInfo mi = parse_meminfo(*meminfo);
  if (!mi.mem_total)
    return Error{Errc::kUnavailable, "no MemTotal in " + join(root, "/proc/meminfo"), kNoOffset,
                 "MemTotal", "describe the host instead: --ram SIZE"};
  h.mem_total = *mi.mem_total;
  h.mem_available = mi.mem_available;
  h.swap_total = mi.swap_total.value_or(0);
  h.swap_free = mi.swap_free.value_or(0);

  if (const auto cpu = read_text(join(root, "/proc/cpuinfo"))) {
    const auto [logical, physical] = parse_cpuinfo(*cpu);
    h.logical_cores = logical;
    h.physical_cores = physical;
  }
  if (h.logical_cores == 0 && root == "/") h.logical_cores = std::thread::hardware_concurrency();

  // cgroup: the process's own group (/proc/self/cgroup), else the namespace root.
  std::string v2_path, v1_mem, v1_cpu;
  bool v2 = false;
  if (const auto cg = read_text(join(root, "/proc/self/cgroup"))) {
    std::istringstream in(*cg);
    std::string line;
    while (std::getline(in, line)) {
      const std::size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      const std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (line.compare(0, a, "0") == 0 && ctrl.empty()) { v2 = true; v2_path = path; }
      std::istringstream cs(ctrl);
      std::string c;
      while (std::getline(cs, c, ',')) {
        if (c == "memory") v1_mem = path;
        if (c == "cpu") v1_cpu = path;
      }
    }
  }
  auto first_existing = [&](std::initializer_list<std::string> dirs, std::string_view file) {
    for (const std::string& d : dirs)
      if (auto t = read_text(join(d, file))) return std::optional<std::pair<std::string, std::string>>({d, *t});
    return std::optional<std::pair<std::string, std::string>>();
  };
  const std::string cg_root = join(root, "/sys/fs/cgroup");
  bool have_cgroup = false;
  if (v2 || !v1_mem.empty() || read_text(join(cg_root, "memory.max"))) {
    if (auto mx = first_existing({join(cg_root, v2_path), cg_root}, "memory.max")) {
      have_cgroup = true;
      const std::string& dir = mx->first;
      if (auto v = to_u64(mx->second)) h.cgroup_limit = *v;  // "max" = none
      if (auto cur = read_text(join(dir, "memory.current"))) {
        if (auto c = to_u64(*cur)) {
          std::uint64_t ws = *c;
          if (auto st = read_text(join(dir, "memory.stat")))
            if (auto inact = stat_value(*st, "inactive_file")) ws = ws > *inact ? ws - *inact : 0;
          h.cgroup_usage = ws;
        }
      }
      if (auto cpu = read_text(join(dir, "cpu.max"))) {
        std::istringstream in(*cpu);
        std::string quota, period;
        in >> quota >> period;
        const auto q = to_u64(quota), p = to_u64(period);
        if (q && p && *p > 0) h.cpu_quota = static_cast<double>(*q) / static_cast<double>(*p);
      }
    }
  }
  if (!have_cgroup) {
    const std::string mem_root = join(cg_root, "memory");
    if (auto lim = first_existing({join(mem_root, v1_mem), mem_root}, "memory.limit_in_bytes")) {
      have_cgroup = true;
      const std::string& dir = lim->first;
      if (auto v = to_u64(lim->second); v && *v < kV1Unlimited) h.cgroup_limit = *v;
      if (auto cur = read_text(join(dir, "memory.usage_in_bytes"))) {
        if (auto c = to_u64(*cur)) {
          std::uint64_t ws = *c;
          if (auto st = read_text(join(dir, "memory.stat")))
            if (auto inact = stat_value(*st, "total_inactive_file")) ws = ws > *inact ? ws - *inact : 0;
          h.cgroup_usage = ws;
        }
      }
    }
    for (const char* sub : {"cpu", "cpu,cpuacct"}) {
      const std::string cpu_root = join(cg_root, sub);
      if (auto q = first_existing({join(cpu_root, v1_cpu), cpu_root}, "cpu.cfs_quota_us")) {
        const std::string txt = q->second;
        if (txt.find('-') == std::string::npos) {
          const auto qv = to_u64(txt);
          const auto pt = read_text(join(q->first, "cpu.cfs_period_us"));
          const auto pv = pt ? to_u64(*pt) : std::nullopt;
          if (qv && pv && *pv > 0) h.cpu_quota = static_cast<double>(*qv) / static_cast<double>(*pv);
        }
        break;
      }
    }
  }
  if (!have_cgroup) notes.emplace_back("no cgroup memory controller found: using MemAvailable");
  return h;
}

// NVML through dlopen: the binary runs without a driver. Signatures from nvml.h (stable ABI).
Result<std::vector<NvmlDevice>> probe_nvml(const std::string& library) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr)
    return Error{Errc::kUnavailable, "NVML not found (" + library + "): no NVIDIA GPU detected",
                 kNoOffset, {}, "describe GPUs with --gpu SIZE or --target NAME"};
  using Ret = int;  // nvmlReturn_t, 0 = NVML_SUCCESS
  using Dev = void*;
  struct Mem { unsigned long long total, free, used; };  // nvmlMemory_t
  auto sym = [&](const char* n) { return dlsym(lib, n); };
  auto init = reinterpret_cast<Ret (*)()>(sym("nvmlInit_v2"));
  auto shutdown = reinterpret_cast<Ret (*)()>(sym("nvmlShutdown"));
  auto count = reinterpret_cast<Ret (*)(unsigned*)>(sym("nvmlDeviceGetCount_v2"));
  auto handle = reinterpret_cast<Ret (*)(unsigned, Dev*)>(sym("nvmlDeviceGetHandleByIndex_v2"));
  auto meminfo = reinterpret_cast<Ret (*)(Dev, Mem*)>(sym("nvmlDeviceGetMemoryInfo"));
  auto name = reinterpret_cast<Ret (*)(Dev, char*, unsigned)>(sym("nvmlDeviceGetName"));
  auto uuid = reinterpret_cast<Ret (*)(Dev, char*, unsigned)>(sym("nvmlDeviceGetUUID"));
  auto fail = [&](std::string what) {
    dlclose(lib);
    return Error{Errc::kUnavailable, "NVML: " + what, kNoOffset, {},
                 "check the NVIDIA driver (nvidia-smi), or describe GPUs with --gpu SIZE"};
  };
  if (!init || !shutdown || !count || !handle || !meminfo || !name || !uuid)
    return fail("missing symbols in " + library);
  if (init() != 0) return fail("nvmlInit_v2 failed");
  unsigned n = 0;
  std::vector<NvmlDevice> out;
  if (count(&n) != 0) {
    shutdown();
    return fail("nvmlDeviceGetCount_v2 failed");
  }
  for (unsigned i = 0; i < n; ++i) {
    Dev d = nullptr;
    if (handle(i, &d) != 0) continue;
    NvmlDevice nd;
    char buf[96] = {};
    if (name(d, buf, sizeof buf) == 0) nd.name = buf;
    char ub[96] = {};
    if (uuid(d, ub, sizeof ub) == 0) nd.uuid = ub;
    Mem m{};
    if (meminfo(d, &m) != 0) continue;
    nd.total = m.total;
    nd.free = m.free;
    out.push_back(std::move(nd));
  }
  shutdown();
  dlclose(lib);
  return out;
}

}  // namespace detail

Result<Inventory> detect_inventory(const InventoryProbeOptions& options) {
  try {
    Inventory inv;
    BITNET_ASSIGN_OR_RETURN(inv.host, detail::probe_host(options.root, inv.notes));
    if (options.probe_gpus) {
      auto all = detail::probe_nvml(options.nvml_library);
      if (!all) {
        inv.notes.push_back(all.error().message);
      } else {
        const char* env = options.cuda_visible_devices ? options.cuda_visible_devices->c_str()
                                                       : std::getenv("CUDA_VISIBLE_DEVICES");
        inv.gpus = detail::visible_gpus(*all, detail::parse_cuda_visible_devices(env));
        if (env != nullptr)
          inv.notes.push_back("CUDA_VISIBLE_DEVICES=" + std::string(env) + ": " +
                              std::to_string(inv.gpus.size()) + " of " + std::to_string(all->size()) +
                              " GPUs visible (NVML order; set CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA agrees)");
        if (all->empty()) inv.notes.emplace_back("NVML found no GPU");
      }
    }
    return inv;
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while probing devices", kNoOffset, {}, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error: ") + e.what(), kNoOffset, {}, {}};
  }
}

Result<Inventory> describe_inventory(const InventorySpec& spec, const Inventory* detected) {
  Inventory inv;
  if (detected != nullptr) inv = *detected;
  bool host_described = false;
  std::vector<GpuInventory> gpus;
  bool gpus_described = false;
  for (const std::string& name : spec.targets) {
    const DeviceTarget* t = find_device_target(name);
    if (t == nullptr) {
      std::string known;
      for (const DeviceTarget& r : device_catalog()) known += (known.empty() ? "" : ", ") + std::string(r.id);
      return Error{Errc::kInvalidArgument, "unknown --target '" + name + "'", kNoOffset, "--target",
                   "known targets: " + known};
    }
    gpus_described = true;
    for (std::uint32_t i = 0; i < t->n_gpus; ++i) {
      GpuInventory g;
      g.name = std::string(t->description);
      g.total_bytes = t->gpu_bytes;
      g.catalog_id = std::string(t->gpu_id);
      g.source = "catalog:" + std::string(t->id);
      gpus.push_back(std::move(g));
    }
    if (t->host_bytes != 0) {
      HostInventory h;
      h.mem_total = t->host_bytes;
      h.logical_cores = t->vcpus;
      h.physical_cores = t->vcpus / 2;  // cloud vCPUs are hyperthreads: two per core
      h.source = "catalog:" + std::string(t->id);
      inv.host = h;
      host_described = true;
    }
  }
  for (std::uint64_t b : spec.gpus) {
    GpuInventory g;
    g.name = "described GPU";
    g.total_bytes = b;
    g.source = "--gpu";
    gpus.push_back(std::move(g));
    gpus_described = true;
  }
  if (spec.ram) {
    const std::uint32_t lc = inv.host.logical_cores, pc = inv.host.physical_cores;
    inv.host = HostInventory{};
    inv.host.mem_total = *spec.ram;
    inv.host.logical_cores = lc;
    inv.host.physical_cores = pc;
    inv.host.source = "--ram";
    host_described = true;
  }
  if (gpus_described) {
    for (std::size_t i = 0; i < gpus.size(); ++i) gpus[i].index = static_cast<std::uint32_t>(i);
    inv.gpus = std::move(gpus);
  }
  if (!host_described && detected == nullptr)
    return Error{Errc::kInvalidArgument, "no host memory given", kNoOffset, "--ram",
                 "pass --ram SIZE, a --target instance, or let bitnet-mem detect this machine"};
  return inv;
}

}  // namespace bitnet
