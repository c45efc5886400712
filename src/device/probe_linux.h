// Linux host probes: memory (/proc/meminfo), the cgroup v1/v2 memory limit of this process, swap
// and usable cores. Parsers take text so that tests can feed them fixtures; probe_host() reads the
// real files under configurable roots.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bitnet/error.h"

namespace bitnet::detail {

struct MemInfo {
  std::uint64_t mem_total = 0;      // MemTotal
  std::uint64_t mem_available = 0;  // MemAvailable (free + reclaimable page cache)
  std::uint64_t swap_total = 0;
  std::uint64_t swap_free = 0;
};
// /proc/meminfo text -> bytes. kMalformed when MemTotal or MemAvailable is missing.
Result<MemInfo> parse_meminfo(std::string_view text);

enum class CgroupVersion : std::uint8_t { kNone, kV1, kV2 };

// The memory cgroup this process belongs to, from /proc/self/cgroup text: the v2 line "0::/path"
// or the v1 line whose controller list contains "memory".
struct CgroupMembership {
  CgroupVersion version = CgroupVersion::kNone;
  std::string path;  // relative to the hierarchy's mount point, starting with '/'
};
CgroupMembership parse_proc_self_cgroup(std::string_view text);

// A limit file's content: v2 "max" or a number; v1 numbers at or above 2^62 mean "no limit".
std::optional<std::uint64_t> parse_cgroup_limit(std::string_view text);

struct CgroupMemory {
  CgroupVersion version = CgroupVersion::kNone;
  std::string dir;                        // the directory whose limit is the tightest
  std::optional<std::uint64_t> limit;     // the tightest limit on the way to the root
  std::optional<std::uint64_t> usage;     // charged to this process's cgroup now
};

struct ProbePaths {
  std::string proc = "/proc";
  std::string cgroup_root = "/sys/fs/cgroup";
};

// Reads the cgroup of this process and every ancestor up to the mount point; the limit is the
// smallest one found. A missing hierarchy gives version kNone (no limit), not an error.
CgroupMemory probe_cgroup_memory(const ProbePaths& paths = {});

struct HostMemory {
  MemInfo meminfo;
  CgroupMemory cgroup;
  std::uint32_t cores = 0;  // CPUs this process may run on (affinity mask)

  // What this process can still get: MemAvailable, capped by the cgroup headroom (limit - usage).
  std::uint64_t available() const noexcept;
  // Where the binding number came from: "MemAvailable" or "cgroup v1 limit" / "cgroup v2 limit".
  std::string available_source() const;
};

Result<HostMemory> probe_host(const ProbePaths& paths = {});

// Reads a whole (small, /proc-like) file; kIo when it cannot be opened.
Result<std::string> read_text_file(const std::string& path);

}  // namespace bitnet::detail
