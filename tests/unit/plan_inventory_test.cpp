// Inventory: host probe over fake /proc and cgroup trees, NVML absence, CUDA_VISIBLE_DEVICES,
// sizes, the catalog and described hardware.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "bitnet/plan.h"
#include "plan/probe.h"

namespace fs = std::filesystem;
using namespace bitnet;

namespace {

constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * 1024, kGiB = std::uint64_t{1} << 30;

class FakeRoot {
 public:
  FakeRoot() {
    root_ = fs::temp_directory_path() /
            ("bitnet-plan-root-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeRoot() { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    const fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string path() const { return root_.string(); }

 private:
  fs::path root_;
};

const char* kMeminfo =
    "MemTotal:       65536000 kB\n"
    "MemFree:         1000000 kB\n"
    "MemAvailable:   40000000 kB\n"
    "SwapTotal:       2097148 kB\n"
    "SwapFree:        1048576 kB\n";

// Two packages, two cores each, two threads per core: 8 logical, 4 physical.
std::string cpuinfo() {
  std::string s;
  int proc = 0;
  for (int pkg = 0; pkg < 2; ++pkg)
    for (int core = 0; core < 2; ++core)
      for (int ht = 0; ht < 2; ++ht)
        s += "processor\t: " + std::to_string(proc++) + "\nphysical id\t: " + std::to_string(pkg) +
             "\ncore id\t\t: " + std::to_string(core) + "\n\n";
  return s;
}

}  // namespace

TEST(PlanInventory, CpuinfoPhysicalCores) {
  const auto [logical, physical] = detail::parse_cpuinfo(cpuinfo());
  EXPECT_EQ(logical, 8u);
  EXPECT_EQ(physical, 4u);
}

TEST(PlanInventory, HostWithoutCgroupUsesMemAvailable) {
  FakeRoot r;
  r.write("proc/meminfo", kMeminfo);
  r.write("proc/cpuinfo", cpuinfo());
  InventoryProbeOptions o;
  o.root = r.path();
  o.probe_gpus = false;
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_EQ(inv->host.mem_total, 65536000 * kKiB);
  EXPECT_FALSE(inv->host.cgroup_limit);
  EXPECT_EQ(inv->host.usable_bytes(), 40000000 * kKiB);
  // 4 physical cores in the fake cpuinfo, capped by the CPUs this process may run on (affinity).
  EXPECT_EQ(inv->host.recommended_threads(), std::min(4u, inv->host.logical_cores));
  EXPECT_TRUE(inv->gpus.empty());
}

TEST(PlanInventory, CgroupV2LimitCapsTheBudget) {
  FakeRoot r;
  r.write("proc/meminfo", kMeminfo);
  r.write("proc/cpuinfo", cpuinfo());
  r.write("proc/self/cgroup", "0::/kubepods/pod1\n");
  // 8 GiB limit, 3 GiB charged: 5 GiB of headroom (page cache counts: it is charged).
  r.write("sys/fs/cgroup/kubepods/pod1/memory.max", std::to_string(8 * kGiB) + "\n");
  r.write("sys/fs/cgroup/kubepods/pod1/memory.current", std::to_string(3 * kGiB) + "\n");
  r.write("sys/fs/cgroup/kubepods/pod1/cpu.max", "250000 100000\n");  // 2.5 cores
  InventoryProbeOptions o;
  o.root = r.path();
  o.probe_gpus = false;
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_EQ(inv->host.cgroup_limit, 8 * kGiB);
  EXPECT_EQ(inv->host.cgroup_usage, 3 * kGiB);
  EXPECT_EQ(inv->host.usable_bytes(), 5 * kGiB);
  ASSERT_TRUE(inv->host.cpu_quota);
  EXPECT_DOUBLE_EQ(*inv->host.cpu_quota, 2.5);
  EXPECT_EQ(inv->host.recommended_threads(), std::min(2u, inv->host.logical_cores));
}

TEST(PlanInventory, CgroupV2UnlimitedAndNamespaceRoot) {
  FakeRoot r;
  r.write("proc/meminfo", kMeminfo);
  r.write("proc/self/cgroup", "0::/\n");
  r.write("sys/fs/cgroup/memory.max", "max\n");
  r.write("sys/fs/cgroup/cpu.max", "max 100000\n");
  InventoryProbeOptions o;
  o.root = r.path();
  o.probe_gpus = false;
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_FALSE(inv->host.cgroup_limit);
  EXPECT_FALSE(inv->host.cpu_quota);
  EXPECT_EQ(inv->host.usable_bytes(), 40000000 * kKiB);
}

TEST(PlanInventory, CgroupV1LimitAndQuota) {
  FakeRoot r;
  r.write("proc/meminfo", kMeminfo);
  r.write("proc/cpuinfo", cpuinfo());
  r.write("proc/self/cgroup", "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n");
  r.write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", std::to_string(4 * kGiB) + "\n");
  r.write("sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", std::to_string(kGiB) + "\n");
  r.write("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "100000\n");
  r.write("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  InventoryProbeOptions o;
  o.root = r.path();
  o.probe_gpus = false;
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_EQ(inv->host.cgroup_limit, 4 * kGiB);
  EXPECT_EQ(inv->host.usable_bytes(), 3 * kGiB);
  EXPECT_EQ(inv->host.recommended_threads(), 1u);
}

TEST(PlanInventory, CgroupV1UnlimitedIsNoLimit) {
  FakeRoot r;
  r.write("proc/meminfo", kMeminfo);
  r.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  InventoryProbeOptions o;
  o.root = r.path();
  o.probe_gpus = false;
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_FALSE(inv->host.cgroup_limit);
}

TEST(PlanInventory, MissingMeminfoIsAClearError) {
  FakeRoot r;
  InventoryProbeOptions o;
  o.root = r.path();
  o.probe_gpus = false;
  auto inv = detect_inventory(o);
  ASSERT_FALSE(inv);
  EXPECT_EQ(inv.error().code, Errc::kIo);
  EXPECT_NE(inv.error().hint.find("--ram"), std::string::npos);
}

TEST(PlanInventory, NoNvmlIsNormal) {
  FakeRoot r;
  r.write("proc/meminfo", kMeminfo);
  InventoryProbeOptions o;
  o.root = r.path();
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  if (!inv->gpus.empty()) GTEST_SKIP() << "this machine has a GPU and NVML";
  bool noted = false;
  for (const auto& n : inv->notes) noted |= n.find("NVML not found") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(PlanInventory, RealMachineProbeWorks) {
  auto inv = detect_inventory();  // this machine; GPUs only if NVML is present
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_GT(inv->host.mem_total, 64 * kMiB);
  EXPECT_LE(inv->host.usable_bytes(), inv->host.mem_total);
}

// Label gpu in spirit: runs only where NVML sees a GPU (CI has none), and checks what it reports.
TEST(PlanInventory, DetectedGpusAreSane) {
  InventoryProbeOptions o;
  o.cuda_visible_devices.reset();
  auto inv = detect_inventory(o);
  ASSERT_TRUE(inv) << inv.error().to_string();
  if (inv->gpus.empty()) GTEST_SKIP() << "no GPU visible through NVML";
  for (std::size_t i = 0; i < inv->gpus.size(); ++i) {
    const GpuInventory& g = inv->gpus[i];
    EXPECT_EQ(g.index, i);
    EXPECT_FALSE(g.name.empty());
    EXPECT_GE(g.total_bytes, std::uint64_t{1} << 30);
    ASSERT_TRUE(g.free_bytes);
    EXPECT_LE(*g.free_bytes, g.total_bytes);
  }
}

TEST(PlanInventory, CudaVisibleDevices) {
  EXPECT_FALSE(detail::parse_cuda_visible_devices(nullptr));
  EXPECT_TRUE(detail::parse_cuda_visible_devices("")->empty());
  EXPECT_EQ(*detail::parse_cuda_visible_devices("2,0"), (std::vector<std::string>{"2", "0"}));
  // CUDA stops at the first invalid entry.
  EXPECT_EQ(*detail::parse_cuda_visible_devices("1,-1,0"), (std::vector<std::string>{"1"}));
  EXPECT_TRUE(detail::parse_cuda_visible_devices("-1")->empty());

  const std::vector<detail::NvmlDevice> all = {
      {"GPU A", "GPU-aaaa1111", 24 * kGiB, 20 * kGiB},
      {"GPU B", "GPU-bbbb2222", 16 * kGiB, 15 * kGiB},
      {"GPU C", "GPU-cccc3333", 80 * kGiB, 79 * kGiB},
  };
  auto all_visible = detail::visible_gpus(all, std::nullopt);
  ASSERT_EQ(all_visible.size(), 3u);
  EXPECT_EQ(all_visible[2].index, 2u);

  auto v = detail::visible_gpus(all, detail::parse_cuda_visible_devices("2,0"));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].name, "GPU C");  // renumbered: cuda:0 is NVML device 2
  EXPECT_EQ(v[0].index, 0u);
  EXPECT_EQ(v[0].free_bytes, 79 * kGiB);
  EXPECT_EQ(v[1].name, "GPU A");

  auto u = detail::visible_gpus(all, detail::parse_cuda_visible_devices("GPU-bbbb"));
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].name, "GPU B");
  // An index past the device count hides it and the rest.
  EXPECT_TRUE(detail::visible_gpus(all, detail::parse_cuda_visible_devices("7,0")).empty());
}

TEST(PlanInventory, ParseSize) {
  EXPECT_EQ(*parse_size("32GiB"), 32 * kGiB);
  EXPECT_EQ(*parse_size("24G"), 24 * kGiB);
  EXPECT_EQ(*parse_size("24gb"), 24 * kGiB);
  EXPECT_EQ(*parse_size("512MiB"), 512 * kMiB);
  EXPECT_EQ(*parse_size("1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(*parse_size("1048576"), kMiB);
  EXPECT_EQ(*parse_size(" 2 TiB "), 2048 * kGiB);
  for (const char* bad : {"", "GiB", "12XB", "1.2.3G", "-5G", "99999999999999999999G"}) {
    auto r = parse_size(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    }
  }
}

TEST(PlanInventory, CatalogRowsAreConsistent) {
  std::set<std::string> ids;
  bool have_required = true;
  for (const char* id : {"h100-80g", "rtx-4090", "l4", "a10g", "t4", "g5.xlarge", "p5.48xlarge"})
    have_required &= find_device_target(id) != nullptr;
  EXPECT_TRUE(have_required);
  for (const DeviceTarget& t : device_catalog()) {
    EXPECT_TRUE(ids.insert(std::string(t.id)).second) << "duplicate " << t.id;
    EXPECT_FALSE(t.source.empty()) << t.id;
    if (t.n_gpus > 0) {
      const DeviceTarget* gpu = find_device_target(t.gpu_id);
      ASSERT_NE(gpu, nullptr) << t.id << " names an unknown GPU " << t.gpu_id;
      EXPECT_EQ(gpu->gpu_bytes, t.gpu_bytes) << t.id;
      EXPECT_EQ(gpu->n_gpus, 1u);
      EXPECT_GE(t.gpu_bytes, 8 * kGiB) << t.id;
    } else {
      EXPECT_GT(t.host_bytes, 0u) << t.id;
    }
  }
  EXPECT_EQ(find_device_target("RTX-4090"), find_device_target("rtx-4090"));
  EXPECT_EQ(find_device_target("no-such-gpu"), nullptr);
  // The H100 row's overheads are the engine's measured row; an unknown GPU gets the default one.
  const GpuOverheadInfo h100 = gpu_overhead_info(find_device_target("h100-80g")->description);
  EXPECT_EQ(h100.cuda_context, 552402944u);  // ../groundtruth: measured.device_memory.cuda_context
  EXPECT_EQ(h100.basis, Basis::kCalibrated);
  EXPECT_EQ(gpu_overhead_info("described GPU").basis, Basis::kHeuristic);
}

TEST(PlanInventory, DescribedHardware) {
  InventorySpec s;
  s.ram = 32 * kGiB;
  s.gpus = {24 * kGiB, 16 * kGiB};
  auto inv = describe_inventory(s, nullptr);
  ASSERT_TRUE(inv) << inv.error().to_string();
  EXPECT_EQ(inv->host.usable_bytes(), 32 * kGiB);
  ASSERT_EQ(inv->gpus.size(), 2u);
  EXPECT_EQ(inv->gpus[1].index, 1u);
  EXPECT_EQ(inv->gpus[1].usable_bytes(), 16 * kGiB);

  InventorySpec t;
  t.targets = {"g5.12xlarge"};
  auto inst = describe_inventory(t, nullptr);
  ASSERT_TRUE(inst) << inst.error().to_string();
  EXPECT_EQ(inst->gpus.size(), 4u);
  EXPECT_EQ(inst->host.mem_total, 192 * kGiB);
  EXPECT_EQ(inst->gpus[3].catalog_id, "a10g");

  InventorySpec g;
  g.targets = {"rtx-4090"};
  EXPECT_FALSE(describe_inventory(g, nullptr));  // a bare GPU has no host: --ram is needed
  g.ram = 64 * kGiB;
  auto gpu = describe_inventory(g, nullptr);
  ASSERT_TRUE(gpu);
  ASSERT_EQ(gpu->gpus.size(), 1u);
  EXPECT_EQ(gpu->gpus[0].total_bytes, 24564 * kMiB);

  InventorySpec bad;
  bad.targets = {"tpu-v5"};
  auto b = describe_inventory(bad, nullptr);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().hint.find("h100-80g"), std::string::npos);
}
