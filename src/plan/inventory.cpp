// Device inventory: Linux host probe (/proc/meminfo, /proc/cpuinfo, cgroup v1/v2), NVML through
// dlopen (no link-time dependency: a machine without a GPU or a driver is a normal case), sizes,
// described hardware and catalog targets.
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
#include "device/nvml.h"
#include "device/probe_linux.h"
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

std::string join(const std::string& root, std::string_view rel) {
  std::string r = root;
  while (!r.empty() && r.back() == '/') r.pop_back();
  if (rel.empty() || rel.front() != '/') r += '/';
  r += rel;
  return r;
}

}  // namespace


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

std::optional<double> probe_cpu_quota(const std::string& root) {
  const std::string cg_root = join(root, "/sys/fs/cgroup");
  std::string v2_path, v1_cpu;
  if (const auto cg = read_text(join(root, "/proc/self/cgroup"))) {
    std::istringstream in(*cg);
    std::string line;
    while (std::getline(in, line)) {
      const std::size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      const std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (line.compare(0, a, "0") == 0 && ctrl.empty()) v2_path = path;
      std::istringstream cs(ctrl);
      std::string c;
      while (std::getline(cs, c, ','))
        if (c == "cpu") v1_cpu = path;
    }
  }
  auto ratio = [](std::optional<std::uint64_t> q, std::optional<std::uint64_t> p) -> std::optional<double> {
    if (!q || !p || *p == 0) return std::nullopt;
    return static_cast<double>(*q) / static_cast<double>(*p);
  };
  // v2: "max 100000" (none) or "250000 100000" (2.5 cores); the namespace root as a fallback.
  for (const std::string& dir : {join(cg_root, v2_path), cg_root}) {
    if (const auto t = read_text(join(dir, "cpu.max"))) {
      std::istringstream in(*t);
      std::string quota, period;
      in >> quota >> period;
      return ratio(to_u64(quota), to_u64(period));
    }
  }
  // v1: cfs_quota_us is -1 without a quota.
  for (const char* sub : {"cpu,cpuacct", "cpu"}) {
    const std::string base = join(cg_root, sub);
    for (const std::string& dir : {join(base, v1_cpu), base}) {
      const auto q = read_text(join(dir, "cpu.cfs_quota_us"));
      if (!q) continue;
      const auto p = read_text(join(dir, "cpu.cfs_period_us"));
      return ratio(to_u64(*q), p ? to_u64(*p) : std::nullopt);
    }
  }
  return std::nullopt;
}

}  // namespace detail

Result<Inventory> detect_inventory(const InventoryProbeOptions& options) {
  try {
    Inventory inv;
    // Memory, swap, cgroup limit and usable cores: the loader's probe (src/device/probe_linux).
    detail::ProbePaths paths;
    paths.proc = detail::join(options.root, "/proc");
    paths.cgroup_root = detail::join(options.root, "/sys/fs/cgroup");
    auto host = detail::probe_host(paths);
    if (!host) {
      Error e = std::move(host).error();
      if (e.hint.empty()) e.hint = "describe the host instead: --ram SIZE";
      return e;
    }
    HostInventory& h = inv.host;
    h.source = "detected";
    h.mem_total = host->meminfo.mem_total;
    h.mem_available = host->meminfo.mem_available;
    h.swap_total = host->meminfo.swap_total;
    h.swap_free = host->meminfo.swap_free;
    h.cgroup_limit = host->cgroup.limit;
    h.cgroup_usage = host->cgroup.usage;
    h.logical_cores = host->cores;
    if (const auto cpu = detail::read_text(detail::join(options.root, "/proc/cpuinfo"))) {
      const auto [logical, physical] = detail::parse_cpuinfo(*cpu);
      h.physical_cores = std::min(physical, h.logical_cores == 0 ? physical : h.logical_cores);
      if (h.logical_cores == 0) h.logical_cores = logical;
    }
    h.cpu_quota = detail::probe_cpu_quota(options.root);
    if (host->cgroup.version == detail::CgroupVersion::kNone)
      inv.notes.emplace_back("no cgroup memory controller found: the budget is MemAvailable");
    else
      inv.notes.push_back("host budget from " + host->available_source());

    if (options.probe_gpus) {
      const auto all = detail::probe_gpus();  // NVML via dlopen (src/device/nvml)
      if (!all) {
        inv.notes.emplace_back("NVML not found or no GPU: planning without GPUs (describe them with --gpu SIZE or --target NAME)");
      } else {
        std::vector<detail::NvmlDevice> devs;
        for (const detail::GpuMemory& g : *all)
          devs.push_back({g.name, {}, g.total, g.total > g.used ? g.total - g.used : 0});
        const char* env = options.cuda_visible_devices ? options.cuda_visible_devices->c_str()
                                                       : std::getenv("CUDA_VISIBLE_DEVICES");
        inv.gpus = detail::visible_gpus(devs, detail::parse_cuda_visible_devices(env));
        if (env != nullptr)
          inv.notes.push_back("CUDA_VISIBLE_DEVICES=" + std::string(env) + ": " +
                              std::to_string(inv.gpus.size()) + " of " + std::to_string(devs.size()) +
                              " GPUs visible (NVML order; set CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA agrees)");
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
