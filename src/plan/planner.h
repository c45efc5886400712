// The fit planner: budgets per device, the memory engine's per-device peaks (one engine call per
// placement, the split passed as -ts), and the policy that picks the context, -ngl, split, KV type
// and flash attention.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bitnet/memory.h"
#include "bitnet/model_info.h"
#include "bitnet/plan.h"
#include "plan/solver.h"

namespace bitnet::detail {

using EstimateFn = std::function<Result<DetailedMemoryRequirements>(const MemoryAnalysisConfig&)>;

// KV types and flash attention: one rung of the ladder the planner climbs when memory is short.
struct Knobs {
  Precision type_k = Precision::kF16;
  Precision type_v = Precision::kF16;
  FlashAttn flash_attn = FlashAttn::kAuto;
  friend bool operator==(const Knobs&, const Knobs&) = default;
};

// A placement: context in cells, layers offloaded, layers per GPU (device order).
struct Placement {
  Knobs knobs;
  std::uint32_t n_ctx = 0;
  std::uint32_t n_gpu_layers = 0;
  std::vector<std::uint32_t> split;
};

// llama.cpp's layer assignment for -ts proportions (llama-model.cpp: load_tensors): layer i of
// the k offloaded goes to upper_bound(cumulative normalised split, i / k), in float.
std::vector<std::uint32_t> layers_from_proportions(const std::vector<float>& ts, std::uint32_t k);

class Planner {
 public:
  // budget: [host, gpu0, gpu1 ...] after the reserve; names: "cpu", "cuda:0" ...
  Planner(const ModelStructureInfo& model, EstimateFn engine, std::vector<DeviceBudget> budget,
          const FitRequest& request);

  Result<FitResult> fit();

  // Per-device bytes ([host, gpu...]) of a placement.
  Result<Usage> usage(const Placement& p);
  // The padding unit of the context for these knobs (cells): n_ctx moves in these steps.
  Result<std::uint32_t> ctx_unit(const Knobs& k);
  // Greedy layer split over the GPUs (the device holding the output gets the top layers);
  // the counts may sum to less than k when k layers do not fit at this context.
  Result<std::vector<std::uint32_t>> split_for(const Knobs& k, std::uint32_t n_ctx, std::uint32_t ngl);
  Result<ResolvedConfig> resolved(const Placement& p);
  std::string flags(const Placement& p, const ResolvedConfig& rc) const;
  const std::vector<std::uint64_t>& budget_bytes() const noexcept { return budget_bytes_; }
  std::uint32_t max_ngl() const noexcept { return model_.n_layer + 1; }
  std::uint32_t engine_calls() const noexcept { return engine_calls_; }
  void set_threads(std::uint32_t t) noexcept { threads_ = t; }

 private:
  struct Eval {  // one engine call: per-device peaks and the resolved settings
    Usage used;
    ResolvedConfig config;
  };
  MemoryAnalysisConfig base_config(const Knobs& k, std::uint32_t n_ctx, std::int32_t ngl) const;
  // One placement's usage: the engine's exact answer, or while a search probes (fast_), its
  // closed-form compute buffers where it would simulate the scheduler (simulate_compute off).
  Result<const Eval*> eval(const Knobs& k, std::uint32_t n_ctx, std::uint32_t ngl,
                           const std::vector<std::uint32_t>& split);
  // solve_max over f, searched with the engine's closed forms and proven with its simulation
  // (solve_max_verified): every answer, and the step beyond it, is exact.
  Result<MaxSolve> solve(std::int64_t lo, std::int64_t hi, const std::function<Result<Usage>(std::int64_t)>& f,
                         const std::vector<std::uint64_t>& budget, bool from_below = false);
  Result<std::vector<Knobs>> ladder(bool quantized_kv);
  std::uint32_t ctx_cap(std::uint32_t unit) const;

  struct Option {  // the best placement under one rung
    bool ok = false;
    Placement placement;
    Usage used;
    std::string limited_by;
  };
  Result<Option> best_context(const Knobs& k, std::uint32_t ngl, std::uint32_t x_lo);
  Result<Option> best_context_split(const Knobs& k, std::uint32_t ngl, std::int64_t x_lo,
                                    std::int64_t x_hi, std::uint32_t unit);
  Result<Option> best_layers(const Knobs& k, std::uint32_t x);
  std::string limiter(const std::optional<Usage>& next) const;

  const ModelStructureInfo& model_;
  EstimateFn engine_;
  std::vector<DeviceBudget> budget_;
  std::vector<std::uint64_t> budget_bytes_;
  FitRequest request_;
  std::size_t n_gpus_ = 0;
  std::uint32_t engine_calls_ = 0;
  std::uint32_t threads_ = 0;
  std::vector<std::string> skipped_;  // rungs the runtime refuses
  using EvalKey = std::tuple<int, int, int, std::uint32_t, std::uint32_t, std::vector<std::uint32_t>>;
  std::map<EvalKey, Eval> cache_;       // exact
  std::map<EvalKey, Eval> fast_cache_;  // closed-form compute buffers (differing from cache_)
  bool fast_ = false;                   // eval() answers from the closed forms (inside solve())
  struct UnitProbe {
    std::optional<Error> error;  // the runtime refuses these knobs (e.g. no flash attention)
    std::uint32_t unit = 0;
    bool flash_attn = false;     // what auto resolved to
  };
  Result<const UnitProbe*> probe(const Knobs& k);
  std::map<std::tuple<int, int, int>, UnitProbe> unit_cache_;
  // split_for: where a GPU could not take even one layer (per knobs, GPU and layers placed above
  // it: the -ngl and context of each such answer). Its usage with one layer only grows with the
  // context and with -ngl (more offloaded layers: pipeline copies at full offload, a cuBLAS GEMM
  // weight anywhere), so at a larger context and -ngl it takes none either, without two more
  // estimates. Kept only where another GPU held layers in that trial (alone on the GPUs, the
  // partial-offload simulation decides, which this ordering does not cover).
  std::map<std::tuple<int, int, int, std::size_t, std::uint32_t>, std::vector<std::pair<std::uint32_t, std::uint32_t>>>
      no_layer_;
};

// Budgets for an inventory: host first, then each GPU; usable minus the reserve.
std::vector<DeviceBudget> budgets_for(const Inventory& inv, std::uint64_t reserve);

}  // namespace bitnet::detail

namespace bitnet::detail {

// The fit over any engine (tests pass a model of their own; the API passes the loader's).
Result<FitResult> fit_with_engine(const ModelStructureInfo& model, const EstimateFn& engine,
                                  const Inventory& inventory, const FitRequest& request);
Result<ScaleOutPlan> scale_out(const ModelStructureInfo& model, const EstimateFn& engine,
                               std::string_view gpu_kind, std::uint64_t gpu_bytes,
                               const FitRequest& request, std::uint32_t max_gpus);

}  // namespace bitnet::detail
