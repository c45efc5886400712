// The solver's math and the fit policy against a small memory model written here (bytes as a
// closed-form function of context, -ngl, KV type and flash attention), so every expected answer
// comes from a hand formula or a brute-force scan of that formula, not from the solver.
#include <gtest/gtest.h>

#include <algorithm>

#include <numeric>

#include "bitnet/plan.h"
#include "plan/planner.h"
#include "plan/solver.h"

using namespace bitnet;
using namespace bitnet::detail;

namespace {

constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * 1024, kGiB = std::uint64_t{1} << 30;

// ---- solve_max on piecewise-linear functions --------------------------------------------------

std::int64_t brute_max(std::int64_t lo, std::int64_t hi, const std::function<Usage(std::int64_t)>& f,
                       const std::vector<std::uint64_t>& b) {
  std::int64_t best = lo - 1;
  for (std::int64_t x = lo; x <= hi; ++x)
    if (usage_fits(f(x), b)) best = x;
  return best;
}

void check_solver(const std::function<Usage(std::int64_t)>& f, std::int64_t lo, std::int64_t hi,
                  const std::vector<std::uint64_t>& b, std::uint32_t max_evals, bool from_below = false) {
  const std::int64_t want = brute_max(lo, hi, f, b);
  auto r = solve_max(lo, hi, [&](std::int64_t x) -> Result<Usage> { return f(x); }, b, from_below);
  ASSERT_TRUE(r);
  if (want < lo) {
    EXPECT_FALSE(r->x);
  } else {
    ASSERT_TRUE(r->x);
    EXPECT_EQ(*r->x, want);
    EXPECT_TRUE(usage_fits(r->at_x, b));
    if (want < hi) {
      ASSERT_TRUE(r->at_next);
      EXPECT_FALSE(usage_fits(*r->at_next, b));
    } else {
      EXPECT_FALSE(r->at_next);
    }
  }
  EXPECT_LE(r->evaluations, max_evals);
}

// Shapes the memory engine's equations take: a line (KV), a constant then a steeper line
// (compute: max(logits, attention) on top of KV), and steps with plateaus.
Usage lin(std::int64_t x) { return Usage{1000 + 7 * static_cast<std::uint64_t>(x)}; }
Usage cmp(std::int64_t x) {
  const auto u = static_cast<std::uint64_t>(x);
  return Usage{12 * u + std::max<std::uint64_t>(5000, 40 * u)};
}
Usage steps(std::int64_t x) {
  const auto u = static_cast<std::uint64_t>(x);
  return Usage{(u / 17) * 1000 + u / 5};
}

}  // namespace

TEST(PlanSolver, LinearIsSolvedInAFewEvaluations) {
  // host = 1000 + 7x; a budget anywhere in range.
  for (std::uint64_t budget : {1000u, 1006u, 1007u, 1500u, 8000u, 8006u, 8007u, 100000u})
    check_solver([](std::int64_t x) { return Usage{1000 + 7 * static_cast<std::uint64_t>(x)}; }, 0, 1000,
                 {budget}, 8);
  EXPECT_TRUE(true);
}

TEST(PlanSolver, LoInfeasibleAndHiFeasible) {
  check_solver([](std::int64_t x) { return Usage{500 + static_cast<std::uint64_t>(x)}; }, 1, 100, {400}, 2);
  check_solver([](std::int64_t x) { return Usage{500 + static_cast<std::uint64_t>(x)}; }, 1, 100, {600}, 2);
}

TEST(PlanSolver, ConcaveSwaAndConvexComputePieces) {
  // SWA: full layers grow 10/unit; SWA layers grow 30/unit until x = 40, then flat.
  auto swa = [](std::int64_t x) {
    const auto u = static_cast<std::uint64_t>(x);
    return Usage{100 + 10 * u + 30 * std::min<std::uint64_t>(u, 40)};
  };
  // Compute: max(logits 5000, attention 40x) on top of KV 12x: slope 12 then 52 past x = 125.
  auto cmp = [](std::int64_t x) {
    const auto u = static_cast<std::uint64_t>(x);
    return Usage{12 * u + std::max<std::uint64_t>(5000, 40 * u)};
  };
  for (std::uint64_t b = 200; b < 12000; b += 377) {
    check_solver(swa, 1, 1000, {b}, 14);
    check_solver(cmp, 1, 1000, {b}, 14);
  }
}

TEST(PlanSolver, SeveralDevicesTheTightestWins) {
  // Host flat, GPU 0 steep, GPU 1 shallow: the answer is the smallest per-device maximum.
  auto f = [](std::int64_t x) {
    const auto u = static_cast<std::uint64_t>(x);
    return Usage{4000, 300 + 9 * u, 100 + 2 * u};
  };
  check_solver(f, 0, 5000, {5000, 3000, 100000}, 10);  // GPU 0: (3000 - 300) / 9 = 300
  check_solver(f, 0, 5000, {5000, 100000, 700}, 10);   // GPU 1: (700 - 100) / 2 = 300
  check_solver(f, 0, 5000, {3999, 100000, 100000}, 2); // host never fits
}

TEST(PlanSolver, StepsAndPlateausTerminate) {
  auto f = [](std::int64_t x) {
    const auto u = static_cast<std::uint64_t>(x);
    return Usage{(u / 17) * 1000 + u / 5};
  };
  for (std::uint64_t b = 0; b < 60000; b += 4999) check_solver(f, 0, 1000, {b}, 40);
}

// from_below (the split search): the same answers on the same shapes, and on a line whose top
// end is a costlier regime the top is never evaluated unless the answer is near it.
TEST(PlanSolver, FromBelowGivesTheSameAnswers) {
  for (std::uint64_t b = 200; b < 12000; b += 377) {
    check_solver(lin, 1, 1000, {b}, 16, true);
    check_solver(cmp, 1, 1000, {b}, 18, true);
  }
  for (std::uint64_t b = 0; b < 60000; b += 4999) check_solver(steps, 0, 1000, {b}, 48, true);
  // A GPU's share of a split: 300 + 90 per layer, and at "every layer" (x = 16) a different
  // placement; an answer of 7 layers must not look at x = 16.
  bool top_seen = false;
  auto share = [&](std::int64_t x) -> Result<Usage> {
    if (x == 16) top_seen = true;
    return Usage{300 + 90 * static_cast<std::uint64_t>(x)};
  };
  auto r = solve_max(1, 16, share, {1000}, true);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->x);
  EXPECT_EQ(*r->x, 7);  // (1000 - 300) / 90
  EXPECT_FALSE(top_seen);
}

// solve_max_verified: searched on an approximation, the answer is f's whatever the approximation
// (a few percent off either way, far off, constant), with f's usages at x and x + 1; a close
// approximation costs f only the two evaluations that prove the answer.
TEST(PlanSolver, VerifiedAnswersAreTheExactOnes) {
  struct Approx {
    double scale;
    std::uint64_t offset;
  };
  for (const auto& exact : {std::function<Usage(std::int64_t)>(lin), std::function<Usage(std::int64_t)>(cmp),
                            std::function<Usage(std::int64_t)>(steps)})
    for (const Approx a : {Approx{0.97, 0}, Approx{1.03, 0}, Approx{1.0, 5}, Approx{0.5, 0}, Approx{2.0, 0},
                           Approx{0.0, 0}, Approx{0.0, 1u << 30}})
      for (std::uint64_t b = 0; b < 60000; b += 1213) {
        const std::vector<std::uint64_t> budget{b};
        int exact_calls = 0;
        auto f = [&](std::int64_t x) -> Result<Usage> {
          ++exact_calls;
          return exact(x);
        };
        auto fast = [&](std::int64_t x) -> Result<Usage> {
          return Usage{static_cast<std::uint64_t>(static_cast<double>(exact(x)[0]) * a.scale) + a.offset};
        };
        const std::int64_t want = brute_max(1, 1000, exact, budget);
        auto r = solve_max_verified(1, 1000, f, fast, budget);
        ASSERT_TRUE(r);
        if (want < 1) {
          EXPECT_FALSE(r->x) << b;
          EXPECT_EQ(r->at_x, exact(1));
          continue;
        }
        ASSERT_TRUE(r->x) << b << " scale " << a.scale;
        EXPECT_EQ(*r->x, want) << b << " scale " << a.scale << " offset " << a.offset;
        EXPECT_EQ(r->at_x, exact(want));
        if (want < 1000) {
          ASSERT_TRUE(r->at_next);
          EXPECT_EQ(*r->at_next, exact(want + 1));
        } else {
          EXPECT_FALSE(r->at_next);
        }
        // Off by less than a step (5 bytes on a slope of 7): the approximate answer is the answer
        // or one off, and f proves it in two or three evaluations.
        if (a.scale == 1.0 && a.offset == 5 && exact(2)[0] - exact(1)[0] == 7) {
          EXPECT_LE(exact_calls, 3) << b;
        }
      }
}

// ---- the fit policy against a toy engine ------------------------------------------------------

namespace {

// A 10-block model: 100 MiB per block, a 300 MiB output layer, a 200 MiB embedding (always on
// the host), K+V 16 KiB per cell per layer at f16; GPU: 500 MiB fixed (context, pools), a
// 200 MiB compute buffer (+ 4 KiB per cell without flash attention); host: 1 GiB base, compute
// 100 MiB. Context pads to 256 cells; training context 32768.
struct Toy {
  std::uint32_t n_layer = 10;
  std::uint64_t w_block = 100 * kMiB, w_out = 300 * kMiB, w_embd = 200 * kMiB;
  std::uint64_t kv_f16 = 16 * kKiB;
  std::uint64_t gpu_fixed = 500 * kMiB, gpu_compute = 200 * kMiB, no_fa_per_cell = 4 * kKiB;
  std::uint64_t host_base = kGiB, host_compute = 100 * kMiB;
  bool fa_supported = true;
  int calls = 0;
  // The engine's closed form for the compute buffer under partial offload (simulate_compute off):
  // this far from the exact (simulated) one, as a fraction; with closed_form false it has none.
  bool closed_form = false;
  double closed_form_error = 0.0;
  int exact_partial_calls = 0;  // partial-offload calls that "simulated"

  static std::uint64_t kv_scale(std::uint64_t b, Precision p) {
    switch (p) {
      case Precision::kQ8_0: return b * 34 / 64;
      case Precision::kQ4_0: return b * 18 / 64;
      default: return b;
    }
  }

  ModelStructureInfo model() const {
    ModelStructureInfo m;
    m.n_layer = n_layer;
    m.n_ctx_train = 32768;
    return m;
  }

  Result<DetailedMemoryRequirements> operator()(const MemoryAnalysisConfig& c) {
    ++calls;
    const RuntimeConfig& rt = c.runtime;
    const bool gpu = rt.device.is_gpu();
    const bool fa = rt.flash_attn != FlashAttn::kOff;
    if (fa && !fa_supported && rt.flash_attn == FlashAttn::kOn)
      return Error{Errc::kInvalidArgument, "no flash attention", kNoOffset, "flash_attn", {}};
    if (precision_is_quantized(rt.effective_type_v()) && !(fa && fa_supported))
      return Error{Errc::kInvalidArgument, "quantized V needs flash attention", kNoOffset, "type_v", {}};
    const std::uint64_t cells = (std::max(1u, rt.n_ctx) + 255) / 256 * 256;
    const std::uint64_t kv_cell = kv_scale(kv_f16 / 2, rt.effective_type_k()) + kv_scale(kv_f16 / 2, rt.effective_type_v());
    std::int64_t ngl = gpu ? rt.n_gpu_layers.value_or(-1) : 0;
    if (ngl < 0 || ngl > n_layer + 1) ngl = n_layer + 1;
    const std::uint64_t gpu_blocks = ngl > 0 ? static_cast<std::uint64_t>(ngl - 1) : 0;
    const std::uint64_t cpu_blocks = n_layer - gpu_blocks;
    const bool out_gpu = ngl > 0;
    DetailedMemoryRequirements d;
    const std::uint64_t gw = gpu_blocks * w_block + (out_gpu ? w_out : 0);
    const std::uint64_t gkv = gpu_blocks * kv_cell * cells;
    std::uint64_t gcomp = gpu ? gpu_compute + (fa && fa_supported ? 0 : no_fa_per_cell * cells) : 0;
    const bool partial = gpu && ngl < n_layer + 1 && rt.tensor_split.size() <= 1;
    if (partial && closed_form && !c.simulate_compute) {
      gcomp = static_cast<std::uint64_t>(static_cast<double>(gcomp) * (1.0 + closed_form_error));
    } else if (partial) {
      ++exact_partial_calls;
    }
    d.model_weights.gpu_bytes = gw;
    d.kv_cache.gpu_bytes = gkv;
    d.activations.gpu_bytes = gcomp;
    d.peak_usage.gpu_bytes = gpu ? gw + gkv + gcomp + gpu_fixed : 0;
    d.peak_usage.cpu_bytes = host_base + host_compute + cpu_blocks * kv_cell * cells;
    d.peak_usage.shared_bytes = w_embd + cpu_blocks * w_block + (out_gpu ? 0 : w_out);
    d.config.n_ctx = static_cast<std::uint32_t>(cells);
    d.config.n_ctx_seq = static_cast<std::uint32_t>(cells);
    d.config.n_seq = 1;
    d.config.kv_unified = true;
    d.config.type_k = rt.effective_type_k();
    d.config.type_v = rt.effective_type_v();
    d.config.flash_attn = fa && fa_supported;
    d.config.n_gpu_layers = static_cast<std::int32_t>(ngl);
    d.config.device = rt.device.to_string();
    d.compute_closed_form = partial && closed_form && !c.simulate_compute;
    // Several GPUs (-ts): llama.cpp's layer rule (cumulative float proportions, layer i of the ngl
    // offloaded to upper_bound(splits, i / ngl)); per GPU its blocks, the output layer where it
    // lands, the fixed 500 MiB, and the compute buffer where it holds any layer.
    if (gpu && rt.tensor_split.size() > 1) {
      std::vector<float> splits(rt.tensor_split.size());
      float sum = 0.0f;
      for (std::size_t j = 0; j < splits.size(); ++j) splits[j] = sum += rt.tensor_split[j];
      for (float& x : splits) x /= sum;
      std::vector<std::uint64_t> blocks(splits.size(), 0), outs(splits.size(), 0);
      const std::int64_t start = n_layer + 1 - ngl;
      for (std::int64_t il = start; il <= n_layer; ++il) {
        const float v = static_cast<float>(il - start) / static_cast<float>(ngl);
        const auto j = static_cast<std::size_t>(std::upper_bound(splits.begin(), splits.end(), v) - splits.begin());
        (il == n_layer ? outs : blocks)[std::min(j, splits.size() - 1)] += 1;
      }
      std::uint64_t total = 0;
      for (std::size_t j = 0; j < splits.size(); ++j) {
        DeviceUsage u;
        u.device = "cuda:" + std::to_string(j);
        u.n_layers = static_cast<std::uint32_t>(blocks[j] + outs[j]);
        u.weights_bytes = blocks[j] * w_block + outs[j] * w_out;
        u.kv_bytes = blocks[j] * kv_cell * cells;
        u.compute_bytes = u.n_layers > 0 ? gcomp : 0;
        u.overhead_bytes = gpu_fixed;
        u.peak_bytes = u.weights_bytes + u.kv_bytes + u.compute_bytes + u.overhead_bytes;
        total += u.peak_bytes;
        d.devices.push_back(u);
      }
      d.peak_usage.gpu_bytes = total;
    }
    return d;
  }
};

Inventory inv(std::uint64_t host, std::vector<std::uint64_t> gpus) {
  Inventory i;
  i.host.mem_total = host;
  i.host.source = "test";
  for (std::size_t j = 0; j < gpus.size(); ++j) {
    GpuInventory g;
    g.index = static_cast<std::uint32_t>(j);
    g.name = "test GPU";
    g.total_bytes = gpus[j];
    i.gpus.push_back(g);
  }
  return i;
}

FitRequest req() {
  FitRequest r;
  r.reserve = 0;
  return r;
}

Result<FitResult> fit(Toy& toy, const Inventory& i, const FitRequest& r) {
  const ModelStructureInfo m = toy.model();
  return fit_with_engine(m, [&toy](const MemoryAnalysisConfig& c) { return toy(c); }, i, r);
}

std::uint64_t floor_to(std::uint64_t x, std::uint64_t u) { return x / u * u; }

}  // namespace

TEST(PlanFitToy, OneGpuFullOffloadLargestContext) {
  Toy toy;
  auto r = fit(toy, inv(64 * kGiB, {4 * kGiB}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->fits);
  // GPU: 500 + 200 + 10*100 + 300 MiB fixed, 10 layers * 16 KiB per cell.
  const std::uint64_t fixed = 2000 * kMiB, per_cell = 10 * 16 * kKiB;
  EXPECT_EQ(r->config.n_ctx, floor_to((4 * kGiB - fixed) / per_cell, 256));
  EXPECT_EQ(r->config.n_gpu_layers, 11);
  EXPECT_EQ(r->config.type_k, Precision::kF16);
  EXPECT_EQ(r->limited_by, "cuda:0");
  EXPECT_EQ(r->flags.rfind("-c 13312 -ngl 11", 0), 0u) << r->flags;
  EXPECT_EQ(r->budget.size(), 2u);
  EXPECT_EQ(r->budget[1].used, fixed + per_cell * r->config.n_ctx);
  EXPECT_FALSE(r->scale_out);
  // One engine call per evaluated point: far fewer than a scan of 128 context steps.
  EXPECT_LT(r->engine_calls, 60u);
}

TEST(PlanFitToy, KvQuantizationOnlyWhenNeeded) {
  Toy toy;
  // At the 4096 floor f16 needs 2000 + 640 MiB; q8_0 2000 + 340 MiB: a 2.4 GiB card needs q8_0.
  const std::uint64_t gpu = 2400 * kMiB;
  auto r = fit(toy, inv(64 * kGiB, {gpu}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->fits);
  EXPECT_EQ(r->config.type_k, Precision::kQ8_0);
  EXPECT_EQ(r->config.type_v, Precision::kQ8_0);
  EXPECT_EQ(r->config.n_gpu_layers, 11);
  const std::uint64_t per_cell = 10 * (8 * kKiB * 34 / 64) * 2;
  EXPECT_EQ(r->config.n_ctx, floor_to((gpu - 2000 * kMiB) / per_cell, 256));
  EXPECT_NE(r->flags.find("-ctk q8_0 -ctv q8_0 -fa on"), std::string::npos) << r->flags;
  // The alternatives list the f16 rung (does not fit at full offload: fewer layers) and q4_0.
  ASSERT_GE(r->alternatives.size(), 3u);
  EXPECT_EQ(r->alternatives[0].config.type_k, Precision::kF16);
  EXPECT_LT(r->alternatives[0].config.n_gpu_layers, 11);
}

TEST(PlanFitToy, PartialOffloadWhenNoKvTypeReachesTheFloor) {
  Toy toy;
  const std::uint64_t gpu = 1536 * kMiB;
  auto r = fit(toy, inv(64 * kGiB, {gpu}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_TRUE(r->fits);
  EXPECT_EQ(r->config.type_k, Precision::kF16);
  // At 4096 cells a block costs 100 + 64 MiB; output + fixed + compute = 1000 MiB.
  const std::uint64_t k = 1 + (gpu - 1000 * kMiB) / (164 * kMiB);
  EXPECT_EQ(r->config.n_gpu_layers, static_cast<std::int32_t>(k));
  // Then the context grows with k - 1 blocks on the GPU: (1536 - 1000 - 100 (k-1)) MiB / (16 KiB (k-1)).
  const std::uint64_t cells = (gpu - 1000 * kMiB - (k - 1) * 100 * kMiB) / ((k - 1) * 16 * kKiB);
  EXPECT_EQ(r->config.n_ctx, floor_to(cells, 256));
  ASSERT_TRUE(r->scale_out);
  // Scale-out at 4096: the top GPU holds the output + 3 blocks, each other one 5 blocks (700 MiB
  // fixed + compute): 10 blocks need 3 GPUs.
  EXPECT_EQ(r->scale_out->n_gpus, 3u);
  EXPECT_EQ(std::accumulate(r->scale_out->tensor_split.begin(), r->scale_out->tensor_split.end(), 0u), 11u);
  EXPECT_EQ(r->scale_out->tensor_split.back(), 4u);
}

// The search runs on the engine's closed forms where it would simulate (partial offload) and
// proves its answers with the simulation: the same answers whether the closed form is 1 %, 5 % or
// 30 % off either way; no more simulated calls than a search on the simulation alone when it is
// within 1 % (2 MiB here, half a context step: the real closed forms are that close near the
// answers, memory-model.md §6).
TEST(PlanFitToy, ClosedFormSearchKeepsTheExactAnswers) {
  for (const std::uint64_t gpu : {1200 * kMiB, 1536 * kMiB, 1800 * kMiB, 2100 * kMiB})
    for (const double err : {-0.3, -0.05, -0.01, 0.01, 0.05, 0.3}) {
      Toy ref;
      auto want = fit(ref, inv(64 * kGiB, {gpu}), req());
      Toy toy;
      toy.closed_form = true;
      toy.closed_form_error = err;
      auto got = fit(toy, inv(64 * kGiB, {gpu}), req());
      ASSERT_TRUE(want && got);
      EXPECT_EQ(got->fits, want->fits) << gpu << " " << err;
      EXPECT_EQ(got->flags, want->flags) << gpu << " " << err;
      EXPECT_EQ(got->config.n_ctx, want->config.n_ctx) << gpu << " " << err;
      EXPECT_EQ(got->config.n_gpu_layers, want->config.n_gpu_layers) << gpu << " " << err;
      ASSERT_EQ(got->alternatives.size(), want->alternatives.size());
      for (std::size_t i = 0; i < got->alternatives.size(); ++i) {
        EXPECT_EQ(got->alternatives[i].flags, want->alternatives[i].flags) << gpu << " " << err << " " << i;
        EXPECT_EQ(got->alternatives[i].used, want->alternatives[i].used) << gpu << " " << err << " " << i;
      }
      for (std::size_t d = 0; d < got->budget.size(); ++d) EXPECT_EQ(got->budget[d].used, want->budget[d].used);
      if (want->config.n_gpu_layers < 11 && std::abs(err) < 0.02) {
        EXPECT_LE(toy.exact_partial_calls, ref.exact_partial_calls) << gpu << " " << err;
      }
    }
}

TEST(PlanFitToy, CpuOnlyExactBoundaryAndTrainingCap) {
  Toy toy;
  // Host: 1024 + 100 + 200 + 1000 + 300 MiB + 160 KiB per cell. 6 GiB: exactly 22528 cells.
  auto r = fit(toy, inv(6 * kGiB, {}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->fits);
  EXPECT_EQ(r->config.n_ctx, (6 * kGiB - 2624 * kMiB) / (160 * kKiB));
  EXPECT_EQ(r->config.n_ctx, 22528u);
  EXPECT_EQ(r->budget[0].used, r->budget[0].budget);  // equal is inside
  EXPECT_EQ(r->config.n_gpu_layers, 0);
  EXPECT_EQ(r->flags.rfind("-c 22528 -ngl 0", 0), 0u) << r->flags;
  auto big = fit(toy, inv(64 * kGiB, {}), req());
  ASSERT_TRUE(big);
  EXPECT_EQ(big->config.n_ctx, 32768u);
  EXPECT_EQ(big->limited_by, "n_ctx_train");
}

TEST(PlanFitToy, CgroupLimitedContainer) {
  Toy toy;
  Inventory i = inv(64 * kGiB, {});
  i.host.mem_available = 60 * kGiB;
  i.host.cgroup_limit = 5 * kGiB;
  i.host.cgroup_usage = 512 * kMiB;
  auto r = fit(toy, i, req());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->budget[0].budget, 5 * kGiB - 512 * kMiB);
  EXPECT_EQ(r->config.n_ctx, floor_to((5 * kGiB - 512 * kMiB - 2624 * kMiB) / (160 * kKiB), 256));
}

TEST(PlanFitToy, TwoUnequalGpus) {
  Toy toy;
  const std::uint64_t g0 = 2 * kGiB, g1 = 3 * kGiB;
  auto r = fit(toy, inv(64 * kGiB, {g0, g1}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_TRUE(r->fits);
  // Brute force over the closed form: device 1 (output) takes 300 MiB + s1 blocks, device 0 s0
  // blocks; each block 100 MiB + 16 KiB per cell; each device 700 MiB fixed + compute.
  std::uint64_t best = 0;
  for (std::uint64_t c = 256; c <= 32768; c += 256) {
    const std::uint64_t blk = 100 * kMiB + 16 * kKiB * c;
    const std::uint64_t s1 = (g1 - 1000 * kMiB) / blk, s0 = (g0 - 700 * kMiB) / blk;
    if (s0 + s1 >= 10) best = c;
  }
  EXPECT_EQ(r->config.n_ctx, best);
  EXPECT_EQ(r->config.n_gpu_layers, 11);
  ASSERT_EQ(r->tensor_split.size(), 2u);
  EXPECT_EQ(r->tensor_split[0] + r->tensor_split[1], 11u);
  EXPECT_NE(r->flags.find("-ts " + std::to_string(r->tensor_split[0]) + "," + std::to_string(r->tensor_split[1])),
            std::string::npos);
  // llama.cpp's own rule turns that -ts back into the same layer counts.
  const auto back = layers_from_proportions({float(r->tensor_split[0]), float(r->tensor_split[1])}, 11);
  EXPECT_EQ(back, r->tensor_split);
  for (std::size_t d = 0; d < r->budget.size(); ++d) EXPECT_LE(r->budget[d].used, r->budget[d].budget);
}

TEST(PlanFitToy, GivenValuesAreKept) {
  Toy toy;
  FitRequest q = req();
  q.n_ctx_given = true;
  q.given.n_ctx = 8192;
  q.given.n_gpu_layers = 5;
  auto r = fit(toy, inv(64 * kGiB, {4 * kGiB}), q);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->fits);
  EXPECT_EQ(r->config.n_ctx, 8192u);
  EXPECT_EQ(r->config.n_gpu_layers, 5);
  EXPECT_EQ(r->limited_by, "given");
  EXPECT_FALSE(r->scale_out);  // -ngl was the user's
  // A given KV type is kept even where f16 would fit.
  FitRequest t = req();
  t.given.type_k = Precision::kQ8_0;
  auto rk = fit(toy, inv(64 * kGiB, {4 * kGiB}), t);
  ASSERT_TRUE(rk);
  EXPECT_EQ(rk->config.type_k, Precision::kQ8_0);
  EXPECT_EQ(rk->config.type_v, Precision::kF16);
  EXPECT_NE(rk->flags.find("-ctk q8_0"), std::string::npos);
}

TEST(PlanFitToy, FlashAttentionForcedOffKeepsVUnquantized) {
  Toy toy;
  FitRequest q = req();
  q.flash_attn_given = true;
  q.given.flash_attn = FlashAttn::kOff;
  auto r = fit(toy, inv(64 * kGiB, {2400 * kMiB}), q);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->config.type_v, Precision::kF16);
  EXPECT_FALSE(r->config.flash_attn);
  for (const auto& a : r->alternatives) EXPECT_EQ(a.config.type_v, Precision::kF16);
}

TEST(PlanFitToy, RuntimeWithoutFlashAttentionSkipsThoseRungs) {
  Toy toy;
  toy.fa_supported = false;
  auto r = fit(toy, inv(64 * kGiB, {4 * kGiB}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->fits);
  EXPECT_FALSE(r->config.flash_attn);
  // Without FA the compute grows 4 KiB per cell: (4096 - 2000) MiB / (160 + 4) KiB.
  EXPECT_EQ(r->config.n_ctx, floor_to((4 * kGiB - 2000 * kMiB) / (164 * kKiB), 256));
  bool warned = false;
  for (const auto& w : r->warnings) warned |= w.find("not tried") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(PlanFitToy, NothingFits) {
  Toy toy;
  auto r = fit(toy, inv(2 * kGiB, {}), req());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_FALSE(r->fits);
  EXPECT_NE(r->reason.find("cpu needs"), std::string::npos) << r->reason;
}

TEST(PlanFitToy, ReserveComesOffEachDevice) {
  Toy toy;
  FitRequest q = req();
  q.reserve = 512 * kMiB;
  auto r = fit(toy, inv(64 * kGiB, {4 * kGiB}), q);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->budget[1].budget, 4 * kGiB - 512 * kMiB);
  EXPECT_EQ(r->config.n_ctx, floor_to((4 * kGiB - 512 * kMiB - 2000 * kMiB) / (160 * kKiB), 256));
}
