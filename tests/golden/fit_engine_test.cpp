// Acceptance for the fit (planner issue): for every answer, re-run the estimate with the chosen
// flags and check it fits each device budget, and that one more step -- the context plus one
// padding unit, or one more offloaded layer -- does not (maximality, not just feasibility).
// Models: synthesized presets (BitNet 2B I2_S, Llama-3.2-1B Q4_K, SWA, recurrent, MoE) and the
// ground-truth headers; inventories: no GPU, one GPU, two unequal GPUs, a cgroup-limited container,
// catalog targets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
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

// Per-device peak bytes of a configuration: one estimate with the chosen flags (-ts as the split's
// layer counts, each GPU's own overhead row), the engine's own per-GPU shares.
struct Eval {
  std::vector<std::uint64_t> used;  // host, gpu...
};

DetailedMemoryRequirements estimate(const ProductionModelLoader& m, const Inventory& inv,
                                    const FitRequest& req, const ResolvedConfig& c, std::int32_t ngl,
                                    const std::vector<std::uint32_t>& split, bool gpu) {
  MemoryAnalysisConfig a;
  a.runtime = req.given;
  a.runtime.n_ctx = c.n_ctx;
  a.runtime.type_k = c.type_k;
  a.runtime.type_v = c.type_v;
  a.runtime.flash_attn = c.flash_attn ? FlashAttn::kOn : FlashAttn::kOff;
  a.runtime.n_gpu_layers = ngl;
  a.runtime.device = gpu ? Device{Device::Kind::kCuda, 0} : Device{};
  a.device = a.runtime.device;
  if (gpu) a.gpu_name = inv.gpus.front().name;
  if (gpu && inv.gpus.size() > 1) {
    for (std::size_t j = 0; j < inv.gpus.size(); ++j) {
      a.runtime.devices.push_back(Device{Device::Kind::kCuda, inv.gpus[j].index});
      a.runtime.tensor_split.push_back(j < split.size() ? static_cast<float>(split[j]) : 0.0f);
      a.gpu_names.push_back(inv.gpus[j].name);
    }
    if (ngl == 0) a.runtime.tensor_split.assign(inv.gpus.size(), 1.0f);
  }
  a.suggestions = false;
  return m.get_detailed_memory_requirements(a).value();
}

Eval evaluate(const ProductionModelLoader& m, const Inventory& inv, const FitRequest& req,
              const ResolvedConfig& c, std::int32_t ngl, const std::vector<std::uint32_t>& split,
              bool cpu_only = false) {
  Eval e;
  const bool gpu = !inv.gpus.empty() && !cpu_only;
  const auto d = estimate(m, inv, req, c, ngl, split, gpu);
  e.used.push_back(d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes);
  if (!gpu) {
    e.used.resize(1 + inv.gpus.size(), 0);  // -dev none: nothing on the GPUs
    return e;
  }
  EXPECT_EQ(d.devices.size(), inv.gpus.size());
  std::uint64_t sum = 0;
  for (const DeviceUsage& u : d.devices) {
    e.used.push_back(u.peak_bytes);
    sum += u.peak_bytes;
  }
  EXPECT_EQ(sum, d.peak_usage.gpu_bytes.value_or(0));  // the shares add up to the device total
  return e;
}

bool fits(const Eval& e, const FitResult& r) {
  for (std::size_t d = 0; d < e.used.size(); ++d)
    if (e.used[d] > r.budget[d].budget) return false;
  return true;
}

// Maximality over several GPUs without trusting the planner's split search: every split of `ngl`
// layers over the GPUs (all compositions, at most a few thousand estimates) is re-estimated.
bool any_split_fits(const ProductionModelLoader& m, const Inventory& inv, const FitRequest& req,
                    const ResolvedConfig& c, std::uint32_t ngl, const FitResult& r, std::string* which) {
  const std::size_t n = inv.gpus.size();
  // C(ngl + n - 1, n - 1) compositions; past a few thousand, the planner's own answer for that
  // step (-c and -ngl fixed) is the check instead.
  double count = 1;
  for (std::size_t i = 1; i < n; ++i) count = count * static_cast<double>(ngl + i) / static_cast<double>(i);
  if (count > 5000) {
    FitRequest q = req;
    q.n_ctx_given = true;
    q.given.n_ctx = c.n_ctx;
    q.given.type_k = c.type_k;
    q.given.type_v = c.type_v;
    q.given.n_gpu_layers = static_cast<std::int32_t>(ngl);
    auto again = get_optimal_device_config(m, inv, q);
    EXPECT_TRUE(again);
    *which = "(planner)";
    return again && again->fits;
  }
  std::vector<std::uint32_t> split(n, 0);
  std::function<bool(std::size_t, std::uint32_t)> rec = [&](std::size_t j, std::uint32_t left) {
    if (j + 1 == n) {
      split[j] = left;
      if (!fits(evaluate(m, inv, req, c, static_cast<std::int32_t>(ngl), split), r)) return false;
      *which = "-ts";
      for (std::uint32_t x : split) *which += " " + std::to_string(x);
      return true;
    }
    for (std::uint32_t x = 0; x <= left; ++x) {
      split[j] = x;
      if (rec(j + 1, left - x)) return true;
    }
    return false;
  };
  return rec(0, ngl);
}

// The greedy split is optimal for covering the layers from the top, so "does not fit" for one
// more step is checked against the best split for that step: the planner's answer re-run.
void check_answer(const std::string& label, const ProductionModelLoader& m, const Inventory& inv_all,
                  const FitRequest& req) {
  SCOPED_TRACE(label);
  auto res = get_optimal_device_config(m, inv_all, req);
  ASSERT_TRUE(res) << res.error().to_string();
  // -dev CUDA0,CUDA2: the plan is over those GPUs; each GPU left out uses nothing and could not
  // hold even its CUDA context and pools (its reason to be left out). The checks below then run
  // on the GPUs that -dev names.
  Inventory inv = inv_all;
  FitResult view = *res;
  const std::string dev_tag = " -dev CUDA";
  if (const std::size_t dp = res->flags.find(dev_tag); dp != std::string::npos) {
    std::vector<std::uint32_t> ids;
    for (std::size_t q = dp + 6; q < res->flags.size() && res->flags.compare(q, 4, "CUDA") == 0;) {
      std::size_t e = q + 4;
      while (e < res->flags.size() && std::isdigit(static_cast<unsigned char>(res->flags[e]))) ++e;
      ids.push_back(static_cast<std::uint32_t>(std::stoul(res->flags.substr(q + 4, e - q - 4))));
      q = e < res->flags.size() && res->flags[e] == ',' ? e + 1 : res->flags.size();
    }
    ASSERT_FALSE(ids.empty()) << res->flags;
    inv.gpus.clear();
    view.budget = {res->budget[0]};
    std::vector<std::size_t> pos;
    for (std::size_t j = 0; j < inv_all.gpus.size(); ++j) {
      const GpuInventory& g = inv_all.gpus[j];
      if (std::find(ids.begin(), ids.end(), g.index) != ids.end()) continue;
      const GpuOverheadInfo o = gpu_overhead_info(g.name);
      EXPECT_EQ(res->budget[1 + j].used, 0u) << g.index;
      EXPECT_LE(res->budget[1 + j].budget, o.cuda_context + o.retained_pool + o.transient_pool) << g.index;
    }
    for (std::uint32_t id : ids)
      for (std::size_t j = 0; j < inv_all.gpus.size(); ++j)
        if (inv_all.gpus[j].index == id) {
          inv.gpus.push_back(inv_all.gpus[j]);
          view.budget.push_back(res->budget[1 + j]);
          pos.push_back(1 + j);
        }
    for (FitCandidate& a : view.alternatives) {
      std::vector<std::uint64_t> u{a.used.empty() ? 0 : a.used[0]};
      for (std::size_t p : pos) u.push_back(p < a.used.size() ? a.used[p] : 0);
      a.used = std::move(u);
    }
  }
  const FitResult* r = &view;
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
      if (inv.gpus.size() > 1) {  // no split at all fits the larger context
        std::string which;
        EXPECT_FALSE(any_split_fits(m, inv, req, next, static_cast<std::uint32_t>(r->config.n_gpu_layers), *r, &which))
            << "n_ctx + " << unit << " = " << next.n_ctx << " also fits with " << which << ": " << r->flags;
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
      std::string which;
      EXPECT_FALSE(any_split_fits(m, inv, req, r->config, static_cast<std::uint32_t>(r->config.n_gpu_layers) + 1, *r, &which))
          << "-ngl " << r->config.n_gpu_layers + 1 << " also fits with " << which;
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

// A 70B-shaped Llama (80 layers, n_embd 8192, GQA 64/8, n_ff 28672, Q4_K; header only) on T4s
// from the catalog: its weights alone exceed two T4 budgets, and three hold them.
TEST(FitGolden, ScaleOutToThreeCatalogT4s) {
  const fs::path p = fs::temp_directory_path() / "bitnet-fit-golden" / "llama-70b-shape-q4_k.head.gguf";
  fs::create_directories(p.parent_path());
  if (!fs::exists(p)) {
    auto spec = detail::preset("llama-3.2-1b-q4_k").value();
    spec.name = "llama-70b-shape";
    spec.n_layer = 80; spec.n_embd = 8192; spec.n_head = 64; spec.n_head_kv = 8; spec.n_ff = 28672;
    ASSERT_TRUE(detail::synthesize(spec, p.string(), /*header_only=*/true));
  }
  const auto m = open_model(p.string());
  const DeviceTarget* t4 = find_device_target("t4");
  ASSERT_NE(t4, nullptr);
  const std::uint64_t budget = t4->gpu_bytes - kDefaultReserveBytes;
  // Hand check of the premise: the repeating and output weights (all but token_embd, which stays
  // on the host) need more than two T4 budgets and less than three.
  std::uint64_t offloaded = 0;
  for (const TensorInfo& t : m.model_info().tensors)
    if (t.name != "token_embd.weight") offloaded += t.nbytes;
  ASSERT_GT(offloaded, 2 * budget);
  ASSERT_LT(offloaded, 3 * budget - 3 * (2 * kGiB));  // room for KV, compute, contexts

  auto r = get_optimal_device_config(m, target("t4", 256 * kGiB), plain());
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_TRUE(r->scale_out);
  const ScaleOutPlan& so = *r->scale_out;
  ASSERT_EQ(so.n_gpus, 3u) << so.note;
  ASSERT_EQ(so.tensor_split.size(), 3u);
  const std::uint32_t n_layers = m.model_info().n_layer + 1;
  EXPECT_EQ(std::accumulate(so.tensor_split.begin(), so.tensor_split.end(), 0u), n_layers);
  EXPECT_NE(so.flags.find("-ngl " + std::to_string(n_layers)), std::string::npos) << so.flags;

  // Re-run the estimate with the chosen -c / -ngl / -ts on three T4s: every GPU within its budget.
  const Inventory three = [&] {
    InventorySpec s;
    s.ram = 256 * kGiB;
    s.targets = {"t4", "t4", "t4"};
    return describe_inventory(s, nullptr).value();
  }();
  ASSERT_EQ(three.gpus.size(), 3u);
  FitRequest q = plain();
  q.n_ctx_given = true;
  q.given.n_ctx = so.n_ctx;
  q.given.n_gpu_layers = static_cast<std::int32_t>(n_layers);
  q.given.type_k = Precision::kF16;
  q.given.type_v = Precision::kF16;
  FitResult shape;  // budgets for fits()
  shape.budget = std::vector<DeviceBudget>(4);
  shape.budget[0].budget = 256 * kGiB - kDefaultReserveBytes;
  for (int j = 1; j <= 3; ++j) shape.budget[j].budget = budget;
  ResolvedConfig c;
  c.n_ctx = so.n_ctx;
  c.flash_attn = true;  // auto resolves to on for head_dim 128 on CUDA
  const auto d = estimate(m, three, q, c, static_cast<std::int32_t>(n_layers), so.tensor_split, true);
  ASSERT_EQ(d.devices.size(), 3u);
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_LE(d.devices[j].peak_bytes, budget) << d.devices[j].device;
    EXPECT_EQ(d.devices[j].n_layers, so.tensor_split[j]) << j;
  }
  EXPECT_EQ(d.config.flash_attn, true);
  // Maximal: two T4s cannot hold every layer with any split at that context.
  const Inventory two = [&] {
    InventorySpec s;
    s.ram = 256 * kGiB;
    s.targets = {"t4", "t4"};
    return describe_inventory(s, nullptr).value();
  }();
  FitResult shape2;
  shape2.budget = std::vector<DeviceBudget>(shape.budget.begin(), shape.budget.begin() + 3);
  std::string which;
  EXPECT_FALSE(any_split_fits(m, two, q, c, n_layers, shape2, &which)) << which;

  // The full fit on three T4s: every answer re-checked (context + 256 over every split).
  check_answer("3 x t4", m, three, plain());
}

// A GPU whose budget cannot hold its own CUDA context and pools is left out (-dev names the
// others) instead of sending the whole plan to the CPU: 1 GiB - 512 MiB reserve is below the
// default row's context + pools.
TEST(FitGolden, AGpuTooSmallForItsContextIsLeftOut) {
  const auto m = open_model(model_path("llama-3.2-1b-q4_k"));
  const GpuOverheadInfo o = gpu_overhead_info("");
  ASSERT_LT(1 * kGiB - kDefaultReserveBytes, o.cuda_context + o.retained_pool + o.transient_pool);
  const Inventory inv = with_gpus(32 * kGiB, {2 * kGiB, 1 * kGiB});
  auto r = get_optimal_device_config(m, inv, plain());
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_TRUE(r->fits);
  EXPECT_NE(r->flags.find(" -dev CUDA0"), std::string::npos) << r->flags;
  EXPECT_EQ(r->flags.find("CUDA1"), std::string::npos) << r->flags;
  EXPECT_GT(r->config.n_gpu_layers, 0) << r->flags;
  ASSERT_EQ(r->budget.size(), 3u);
  EXPECT_EQ(r->budget[2].used, 0u);
  check_answer("2 GiB + 1 GiB", m, inv, plain());
}
