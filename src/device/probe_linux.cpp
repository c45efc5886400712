#include "device/probe_linux.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace bitnet::detail {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  s = trim(s);
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Calls f(line) for each line of text.
template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// v1 reports "no limit" as LONG_MAX rounded down to the page size (9223372036854771712).
constexpr std::uint64_t kV1Unlimited = std::uint64_t{1} << 62;

struct CgroupFiles {
  std::string_view limit, usage;
};
// clang-format off
constexpr std::pair<CgroupVersion, CgroupFiles> kCgroupFiles[] = {
  {CgroupVersion::kV1, {"memory.limit_in_bytes", "memory.usage_in_bytes"}},
  {CgroupVersion::kV2, {"memory.max",            "memory.current"}},
};
// clang-format on

const CgroupFiles* files_for(CgroupVersion v) {
  for (const auto& [ver, f] : kCgroupFiles)
    if (ver == v) return &f;
  return nullptr;
}

std::optional<std::string> read_opt(const std::string& path) {
  auto r = read_text_file(path);
  if (!r) return std::nullopt;
  return std::move(r).value();
}

}  // namespace

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    return Error{Errc::kIo, "cannot read " + path + ": " + std::strerror(e), kNoOffset, path, {}};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<MemInfo> parse_meminfo(std::string_view text) {
  // Each line: "Key:   12345 kB".
  struct Row {
    std::string_view key;
    std::uint64_t MemInfo::*field;
    bool required;
  };
  // clang-format off
  static constexpr Row kRows[] = {
    {"MemTotal",     &MemInfo::mem_total,     true},
    {"MemAvailable", &MemInfo::mem_available, true},
    {"SwapTotal",    &MemInfo::swap_total,    false},
    {"SwapFree",     &MemInfo::swap_free,     false},
  };
  // clang-format on
  MemInfo m;
  bool seen[std::size(kRows)] = {};
  for_each_line(text, [&](std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string_view key = line.substr(0, colon);
    std::string_view rest = trim(line.substr(colon + 1));
    std::uint64_t unit = 1;
    if (rest.size() > 3 && rest.substr(rest.size() - 3) == " kB") {
      unit = 1024;
      rest.remove_suffix(3);
    }
    for (std::size_t i = 0; i < std::size(kRows); ++i) {
      if (kRows[i].key != key) continue;
      if (const auto v = parse_u64(rest)) {
        m.*(kRows[i].field) = *v * unit;
        seen[i] = true;
      }
    }
  });
  for (std::size_t i = 0; i < std::size(kRows); ++i) {
    if (kRows[i].required && !seen[i])
      return Error{Errc::kMalformed, "/proc/meminfo has no " + std::string(kRows[i].key) + " line",
                   kNoOffset, std::string(kRows[i].key), "a Linux kernel >= 3.14 is needed"};
  }
  return m;
}

CgroupMembership parse_proc_self_cgroup(std::string_view text) {
  CgroupMembership v1, v2;
  for_each_line(text, [&](std::string_view line) {
    // "hierarchy-id:controller-list:path"
    const std::size_t a = line.find(':');
    if (a == std::string_view::npos) return;
    const std::size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) return;
    const std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    const std::string path(trim(line.substr(b + 1)));
    if (id == "0" && controllers.empty()) {
      v2 = {CgroupVersion::kV2, path};
      return;
    }
    std::string_view c = controllers;
    while (!c.empty()) {
      const std::size_t comma = c.find(',');
      if (c.substr(0, comma) == "memory") v1 = {CgroupVersion::kV1, path};
      if (comma == std::string_view::npos) break;
      c.remove_prefix(comma + 1);
    }
  });
  // A v1 memory controller wins over the v2 line of a hybrid setup (the v2 tree has no memory
  // controller then).
  return v1.version != CgroupVersion::kNone ? v1 : v2;
}

std::optional<std::uint64_t> parse_cgroup_limit(std::string_view text) {
  text = trim(text);
  if (text == "max") return std::nullopt;
  const auto v = parse_u64(text);
  if (!v || *v >= kV1Unlimited) return std::nullopt;
  return v;
}

CgroupMemory probe_cgroup_memory(const ProbePaths& paths) {
  CgroupMemory out;
  const auto self = read_opt(paths.proc + "/self/cgroup");
  if (!self) return out;
  const CgroupMembership m = parse_proc_self_cgroup(*self);
  const CgroupFiles* files = files_for(m.version);
  if (files == nullptr) return out;
  const std::string mount = paths.cgroup_root + (m.version == CgroupVersion::kV1 ? "/memory" : "");
  // The process's directory; inside a container the mount may already be the process's cgroup
  // (a cgroup namespace), so fall back to the mount point itself.
  std::string rel = m.path == "/" ? std::string() : m.path;
  if (!rel.empty() && !read_opt(mount + rel + "/" + std::string(files->limit))) rel.clear();
  out.version = m.version;
  out.dir = mount + rel;
  if (const auto u = read_opt(out.dir + "/" + std::string(files->usage))) out.usage = parse_cgroup_limit(*u);
  // Walk up: a parent's limit binds the child as well.
  std::string dir = rel;
  while (true) {
    if (const auto t = read_opt(mount + dir + "/" + std::string(files->limit))) {
      if (const auto lim = parse_cgroup_limit(*t); lim && (!out.limit || *lim < *out.limit)) {
        out.limit = lim;
        out.dir = mount + dir;
      }
    }
    if (dir.empty()) break;
    const std::size_t slash = dir.rfind('/');
    dir = slash == std::string::npos ? std::string() : dir.substr(0, slash);
  }
  return out;
}

std::uint64_t HostMemory::available() const noexcept {
  std::uint64_t a = meminfo.mem_available;
  if (cgroup.limit) {
    const std::uint64_t used = cgroup.usage.value_or(0);
    const std::uint64_t headroom = *cgroup.limit > used ? *cgroup.limit - used : 0;
    if (headroom < a) a = headroom;
  }
  return a;
}

std::string HostMemory::available_source() const {
  if (cgroup.limit) {
    const std::uint64_t used = cgroup.usage.value_or(0);
    const std::uint64_t headroom = *cgroup.limit > used ? *cgroup.limit - used : 0;
    if (headroom < meminfo.mem_available)
      return std::string(cgroup.version == CgroupVersion::kV1 ? "cgroup v1" : "cgroup v2") +
             " memory limit of " + cgroup.dir;
  }
  return "MemAvailable in /proc/meminfo";
}

Result<HostMemory> probe_host(const ProbePaths& paths) {
  HostMemory h;
  BITNET_ASSIGN_OR_RETURN(const std::string mi, read_text_file(paths.proc + "/meminfo"));
  BITNET_ASSIGN_OR_RETURN(h.meminfo, parse_meminfo(mi));
  h.cgroup = probe_cgroup_memory(paths);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    h.cores = static_cast<std::uint32_t>(CPU_COUNT(&set));
  } else {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    h.cores = n > 0 ? static_cast<std::uint32_t>(n) : 1;
  }
  return h;
}

}  // namespace bitnet::detail
