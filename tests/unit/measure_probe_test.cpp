// /proc and cgroup probes: parsers on fixtures (expected values by hand), and real measurements of
// this process against allocations whose size the test chooses.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "bitnet/measure.h"
#include "device/nvml.h"
#include "device/probe_linux.h"
#include "measure/proc_status.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

TEST(MeasureProbe, ParsesMeminfo) {
  const char* text =
      "MemTotal:       24683656 kB\nMemFree:        20000000 kB\nMemAvailable:   24385160 kB\n"
      "Buffers:          100 kB\nSwapTotal:       2097148 kB\nSwapFree:        1048576 kB\n";
  const auto m = parse_meminfo(text);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->mem_total, 24683656ull * 1024);
  EXPECT_EQ(m->mem_available, 24385160ull * 1024);
  EXPECT_EQ(m->swap_total, 2097148ull * 1024);
  EXPECT_EQ(m->swap_free, 1048576ull * 1024);
}

TEST(MeasureProbe, MeminfoWithoutMemAvailableIsAnError) {
  const auto m = parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\n");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kMalformed);
  EXPECT_EQ(m.error().field, "MemAvailable");
}

TEST(MeasureProbe, ParsesProcSelfCgroup) {
  const auto v2 = parse_proc_self_cgroup("0::/user.slice/app.scope\n");
  EXPECT_EQ(v2.version, CgroupVersion::kV2);
  EXPECT_EQ(v2.path, "/user.slice/app.scope");
  const auto v1 = parse_proc_self_cgroup("5:devices:/\n4:cpu,memory:/process_api/abc\n0::/\n");
  EXPECT_EQ(v1.version, CgroupVersion::kV1);
  EXPECT_EQ(v1.path, "/process_api/abc");
  EXPECT_EQ(parse_proc_self_cgroup("").version, CgroupVersion::kNone);
}

TEST(MeasureProbe, CgroupLimitValues) {
  EXPECT_FALSE(parse_cgroup_limit("max\n"));
  EXPECT_FALSE(parse_cgroup_limit("9223372036854771712\n"));  // v1 "unlimited"
  EXPECT_EQ(parse_cgroup_limit("1073741824\n"), std::optional<std::uint64_t>(1ull << 30));
  EXPECT_FALSE(parse_cgroup_limit("garbage"));
}

struct FakeRoot {
  std::filesystem::path dir;
  FakeRoot() {
    char tmpl[] = "/tmp/bitnet_probe_XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~FakeRoot() { std::filesystem::remove_all(dir); }
  void write(const std::string& rel, const std::string& text) const {
    const auto p = dir / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  ProbePaths paths() const { return {(dir / "proc").string(), (dir / "cg").string()}; }
};

TEST(MeasureProbe, CgroupV2TightestAncestorLimitWins) {
  FakeRoot r;
  r.write("proc/self/cgroup", "0::/a/b\n");
  r.write("cg/memory.max", "max\n");
  r.write("cg/a/memory.max", "2147483648\n");  // 2 GiB on the parent
  r.write("cg/a/b/memory.max", "max\n");
  r.write("cg/a/b/memory.current", "536870912\n");
  const CgroupMemory c = probe_cgroup_memory(r.paths());
  EXPECT_EQ(c.version, CgroupVersion::kV2);
  EXPECT_EQ(c.limit, std::optional<std::uint64_t>(2ull << 30));
  EXPECT_EQ(c.usage, std::optional<std::uint64_t>(512ull * kMiB));
  EXPECT_EQ(c.dir, (r.dir / "cg/a").string());
}

TEST(MeasureProbe, CgroupV1InsideANamespaceFallsBackToTheMount) {
  FakeRoot r;
  r.write("proc/self/cgroup", "4:memory:/docker/xyz\n");
  // The container sees its own cgroup at the mount point; /docker/xyz does not exist inside.
  r.write("cg/memory/memory.limit_in_bytes", "1073741824\n");
  r.write("cg/memory/memory.usage_in_bytes", "104857600\n");
  const CgroupMemory c = probe_cgroup_memory(r.paths());
  EXPECT_EQ(c.version, CgroupVersion::kV1);
  EXPECT_EQ(c.limit, std::optional<std::uint64_t>(1ull << 30));
  EXPECT_EQ(c.usage, std::optional<std::uint64_t>(100 * kMiB));
}

TEST(MeasureProbe, AvailableIsCappedByCgroupHeadroom) {
  HostMemory h;
  h.meminfo.mem_available = 8ull << 30;
  EXPECT_EQ(h.available(), 8ull << 30);
  EXPECT_EQ(h.available_source(), "MemAvailable in /proc/meminfo");
  h.cgroup.version = CgroupVersion::kV2;
  h.cgroup.limit = 3ull << 30;
  h.cgroup.usage = 1ull << 30;
  h.cgroup.dir = "/sys/fs/cgroup/x";
  EXPECT_EQ(h.available(), 2ull << 30);
  EXPECT_NE(h.available_source().find("cgroup v2"), std::string::npos);
}

TEST(MeasureProbe, ProbesThisHost) {
  const auto h = probe_host();
  ASSERT_TRUE(h) << h.error().to_string();
  EXPECT_GE(h->meminfo.mem_total, h->meminfo.mem_available);
  EXPECT_GE(h->cores, 1u);
  EXPECT_EQ(static_cast<long>(h->cores) <= ::sysconf(_SC_NPROCESSORS_CONF), true);
}

TEST(MeasureProbe, ParsesProcStatusAndSmapsRollup) {
  const char* status =
      "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\n"
      "RssFile:\t    6000 kB\nRssShmem:\t     144 kB\n";
  const auto m = parse_proc_status(status);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rss_bytes, 10240ull * 1024);
  EXPECT_EQ(m->hwm_bytes, 20480ull * 1024);
  EXPECT_EQ(m->rss_anon_bytes, 4096ull * 1024);
  EXPECT_EQ(m->rss_file_bytes, 6000ull * 1024);
  EXPECT_EQ(m->rss_shmem_bytes, 144ull * 1024);
  EXPECT_EQ(parse_smaps_rollup_pss("Rss:  100 kB\nPss:  77 kB\nPss_Anon: 5 kB\n"),
            std::optional<std::uint64_t>(77ull * 1024));
  EXPECT_FALSE(parse_proc_status("Name:\tx\n"));
}

// A real measurement: touching N MiB of fresh anonymous memory grows RssAnon by N MiB.
TEST(MeasureProbe, RssAnonGrowsByWhatIsTouched) {
  constexpr std::uint64_t n = 64 * kMiB;
  const auto before = read_self_status();
  ASSERT_TRUE(before);
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  for (std::uint64_t i = 0; i < n; i += 4096) static_cast<volatile char*>(p)[i] = 1;
  const auto after = read_self_status();
  ASSERT_TRUE(after);
  const double grew = static_cast<double>(after->rss_anon_bytes - before->rss_anon_bytes);
  EXPECT_NEAR(grew, static_cast<double>(n), 0.02 * static_cast<double>(n));
  ::munmap(p, n);
  // The peak keeps it; resetting the peak drops it to the current RSS.
  const auto freed = read_self_status();
  ASSERT_TRUE(freed);
  EXPECT_GE(freed->hwm_bytes, freed->rss_bytes + n - 2 * kMiB);
  if (reset_peak_rss()) {
    const auto reset = read_self_status();
    ASSERT_TRUE(reset);
    EXPECT_LT(reset->hwm_bytes, reset->rss_bytes + 2 * kMiB);
  }
}

TEST(MeasureProbe, MeasureProcessMemoryHasPssAndGpuOnlyWithAGpu) {
  const auto m = measure_process_memory();
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_GT(m->rss_bytes, 0u);
  EXPECT_LE(m->rss_anon_bytes + m->rss_file_bytes + m->rss_shmem_bytes, m->rss_bytes + 64 * 1024);
  if (std::filesystem::exists("/proc/self/smaps_rollup")) {
    ASSERT_TRUE(m->pss_bytes.has_value());
    EXPECT_LE(*m->pss_bytes, m->rss_bytes + 64 * 1024);
  }
  EXPECT_EQ(m->gpu_bytes.has_value(), probe_gpus().has_value());
}

}  // namespace
}  // namespace bitnet::detail
