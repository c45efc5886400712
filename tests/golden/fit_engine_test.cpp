// Acceptance for the fit (planner issue): for every answer, re-run the estimate with the chosen
// flags and check it fits each device budget, and that one more step -- the context plus one
// padding unit, or one more offloaded layer -- does not (maximality, not just feasibility).
// Models: synthesized presets (BitNet 2B I2_S, Llama-3.2-1B Q4_K, SWA, recurrent, MoE) and the
// ground-truth headers; inventories: no GPU, one GPU, two unequal GPUs, a cgroup-limited container,
// catalog targets.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "bitnet/loader.h"
#include "bitnet/plan.h"
#include "synth/model_spec.h"

namespace fs = std::filesystem;
using namespace bitnet;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024, kGiB = std::uint64_t{1} << 30;
// llama.cpp pads the context to 256 cells per stream (memory-model.md §5, PR #17046).
constexpr std::uint32_t kPad = 256;

std::string model_path(const std::string& preset) {
  const fs::path dir = fs::temp_directory_path() / "bitnet-fit-golden";
  fs::create_directories(dir);
  const fs::path p = dir / (preset + "-128k.head.gguf");
  if (!fs::exists(p)) {
    auto spec = detail::preset(preset);
    if (!spec) return {};
    // A long training context, so that budgets, not the cap, decide most answers.
    spec->n_ctx_train = 131072;
    if (!detail::synthesize(*spec, p.string(), /*header_only=*/true)) return {};
  }
  return p.string();
}

ProductionModelLoader open_model(const std::string& path) {
  ProductionLoadConfig c;
  c.header_only = true;
  return ProductionModelLoader::open_or_throw(path, c);
}

Inventory host_only(std::uint64_t ram) {
  InventorySpec s;
  s.ram = ram;
  return describe_inventory(s, nullptr).value();
}

Inventory with_gpus(std::uint64_t ram, std::vector<std::uint64_t> gpus) {
  InventorySpec s;
  s.ram = ram;
  s.gpus = std::move(gpus);
  return describe_inventory(s, nullptr).value();
}

Inventory target(const std::string& name, std::optional<std::uint64_t> ram = std::nullopt) {
  InventorySpec s;
  s.targets = {name};
  s.ram = ram;
  return describe_inventory(s, nullptr).value();
}

// Per-device peak bytes of a configuration, from the engine alone (the test's own composition for
// several GPUs: GPU j holds the offloaded-layer bytes between its cut points, the compute buffer
// and its fixed overheads).
struct Eval {
  std::vector<std::uint64_t> used;  // host, gpu...
};

DetailedMemoryRequirements estimate(const ProductionModelLoader& m, const FitRequest& req,
                                    const ResolvedConfig& c, std::int32_t ngl, bool gpu,
                                    const std::string& gpu_name) {
  MemoryAnalysisConfig a;
  a.runtime = req.given;
  a.runtime.n_ctx = c.n_ctx;
  a.runtime.type_k = c.type_k;
  a.runtime.type_v = c.type_v;
  a.runtime.flash_attn = c.flash_attn ? FlashAttn::kOn : FlashAttn::kOff;
  a.runtime.n_gpu_layers = ngl;
  a.runtime.device = gpu ? Device{Device::Kind::kCuda, 0} : Device{};
  a.device = a.runtime.device;
  a.gpu_name = gpu_name;
  a.suggestions = false;
  return m.get_detailed_memory_requirements(a).value();
}

Eval evaluate(const ProductionModelLoader& m, const Inventory& inv, const FitRequest& req,
              const ResolvedConfig& c, std::int32_t ngl, const std::vector<std::uint32_t>& split,
              bool cpu_only = false) {
  Eval e;
  const bool gpu = !inv.gpus.empty() && !cpu_only;
  const std::string out_name = gpu ? inv.gpus.back().name : "";
  const auto top = estimate(m, req, c, ngl, gpu, out_name);
  e.used.push_back(top.peak_usage.cpu_bytes + top.peak_usage.shared_bytes);
  if (!gpu) {
    e.used.resize(1 + inv.gpus.size(), 0);  // -dev none: nothing on the GPUs
    return e;
  }
  if (inv.gpus.size() == 1) {
    e.used.push_back(top.peak_usage.gpu_bytes.value_or(0));
    return e;
  }
  auto layers = [](const DetailedMemoryRequirements& d) {
    return d.model_weights.gpu_bytes.value_or(0) + d.kv_cache.gpu_bytes.value_or(0);
  };
  const std::uint64_t compute = top.activations.gpu_bytes.value_or(0);
  std::vector<std::uint64_t> g(inv.gpus.size());
  std::uint32_t placed = 0;
  std::uint64_t prev = 0;
  for (std::size_t j = inv.gpus.size(); j-- > 0;) {
    const auto own = estimate(m, req, c, ngl, true, inv.gpus[j].name);
    const std::uint64_t fixed = *own.peak_usage.gpu_bytes - layers(own) - own.activations.gpu_bytes.value_or(0);
    std::uint64_t next = prev;
    if (split[j] > 0) next = layers(estimate(m, req, c, static_cast<std::int32_t>(placed + split[j]), true, out_name));
    g[j] = next - prev + (split[j] > 0 ? compute : 0) + fixed;
    prev = next;
    placed += split[j];
  }
  e.used.insert(e.used.end(), g.begin(), g.end());
  return e;
}

bool fits(const Eval& e, const FitResult& r) {
  for (std::size_t d = 0; d < e.used.size(); ++d)
    if (e.used[d] > r.budget[d].budget) return false;
  return true;
}

// The greedy split is optimal for covering the layers from the top, so "does not fit" for one
// more step is checked against the best split for that step: the planner's answer re-run.
void check_answer(const std::string& label, const ProductionModelLoader& m, const Inventory& inv,
                  const FitRequest& req) {
  SCOPED_TRACE(label);
  auto r = get_optimal_device_config(m, inv, req);
  ASSERT_TRUE(r) << r.error().to_string();
  const ModelStructureInfo& info = m.model_info();
  const std::uint32_t n_layers = info.n_layer + 1;
  if (!r->fits) {
    // Not fitting must be true: the smallest configuration tried is over some budget.
    const Eval e = evaluate(m, inv, req, r->config, r->config.n_gpu_layers, r->tensor_split);
    EXPECT_FALSE(fits(e, *r)) << r->reason;
    return;
  }
  const bool cpu_only = r->flags.find("-dev none") != std::string::npos;
  const Eval at = evaluate(m, inv, req, r->config, r->config.n_gpu_layers, r->tensor_split, cpu_only);
  ASSERT_TRUE(fits(at, *r)) << r->reason << " flags " << r->flags;
  if (cpu_only) {  // no configuration with the GPUs fits: not even -ngl 0 of a GPU build
    EXPECT_FALSE(fits(evaluate(m, inv, req, r->config, 0, std::vector<std::uint32_t>(inv.gpus.size(), 0)), *r));
  }
  for (std::size_t d = 0; d < at.used.size(); ++d) EXPECT_EQ(at.used[d], r->budget[d].used) << d;

  // One more context step (unless the training context caps it, or -c was given).
  const std::uint32_t seqs = std::max(1u, req.given.max_batch_size);
  const std::uint32_t unit = kPad * (req.given.kv_unified ? 1 : seqs);
  const std::uint32_t cap = info.n_ctx_train * seqs / unit * unit;
  if (!req.n_ctx_given) {
    EXPECT_EQ(r->config.n_ctx % unit, 0u);
    if (r->config.n_ctx < cap) {
      ResolvedConfig next = r->config;
      next.n_ctx += unit;
      std::vector<std::uint32_t> split = r->tensor_split;
      if (inv.gpus.size() > 1) {  // the best split at the larger context: re-plan with -c fixed
        FitRequest q = req;
        q.n_ctx_given = true;
        q.given.n_ctx = next.n_ctx;
        q.given.type_k = next.type_k;
        q.given.type_v = next.type_v;
        q.given.n_gpu_layers = r->config.n_gpu_layers;
        auto again = get_optimal_device_config(m, inv, q);
        ASSERT_TRUE(again);
        EXPECT_FALSE(again->fits) << "n_ctx " << next.n_ctx << " also fits";
      } else {
        EXPECT_FALSE(fits(evaluate(m, inv, req, next, r->config.n_gpu_layers, split, cpu_only), *r))
            << "n_ctx + " << unit << " = " << next.n_ctx << " also fits: " << r->flags;
      }
    } else {
      EXPECT_EQ(r->config.n_ctx, cap);
    }
  }
  // One more layer (unless all are offloaded, -ngl was given, or there is no GPU).
  if (!inv.gpus.empty() && !cpu_only && !req.given.n_gpu_layers &&
      static_cast<std::uint32_t>(r->config.n_gpu_layers) < n_layers) {
    if (inv.gpus.size() == 1) {
      EXPECT_FALSE(fits(evaluate(m, inv, req, r->config, r->config.n_gpu_layers + 1, {}), *r))
          << "-ngl " << r->config.n_gpu_layers + 1 << " also fits";
    } else {
      FitRequest q = req;
      q.n_ctx_given = true;
      q.given.n_ctx = r->config.n_ctx;
      q.given.type_k = r->config.type_k;
      q.given.type_v = r->config.type_v;
      q.given.n_gpu_layers = r->config.n_gpu_layers + 1;
      auto again = get_optimal_device_config(m, inv, q);
      ASSERT_TRUE(again);
      EXPECT_FALSE(again->fits);
    }
  }
  // The flags say what the config says.
  EXPECT_NE(r->flags.find("-c " + std::to_string(r->config.n_ctx) + " "), std::string::npos) << r->flags;
  if (!inv.gpus.empty()) {
    EXPECT_NE(r->flags.find("-ngl " + std::to_string(r->config.n_gpu_layers)), std::string::npos) << r->flags;
  }
  if (inv.gpus.size() > 1) {
    EXPECT_EQ(std::accumulate(r->tensor_split.begin(), r->tensor_split.end(), 0u),
              static_cast<std::uint32_t>(r->config.n_gpu_layers));
  }
  // Every alternative that says it fits does.
  for (const FitCandidate& a : r->alternatives) {
    if (!a.fits) continue;
    const Eval e = evaluate(m, inv, req, a.config, a.config.n_gpu_layers, a.tensor_split, cpu_only);
    EXPECT_TRUE(fits(e, *r)) << a.flags;
  }
}

FitRequest plain() { return FitRequest{}; }

const std::vector<std::string> kPresets = {"bitnet-b1.58-2b-4t", "llama-3.2-1b-q4_k", "tiny-gemma3",
                                           "tiny-mamba", "tiny-qwen3moe", "tiny-granitehybrid"};

}  // namespace

TEST(FitGolden, NoGpuHosts) {
  for (const std::string& p : kPresets) {
    const std::string path = model_path(p);
    ASSERT_FALSE(path.empty()) << p;
    const auto m = open_model(path);
    for (std::uint64_t ram : {std::uint64_t{1536} * kMiB, 2 * kGiB, 3 * kGiB, 8 * kGiB, 64 * kGiB})
      check_answer(p + " ram " + std::to_string(ram >> 20) + " MiB", m, host_only(ram), plain());
  }
}

TEST(FitGolden, OneGpu) {
  for (const std::string& p : kPresets) {
    const auto m = open_model(model_path(p));
    for (std::uint64_t vram : {std::uint64_t{1} * kGiB, std::uint64_t{1536} * kMiB, 2 * kGiB, 4 * kGiB, 24 * kGiB})
      check_answer(p + " gpu " + std::to_string(vram >> 20) + " MiB", m, with_gpus(32 * kGiB, {vram}), plain());
  }
}

TEST(FitGolden, TwoUnequalGpus) {
  for (const std::string& p : {std::string("bitnet-b1.58-2b-4t"), std::string("llama-3.2-1b-q4_k")}) {
    const auto m = open_model(model_path(p));
    for (auto [a, b] : {std::pair{1536 * kMiB, 2 * kGiB}, std::pair{2 * kGiB, 1 * kGiB}, std::pair{3 * kGiB, 12 * kGiB}})
      check_answer(p + " gpus " + std::to_string(a >> 20) + "+" + std::to_string(b >> 20), m,
                   with_gpus(32 * kGiB, {a, b}), plain());
  }
}

TEST(FitGolden, CgroupLimitedContainer) {
  const auto m = open_model(model_path("bitnet-b1.58-2b-4t"));
  Inventory inv = host_only(64 * kGiB);
  inv.host.source = "detected";
  inv.host.mem_available = 60 * kGiB;
  inv.host.cgroup_limit = 3 * kGiB;
  inv.host.cgroup_usage = 200 * kMiB;
  auto r = get_optimal_device_config(m, inv, plain());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->budget[0].budget, 3 * kGiB - 200 * kMiB - kDefaultReserveBytes);
  check_answer("cgroup 3 GiB", m, inv, plain());
}

TEST(FitGolden, CatalogTargets) {
  const auto m = open_model(model_path("llama-3.2-1b-q4_k"));
  for (const DeviceTarget& t : device_catalog()) {
    const Inventory inv = t.host_bytes ? target(std::string(t.id)) : target(std::string(t.id), 64 * kGiB);
    check_answer(std::string(t.id), m, inv, plain());
  }
}

TEST(FitGolden, GivenFlagsAreKept) {
  const auto m = open_model(model_path("bitnet-b1.58-2b-4t"));
  FitRequest q;
  q.given.max_batch_size = 4;
  q.given.type_k = Precision::kQ8_0;
  check_answer("-np 4 -ctk q8_0", m, with_gpus(16 * kGiB, {2 * kGiB}), q);
  FitRequest c;
  c.n_ctx_given = true;
  c.given.n_ctx = 8192;
  auto r = get_optimal_device_config(m, with_gpus(16 * kGiB, {1536 * kMiB}), c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config.n_ctx, 8192u);
  check_answer("-c 8192", m, with_gpus(16 * kGiB, {1536 * kMiB}), c);
}

TEST(FitGolden, GroundTruthHeaders) {
  const fs::path dir = fs::path(BITNET_SHARED_DIR) / "groundtruth" / "models";
  if (!fs::exists(dir)) GTEST_SKIP() << "no " << dir;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    const auto m = open_model(e.path().string());
    check_answer(e.path().filename().string() + " cpu", m, host_only(4 * kGiB), plain());
    check_answer(e.path().filename().string() + " h100", m, target("h100-80g", 64 * kGiB), plain());
    check_answer(e.path().filename().string() + " 2 GiB", m, with_gpus(8 * kGiB, {2 * kGiB}), plain());
    ++n;
  }
  EXPECT_GE(n, 10);
}

TEST(FitGolden, ScaleOutForLlama1B) {
  const auto m = open_model(model_path("llama-3.2-1b-q4_k"));
  auto r = get_optimal_device_config(m, with_gpus(32 * kGiB, {1800 * kMiB}), plain());
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->scale_out) << r->flags;
  ASSERT_GT(r->scale_out->n_gpus, 1u);
  // n GPUs of that size fit all layers at the floor context; n - 1 do not.
  FitRequest q;
  q.n_ctx_given = true;
  q.given.n_ctx = r->scale_out->n_ctx;
  q.given.n_gpu_layers = static_cast<std::int32_t>(m.model_info().n_layer + 1);
  q.given.type_k = Precision::kF16;
  q.given.type_v = Precision::kF16;
  auto with = [&](std::uint32_t n) {
    return get_optimal_device_config(m, with_gpus(32 * kGiB, std::vector<std::uint64_t>(n, 1800 * kMiB)), q).value();
  };
  EXPECT_TRUE(with(r->scale_out->n_gpus).fits);
  EXPECT_FALSE(with(r->scale_out->n_gpus - 1).fits);
  EXPECT_EQ(with(r->scale_out->n_gpus).tensor_split, r->scale_out->tensor_split);
}
