// The fit: the largest configuration that fits the budgets (planner issue, peers.md idea 5).
//
// Policy (what is given is kept; only what is unset is solved), in order:
//   A. The target -ngl (given, else every layer incl. the output on the GPUs, else 0 without
//      GPUs) at a context of at least the floor (-fitc, 4096, or n_ctx_train if smaller), climbing
//      the KV ladder (f16 -> flash attention -> q8_0 -> q4_0) only as far as needed; then the
//      largest context, up to n_ctx_train per sequence.
//   B. Fewer layers (as llama.cpp's fit does once the context is at its floor): the largest -ngl
//      at the floor context with unquantized KV, then the largest context at that -ngl.
//   C. Below the floor: the largest context that fits at all, with a warning.
// Every step solves the engine's piecewise-linear equations (solver.h), never loads anything.
#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <numeric>
#include <span>

#include <fmt/format.h>

#include "bitnet/loader.h"
#include "bitnet/plan.h"
#include "plan/planner.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

// The KV ladder, in order of preference (each rung costs quality or speed, or needs a kernel).
struct Rung {
  Precision type_k, type_v;
  FlashAttn flash_attn;
  std::string_view why;
};
// clang-format off
constexpr Rung kLadder[] = {
  {Precision::kF16,  Precision::kF16,  FlashAttn::kAuto, "f16 KV, flash attention as the runtime decides"},
  {Precision::kF16,  Precision::kF16,  FlashAttn::kOn,   "flash attention on: no n_kv x n_head KQ in the compute and work buffers (memory-model.md §6, §7)"},
  {Precision::kQ8_0, Precision::kQ8_0, FlashAttn::kOn,   "q8_0 KV: 34/64 of f16; a quantized V needs flash attention (memory-model.md §5)"},
  {Precision::kQ4_0, Precision::kQ4_0, FlashAttn::kOn,   "q4_0 KV: 18/64 of f16; a quantized V needs flash attention"},
};
// With flash attention forced off, only K may be quantized (llama.cpp refuses a quantized V).
constexpr Rung kLadderNoFa[] = {
  {Precision::kF16,  Precision::kF16, FlashAttn::kOff, "f16 KV, flash attention off (given)"},
  {Precision::kQ8_0, Precision::kF16, FlashAttn::kOff, "q8_0 K: a quantized V would need flash attention"},
  {Precision::kQ4_0, Precision::kF16, FlashAttn::kOff, "q4_0 K: a quantized V would need flash attention"},
};
// clang-format on

std::string_view rung_why(const Knobs& k) {
  for (const Rung& r : kLadder)
    if (r.type_k == k.type_k && r.type_v == k.type_v && r.flash_attn == k.flash_attn) return r.why;
  for (const Rung& r : kLadderNoFa)
    if (r.type_k == k.type_k && r.type_v == k.type_v && r.flash_attn == k.flash_attn) return r.why;
  return "as given";
}

std::string join_split(const std::vector<std::uint32_t>& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out;
}

std::string mib(std::uint64_t b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / 1048576.0); }

}  // namespace

std::vector<std::uint32_t> layers_from_proportions(const std::vector<float>& ts, std::uint32_t k) {
  std::vector<std::uint32_t> out(ts.size(), 0);
  if (ts.empty()) return out;
  std::vector<float> splits(ts.size());
  float sum = 0.0f;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    sum += ts[i];
    splits[i] = sum;
  }
  for (float& s : splits) s /= sum;
  for (std::uint32_t il = 0; il < k; ++il) {
    const float v = float(il) / float(k);
    auto it = std::upper_bound(splits.begin(), splits.end(), v);
    std::size_t d = static_cast<std::size_t>(it - splits.begin());
    if (d >= out.size()) d = out.size() - 1;
    ++out[d];
  }
  return out;
}

std::vector<DeviceBudget> budgets_for(const Inventory& inv, std::uint64_t reserve) {
  std::vector<DeviceBudget> b;
  DeviceBudget h;
  h.device = "cpu";
  h.name = inv.host.source.empty() ? "host" : "host (" + inv.host.source + ")";
  h.usable = inv.host.usable_bytes();
  h.reserve = reserve;
  h.budget = h.usable > reserve ? h.usable - reserve : 0;
  b.push_back(h);
  for (const GpuInventory& g : inv.gpus) {
    DeviceBudget d;
    d.device = "cuda:" + std::to_string(g.index);
    d.name = g.name;
    d.usable = g.usable_bytes();
    d.reserve = reserve;
    d.budget = d.usable > reserve ? d.usable - reserve : 0;
    b.push_back(d);
  }
  return b;
}

Planner::Planner(const ModelStructureInfo& model, EstimateFn engine, std::vector<DeviceBudget> budget,
                 const FitRequest& request)
    : model_(model), engine_(std::move(engine)), budget_(std::move(budget)), request_(request) {
  for (const DeviceBudget& d : budget_) budget_bytes_.push_back(d.budget);
  n_gpus_ = budget_.empty() ? 0 : budget_.size() - 1;
}

// The user's flags with one fit step's knobs, on the first GPU (or the CPU), no split, quiet.
MemoryAnalysisConfig Planner::base_config(const Knobs& k, std::uint32_t n_ctx, std::int32_t ngl) const {
  MemoryAnalysisConfig cfg;
  cfg.runtime = request_.given;
  cfg.runtime.n_ctx = n_ctx;
  cfg.runtime.type_k = k.type_k;
  cfg.runtime.type_v = k.type_v;
  cfg.runtime.flash_attn = k.flash_attn;
  Device dev;
  if (n_gpus_ > 0) dev = Device{Device::Kind::kCuda, 0};
  cfg.runtime.device = dev;
  cfg.runtime.n_gpu_layers = ngl;
  cfg.runtime.devices.clear();
  cfg.runtime.tensor_split.clear();
  cfg.device = dev;
  cfg.suggestions = false;
  cfg.detailed_breakdown = false;
  return cfg;
}

Result<const Planner::Eval*> Planner::eval(const Knobs& k, std::uint32_t n_ctx, std::uint32_t ngl,
                                           const std::vector<std::uint32_t>& split) {
  const std::vector<std::uint32_t> key_split = n_gpus_ > 1 ? split : std::vector<std::uint32_t>{};
  const EvalKey key = std::make_tuple(static_cast<int>(k.type_k), static_cast<int>(k.type_v),
                                      static_cast<int>(k.flash_attn), n_ctx, ngl, key_split);
  if (auto it = cache_.find(key); it != cache_.end()) return &it->second;
  if (fast_)
    if (auto it = fast_cache_.find(key); it != fast_cache_.end()) return &it->second;
  MemoryAnalysisConfig cfg = base_config(k, n_ctx, n_gpus_ > 0 ? static_cast<std::int32_t>(ngl) : 0);
  cfg.simulate_compute = !fast_;
  if (n_gpus_ == 1) cfg.gpu_name = budget_[1].name;
  if (n_gpus_ > 1) {
    // The split as llama.cpp's -ts: layer counts are proportions that give exactly these counts.
    const bool none = std::all_of(split.begin(), split.end(), [](std::uint32_t x) { return x == 0; });
    for (std::size_t j = 0; j < n_gpus_; ++j) {
      const auto d = Device::parse(budget_[1 + j].device);
      cfg.runtime.devices.push_back(d ? *d : Device{Device::Kind::kCuda, static_cast<std::uint32_t>(j)});
      cfg.runtime.tensor_split.push_back(none || j >= split.size() ? 1.0f : static_cast<float>(split[j]));
      cfg.gpu_names.push_back(budget_[1 + j].name);
    }
    cfg.device = cfg.runtime.devices.front();
    cfg.runtime.device = cfg.device;
  }
  ++engine_calls_;
  auto r = engine_(cfg);
  if (!r) return std::move(r).error();
  const DetailedMemoryRequirements& d = *r;
  Eval e;
  e.used.push_back(d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes);
  if (n_gpus_ == 1) e.used.push_back(d.peak_usage.gpu_bytes.value_or(0));
  if (n_gpus_ > 1) {
    if (d.devices.size() != n_gpus_)
      return Error{Errc::kInternal, "the engine returned " + std::to_string(d.devices.size()) +
                                        " GPU shares for " + std::to_string(n_gpus_) + " GPUs",
                   kNoOffset, "tensor_split", "please report this"};
    for (const DeviceUsage& u : d.devices) e.used.push_back(u.peak_bytes);
  }
  e.config = d.config;
  // Where no closed form stood in, the answer is the exact one.
  if (d.compute_closed_form) return &fast_cache_.emplace(key, std::move(e)).first->second;
  return &cache_.emplace(key, std::move(e)).first->second;
}

Result<MaxSolve> Planner::solve(std::int64_t lo, std::int64_t hi, const std::function<Result<Usage>(std::int64_t)>& f,
                                const std::vector<std::uint64_t>& budget, bool from_below) {
  // f may itself solve (split_for inside a usage): each mode is restored on the way out.
  auto in_mode = [this, &f](bool fast, std::int64_t x) -> Result<Usage> {
    const bool saved = fast_;
    fast_ = fast;
    Result<Usage> u = f(x);
    fast_ = saved;
    return u;
  };
  return solve_max_verified(
      lo, hi, [&](std::int64_t x) { return in_mode(false, x); }, [&](std::int64_t x) { return in_mode(true, x); },
      budget, from_below);
}

Result<const Planner::UnitProbe*> Planner::probe(const Knobs& k) {
  const auto key = std::make_tuple(static_cast<int>(k.type_k), static_cast<int>(k.type_v),
                                   static_cast<int>(k.flash_attn));
  if (auto it = unit_cache_.find(key); it != unit_cache_.end()) return &it->second;
  // The runtime profile's cell padding and stream layout: resolve a one-cell context with the
  // given sequences; n_ctx pads to the profile's unit, and each non-unified stream takes one.
  // The padding unit depends on neither the split nor -ngl (nor does -fa auto: that is the build,
  // resolve.cpp); every layer offloaded keeps the engine on its closed forms, where ngl 0 in a
  // CUDA build would run the partial-offload simulation for nothing.
  MemoryAnalysisConfig cfg = base_config(k, 1, n_gpus_ > 0 ? static_cast<std::int32_t>(max_ngl()) : 0);
  if (n_gpus_ > 0) cfg.gpu_name = budget_[n_gpus_].name;
  ++engine_calls_;
  UnitProbe u;
  auto r = engine_(cfg);
  if (!r) {
    if (r.error().code != Errc::kInvalidArgument) return std::move(r).error();
    u.error = std::move(r).error();
  } else {
    const ResolvedConfig& rc = r->config;
    if (rc.n_ctx == 0)
      return Error{Errc::kInternal, "the engine resolved a one-cell context to 0 cells", kNoOffset,
                   "n_ctx", "please report this"};
    u.unit = rc.kv_unified ? rc.n_ctx : rc.n_ctx * std::max(1u, rc.n_seq);
    u.flash_attn = rc.flash_attn;
  }
  return &unit_cache_.emplace(key, std::move(u)).first->second;
}

Result<std::uint32_t> Planner::ctx_unit(const Knobs& k) {
  BITNET_ASSIGN_OR_RETURN(const UnitProbe* u, probe(k));
  if (u->error) return *u->error;
  return u->unit;
}

std::uint32_t Planner::ctx_cap(std::uint32_t unit) const {
  const std::uint64_t seqs = std::max(1u, request_.given.max_batch_size);
  std::uint64_t cap = std::uint64_t{model_.n_ctx_train == 0 ? kDefaultFitContextMin : model_.n_ctx_train} * seqs;
  cap = cap / unit * unit;
  if (cap < unit) cap = unit;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(cap, std::numeric_limits<std::uint32_t>::max() / unit * unit));
}

Result<std::vector<std::uint32_t>> Planner::split_for(const Knobs& k, std::uint32_t n_ctx, std::uint32_t ngl) {
  if (n_gpus_ == 0) return std::vector<std::uint32_t>{};
  if (n_gpus_ == 1) return std::vector<std::uint32_t>{ngl};
  if (!request_.tensor_split.empty()) {
    std::vector<float> ts(n_gpus_, 0.0f);
    for (std::size_t i = 0; i < ts.size() && i < request_.tensor_split.size(); ++i)
      ts[i] = static_cast<float>(request_.tensor_split[i]);
    return layers_from_proportions(ts, ngl);
  }
  // Filled from the top (the last GPU holds the output layer): each GPU takes the most layers its
  // own budget allows, the engine's bytes for that GPU being linear in its layer count (solve_max:
  // two estimates, a solve, the answer and one more checked); GPU 0 takes the rest.
  std::vector<std::uint32_t> split(n_gpus_, 0);
  std::uint32_t placed = 0;
  for (std::size_t jj = n_gpus_; jj-- > 1;) {
    if (placed >= ngl) break;
    const auto none_key = std::make_tuple(static_cast<int>(k.type_k), static_cast<int>(k.type_v),
                                          static_cast<int>(k.flash_attn), jj, placed);
    if (const auto it = no_layer_.find(none_key); it != no_layer_.end()) {
      const bool none = std::any_of(it->second.begin(), it->second.end(),
                                    [&](const auto& at) { return at.first <= ngl && at.second <= n_ctx; });
      if (none) continue;  // split[jj] stays 0
    }
    auto f = [&](std::int64_t s) -> Result<Usage> {
      std::vector<std::uint32_t> trial = split;
      trial[jj] = static_cast<std::uint32_t>(s);
      trial[jj - 1] = ngl - placed - static_cast<std::uint32_t>(s);
      BITNET_ASSIGN_OR_RETURN(const Eval* e, eval(k, n_ctx, ngl, trial));
      Usage u(1 + n_gpus_, 0);
      u[1 + jj] = e->used[1 + jj];
      return u;
    };
    std::vector<std::uint64_t> only(1 + n_gpus_, kUnbounded);
    only[1 + jj] = budget_bytes_[1 + jj];
    // From one layer up: the first layer a GPU takes adds its compute buffer (and, on the top GPU,
    // is the output layer), so the line starts at 1; when even 1 does not fit, the GPU takes none.
    // From below: the top of this search puts every remaining layer on this GPU, a one-GPU
    // placement (with partial offload, the costly scheduler simulation) the answer rarely is.
    BITNET_ASSIGN_OR_RETURN(const MaxSolve m, solve(1, ngl - placed, f, only, /*from_below=*/true));
    split[jj] = m.x ? static_cast<std::uint32_t>(*m.x) : 0;
    if (!m.x && ngl - placed > 1) no_layer_[none_key].emplace_back(ngl, n_ctx);
    placed += split[jj];
  }
  // What the others do not hold lands on GPU 0 (so flags and usage say the same, over budget there).
  split[0] = ngl - placed;
  return split;
}

Result<Usage> Planner::usage(const Placement& p) {
  std::vector<std::uint32_t> split = p.split;
  if (n_gpus_ > 1 && split.size() != n_gpus_) {
    BITNET_ASSIGN_OR_RETURN(split, split_for(p.knobs, p.n_ctx, p.n_gpu_layers));
  }
  BITNET_ASSIGN_OR_RETURN(const Eval* e, eval(p.knobs, p.n_ctx, n_gpus_ > 0 ? p.n_gpu_layers : 0, split));
  return e->used;
}

Result<ResolvedConfig> Planner::resolved(const Placement& p) {
  BITNET_ASSIGN_OR_RETURN(const Eval* e, eval(p.knobs, p.n_ctx, n_gpus_ > 0 ? p.n_gpu_layers : 0, p.split));
  ResolvedConfig rc = e->config;
  rc.n_gpu_layers = static_cast<std::int32_t>(n_gpus_ > 0 ? p.n_gpu_layers : 0);
  return rc;
}

std::string Planner::flags(const Placement& p, const ResolvedConfig& rc) const {
  const RuntimeConfig& g = request_.given;
  std::string f = fmt::format("-c {} -ngl {}", rc.n_ctx, n_gpus_ > 0 ? p.n_gpu_layers : 0);
  if (n_gpus_ > 1) f += " -ts " + join_split(p.split);
  if (p.knobs.type_k != Precision::kF16 || g.type_k) f += " -ctk " + std::string(precision_name(p.knobs.type_k));
  if (p.knobs.type_v != Precision::kF16 || g.type_v) f += " -ctv " + std::string(precision_name(p.knobs.type_v));
  if (p.knobs.flash_attn != FlashAttn::kAuto) f += " -fa " + std::string(flash_attn_name(p.knobs.flash_attn));
  if (g.max_batch_size > 1) f += fmt::format(" -np {}", g.max_batch_size);
  if (g.kv_unified) f += " -kvu";
  if (g.n_batch != RuntimeConfig{}.n_batch) f += fmt::format(" -b {}", g.n_batch);
  if (g.n_ubatch != RuntimeConfig{}.n_ubatch) f += fmt::format(" -ub {}", g.n_ubatch);
  if (!g.mmap) f += " --no-mmap";
  if (g.no_kv_offload) f += " -nkvo";
  if (rc.n_threads > 0) f += fmt::format(" -t {}", rc.n_threads);
  return f;
}

std::string Planner::limiter(const std::optional<Usage>& next) const {
  if (!next) return {};
  for (std::size_t d = 0; d < next->size() && d < budget_.size(); ++d)
    if ((*next)[d] > budget_bytes_[d]) return budget_[d].device;
  return {};
}

Result<std::vector<Knobs>> Planner::ladder(bool quantized_kv) {
  const RuntimeConfig& g = request_.given;
  const bool fa_off = request_.flash_attn_given && g.flash_attn == FlashAttn::kOff;
  std::vector<Knobs> out;
  for (const Rung& r : fa_off ? std::span<const Rung>(kLadderNoFa) : std::span<const Rung>(kLadder)) {
    Knobs k{g.type_k.value_or(r.type_k), g.type_v.value_or(r.type_v), r.flash_attn};
    if (request_.flash_attn_given) k.flash_attn = g.flash_attn;
    const bool quantized = precision_is_quantized(k.type_k) || precision_is_quantized(k.type_v);
    if (!quantized_kv && quantized && !(g.type_k || g.type_v)) continue;
    if (precision_is_quantized(k.type_v) && k.flash_attn == FlashAttn::kAuto) k.flash_attn = FlashAttn::kOn;
    if (std::find(out.begin(), out.end(), k) != out.end()) continue;
    BITNET_ASSIGN_OR_RETURN(const UnitProbe* u, probe(k));
    if (u->error) {  // the runtime refuses this rung (no flash attention, quantized V without it)
      if (std::find(skipped_.begin(), skipped_.end(), u->error->message) == skipped_.end())
        skipped_.push_back(u->error->message);
      continue;
    }
    // "on" where auto already resolves to on is the same configuration: keep the plain one.
    if (k.flash_attn == FlashAttn::kOn && !request_.flash_attn_given) {
      Knobs a = k;
      a.flash_attn = FlashAttn::kAuto;
      BITNET_ASSIGN_OR_RETURN(const UnitProbe* ua, probe(a));
      if (!ua->error && ua->flash_attn && std::find(out.begin(), out.end(), a) != out.end()) continue;
    }
    out.push_back(k);
  }
  if (out.empty())
    return Error{Errc::kInvalidArgument,
                 "the runtime accepts none of the KV/flash-attention settings to try" +
                     (skipped_.empty() ? std::string() : ": " + skipped_.front()),
                 kNoOffset, "type_v", "check -ctk/-ctv/-fa against --runtime"};
  return out;
}

Result<Planner::Option> Planner::best_context(const Knobs& k, std::uint32_t ngl, std::uint32_t x_lo) {
  Option o;
  if (request_.n_ctx_given) {
    Placement p{k, request_.given.n_ctx, ngl, {}};
    BITNET_ASSIGN_OR_RETURN(p.split, split_for(k, p.n_ctx, ngl));
    BITNET_ASSIGN_OR_RETURN(o.used, usage(p));
    o.ok = usage_fits(o.used, budget_bytes_);
    o.placement = std::move(p);
    o.limited_by = o.ok ? "given" : limiter(o.used);
    return o;
  }
  BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(k));
  const std::int64_t x_hi = ctx_cap(unit) / unit;
  if (n_gpus_ > 1 && request_.tensor_split.empty())
    return best_context_split(k, ngl, std::min<std::int64_t>(x_lo, x_hi), x_hi, unit);
  auto f = [&](std::int64_t x) -> Result<Usage> {
    const auto n_ctx = static_cast<std::uint32_t>(x * unit);
    BITNET_ASSIGN_OR_RETURN(const std::vector<std::uint32_t> split, split_for(k, n_ctx, ngl));
    return usage(Placement{k, n_ctx, ngl, split});
  };
  BITNET_ASSIGN_OR_RETURN(const MaxSolve m, solve(std::min<std::int64_t>(x_lo, x_hi), x_hi, f, budget_bytes_));
  const std::int64_t x = m.x.value_or(std::min<std::int64_t>(x_lo, x_hi));
  o.placement = Placement{k, static_cast<std::uint32_t>(x * unit), ngl, {}};
  BITNET_ASSIGN_OR_RETURN(o.placement.split, split_for(k, o.placement.n_ctx, ngl));
  o.used = m.at_x;
  o.ok = m.x.has_value();
  o.limited_by = !o.ok ? limiter(m.at_x) : (m.at_next ? limiter(m.at_next) : "n_ctx_train");
  return o;
}

// Several GPUs, split solved: the split that fits changes with the context (a layer moves down a
// GPU whenever one fills), so the usage under "the best split at x" is a staircase, not a line.
// Each GPU's usage at a fixed split is piecewise linear in x, and the staircase only steps where
// some GPU's own line crosses its budget. So: (1) an upper bound from the GPUs pooled at the floor's
// split (linear: solve_max); (2) while the best split at x does not fit, jump to the largest context
// below x at which some GPU holds one more layer (GPU 0: its remainder) -- each a solve of that
// GPU's own line; (3) check that x + 1 under its own best split does not fit (where it does, a
// layer pattern the lines did not see: climb at that split and check again).
Result<Planner::Option> Planner::best_context_split(const Knobs& k, std::uint32_t ngl, std::int64_t x_lo,
                                                    std::int64_t x_hi, std::uint32_t unit) {
  Option o;
  auto ctx = [&](std::int64_t x) { return static_cast<std::uint32_t>(x * unit); };
  auto at = [&](std::int64_t x, const std::vector<std::uint32_t>& split) -> Result<Usage> {
    BITNET_ASSIGN_OR_RETURN(const Eval* e, eval(k, ctx(x), ngl, split));
    return e->used;
  };
  BITNET_ASSIGN_OR_RETURN(std::vector<std::uint32_t> split, split_for(k, ctx(x_lo), ngl));
  BITNET_ASSIGN_OR_RETURN(Usage used, at(x_lo, split));
  std::int64_t x = x_lo;
  if (!usage_fits(used, budget_bytes_)) {
    o.placement = Placement{k, ctx(x_lo), ngl, std::move(split)};
    o.used = std::move(used);
    o.limited_by = limiter(o.used);
    return o;
  }
  // (1) The GPUs that hold layers at the floor pooled: [host, their sum] against [host budget, the
  // sum of their budgets]. A GPU without a layer at the floor holds none at any larger context
  // (each GPU's share only shrinks as the context grows), so its spare budget is no room for
  // the others: pooling it in would only loosen the bound (three GPUs, two of them too small for
  // a layer: 45056 cells against an answer of 5632, four more simulations per KV type).
  {
    std::uint64_t pooled_budget = 0;
    for (std::size_t j = 1; j < budget_bytes_.size(); ++j)
      if (split[j - 1] > 0) pooled_budget += budget_bytes_[j];
    auto pooled = [&](std::int64_t xx) -> Result<Usage> {
      BITNET_ASSIGN_OR_RETURN(const Usage u, at(xx, split));
      std::uint64_t sum = 0;
      for (std::size_t j = 1; j < u.size(); ++j)
        if (split[j - 1] > 0) sum += u[j];
      return Usage{u[0], sum};
    };
    BITNET_ASSIGN_OR_RETURN(const MaxSolve m, solve(x_lo, x_hi, pooled, {budget_bytes_[0], pooled_budget}));
    x = m.x.value_or(x_lo);
  }
  // (2) Down the staircase.
  const int kMaxSteps = 4 * static_cast<int>(max_ngl()) + 8;  // each step gains a layer of room
  for (int step = 0; step < kMaxSteps; ++step) {
    BITNET_ASSIGN_OR_RETURN(split, split_for(k, ctx(x), ngl));
    BITNET_ASSIGN_OR_RETURN(used, at(x, split));
    if (usage_fits(used, budget_bytes_) || x <= x_lo) break;
    std::int64_t next = x_lo;
    for (std::size_t j = 0; j < n_gpus_; ++j) {
      std::vector<std::uint32_t> more = split;
      if (j > 0) {
        if (more[0] == 0) continue;
        ++more[j];
        --more[0];
      }
      std::vector<std::uint64_t> only(1 + n_gpus_, kUnbounded);
      only[1 + j] = budget_bytes_[1 + j];
      auto f = [&](std::int64_t xx) { return at(xx, more); };
      BITNET_ASSIGN_OR_RETURN(const MaxSolve m, solve(x_lo, x - 1, f, only));
      if (m.x) next = std::max(next, *m.x);
    }
    x = next;
  }
  // (3) The next step must not fit under its own best split.
  std::optional<Usage> at_next;
  for (int step = 0; step < kMaxSteps && x < x_hi; ++step) {
    BITNET_ASSIGN_OR_RETURN(std::vector<std::uint32_t> s1, split_for(k, ctx(x + 1), ngl));
    BITNET_ASSIGN_OR_RETURN(Usage u1, at(x + 1, s1));
    if (!usage_fits(u1, budget_bytes_)) {
      at_next = std::move(u1);
      break;
    }
    auto f = [&](std::int64_t xx) { return at(xx, s1); };
    BITNET_ASSIGN_OR_RETURN(const MaxSolve m, solve(x + 1, x_hi, f, budget_bytes_));
    x = m.x.value_or(x + 1);
    split = std::move(s1);
    used = m.at_x;
  }
  o.placement = Placement{k, ctx(x), ngl, std::move(split)};
  o.used = std::move(used);
  o.ok = usage_fits(o.used, budget_bytes_);
  o.limited_by = !o.ok ? limiter(o.used) : (at_next ? limiter(at_next) : "n_ctx_train");
  return o;
}

Result<Planner::Option> Planner::best_layers(const Knobs& k, std::uint32_t n_ctx) {
  Option o;
  const std::uint32_t n = max_ngl();
  std::vector<std::uint64_t> gpu_only = budget_bytes_;
  gpu_only[0] = kUnbounded;  // host memory falls as layers leave it: checked at the answer
  auto f = [&](std::int64_t kk) -> Result<Usage> {
    const auto ngl = static_cast<std::uint32_t>(kk);
    BITNET_ASSIGN_OR_RETURN(const std::vector<std::uint32_t> split, split_for(k, n_ctx, ngl));
    return usage(Placement{k, n_ctx, ngl, split});
  };
  BITNET_ASSIGN_OR_RETURN(const MaxSolve m, solve(0, n, f, gpu_only));
  const std::uint32_t ngl = m.x ? static_cast<std::uint32_t>(*m.x) : 0;
  o.placement = Placement{k, n_ctx, ngl, {}};
  BITNET_ASSIGN_OR_RETURN(o.placement.split, split_for(k, n_ctx, ngl));
  BITNET_ASSIGN_OR_RETURN(o.used, usage(o.placement));
  o.ok = m.x.has_value() && usage_fits(o.used, budget_bytes_);
  o.limited_by = !m.x ? limiter(m.at_x) : (!o.ok ? "cpu" : (m.at_next ? limiter(m.at_next) : ""));
  return o;
}

Result<FitResult> Planner::fit() {
  FitResult res;
  res.budget = budget_;
  const RuntimeConfig& g = request_.given;
  const std::uint32_t n = max_ngl();
  const bool ngl_fixed = g.n_gpu_layers.has_value() || n_gpus_ == 0;
  std::uint32_t ngl_target = n_gpus_ > 0 ? n : 0;
  if (g.n_gpu_layers && n_gpus_ > 0)
    ngl_target = *g.n_gpu_layers < 0 ? n : std::min<std::uint32_t>(static_cast<std::uint32_t>(*g.n_gpu_layers), n);
  if (g.n_gpu_layers && *g.n_gpu_layers > 0 && n_gpus_ == 0)
    res.warnings.push_back("-ngl is set but the inventory has no GPU: planning for the CPU");

  BITNET_ASSIGN_OR_RETURN(const std::vector<Knobs> rungs, ladder(true));
  auto floor_x = [&](const Knobs& k) -> Result<std::uint32_t> {
    BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(k));
    const std::uint32_t cap = ctx_cap(unit);
    const std::uint32_t fl = std::min(cap, std::max(request_.n_ctx_min, unit));
    return (fl + unit - 1) / unit;
  };

  std::optional<Option> chosen;
  std::string stage;
  // A: the target -ngl at a context >= the floor, climbing the KV ladder.
  for (const Knobs& k : rungs) {
    BITNET_ASSIGN_OR_RETURN(const std::uint32_t xf, floor_x(k));
    BITNET_ASSIGN_OR_RETURN(Option o, best_context(k, ngl_target, xf));
    if (o.ok) {
      chosen = std::move(o);
      stage = "A";
      break;
    }
  }
  // B: fewer layers, unquantized KV, at the floor context; then the largest context there.
  if (!chosen && !ngl_fixed) {
    std::optional<Option> best;
    BITNET_ASSIGN_OR_RETURN(const std::vector<Knobs> base, ladder(false));
    for (const Knobs& k : base) {
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(k));
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t xf, floor_x(k));
      const std::uint32_t ctx0 = request_.n_ctx_given ? g.n_ctx : xf * unit;
      BITNET_ASSIGN_OR_RETURN(Option o, best_layers(k, ctx0));
      if (o.ok && (!best || o.placement.n_gpu_layers > best->placement.n_gpu_layers)) best = std::move(o);
    }
    if (best) {
      const std::string layer_limit = best->limited_by;
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t xf, floor_x(best->placement.knobs));
      BITNET_ASSIGN_OR_RETURN(Option o, best_context(best->placement.knobs, best->placement.n_gpu_layers, xf));
      if (o.ok) {
        o.limited_by = "layers: " + layer_limit + "; context: " + o.limited_by;
        chosen = std::move(o);
        stage = "B";
      }
    }
  }
  // C: below the floor.
  if (!chosen && !request_.n_ctx_given) {
    for (const Knobs& k : rungs) {
      std::uint32_t ngl = ngl_target;
      if (!ngl_fixed) {
        BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(k));
        BITNET_ASSIGN_OR_RETURN(const Option l, best_layers(k, unit));
        if (!l.ok) continue;
        ngl = l.placement.n_gpu_layers;
      }
      BITNET_ASSIGN_OR_RETURN(Option o, best_context(k, ngl, 1));
      if (o.ok && (!chosen || o.placement.n_ctx > chosen->placement.n_ctx)) {
        chosen = std::move(o);
        stage = "C";
      }
    }
    if (chosen)
      res.warnings.push_back(fmt::format("the context is below the floor of {} cells", request_.n_ctx_min));
  }

  Option final_opt;
  if (chosen) {
    final_opt = std::move(*chosen);
  } else {
    // Report the smallest configuration tried: the last rung, the least context, no offload change.
    const Knobs& k = rungs.back();
    BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(k));
    final_opt.placement = Placement{k, request_.n_ctx_given ? g.n_ctx : unit, ngl_target, {}};
    BITNET_ASSIGN_OR_RETURN(final_opt.placement.split, split_for(k, final_opt.placement.n_ctx, ngl_target));
    BITNET_ASSIGN_OR_RETURN(final_opt.used, usage(final_opt.placement));
    final_opt.limited_by = limiter(final_opt.used);
  }
  res.fits = final_opt.ok;
  BITNET_ASSIGN_OR_RETURN(res.config, resolved(final_opt.placement));
  res.config.n_threads = g.n_threads != 0 ? g.n_threads : threads_;
  if (n_gpus_ > 1) res.tensor_split = final_opt.placement.split;
  res.flags = flags(final_opt.placement, res.config);
  for (std::size_t d = 0; d < res.budget.size() && d < final_opt.used.size(); ++d)
    res.budget[d].used = final_opt.used[d];
  res.limited_by = final_opt.limited_by;

  const Placement& p = final_opt.placement;
  const std::string where =
      n_gpus_ == 0 ? std::string("CPU only")
      : p.n_gpu_layers == 0 ? std::string("CPU (no layer offloaded)")
      : p.n_gpu_layers >= n ? fmt::format("all {} layers on {} GPU{}", n, n_gpus_, n_gpus_ > 1 ? "s" : "")
                            : fmt::format("{} of {} layers on the GPU{}", p.n_gpu_layers, n, n_gpus_ > 1 ? "s" : "");
  if (res.fits) {
    res.reason = fmt::format("{}, {}; {} context cells ({}); limited by {}", where, rung_why(p.knobs),
                             res.config.n_ctx,
                             stage == "A" ? "the target offload at the largest context"
                             : stage == "B" ? "the offload reduced at the floor context, then the context grown"
                                            : "below the floor: the largest context that fits",
                             res.limited_by.empty() ? "nothing" : res.limited_by);
  } else {
    std::string over;
    for (std::size_t d = 0; d < res.budget.size(); ++d)
      if (res.budget[d].used > res.budget[d].budget)
        over += fmt::format("{}{} needs {} > budget {}", over.empty() ? "" : "; ", res.budget[d].device,
                            mib(res.budget[d].used), mib(res.budget[d].budget));
    res.reason = "does not fit even with the smallest configuration tried (" + where + ", " +
                 std::string(rung_why(p.knobs)) + "): " + over;
  }

  // Alternatives: each rung's best (context x KV type x ngl), then the need at the full context.
  if (request_.alternatives) {
    auto add_row = [&](const Option& o, std::string note) -> Status {
      FitCandidate c;
      BITNET_ASSIGN_OR_RETURN(c.config, resolved(o.placement));
      c.config.n_threads = res.config.n_threads;
      if (n_gpus_ > 1) c.tensor_split = o.placement.split;
      c.flags = flags(o.placement, c.config);
      c.fits = o.ok;
      c.used = o.used;
      c.note = std::move(note);
      res.alternatives.push_back(std::move(c));
      return Ok{};
    };
    for (const Knobs& k : rungs) {
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t xf, floor_x(k));
      BITNET_ASSIGN_OR_RETURN(Option o, best_context(k, ngl_target, xf));
      if (!o.ok && !ngl_fixed) {
        BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(k));
        const std::uint32_t ctx0 = request_.n_ctx_given ? g.n_ctx : xf * unit;
        BITNET_ASSIGN_OR_RETURN(const Option l, best_layers(k, ctx0));
        if (l.ok) {
          BITNET_ASSIGN_OR_RETURN(o, best_context(k, l.placement.n_gpu_layers, xf));
        }
      }
      BITNET_TRY(add_row(o, std::string(rung_why(k)) + (o.ok ? "; limited by " + o.limited_by : "; does not fit")));
    }
    if (!request_.n_ctx_given && res.fits) {
      BITNET_ASSIGN_OR_RETURN(const std::uint32_t unit, ctx_unit(p.knobs));
      const std::uint32_t cap = ctx_cap(unit);
      if (p.n_ctx < cap) {
        Option o;
        o.placement = Placement{p.knobs, cap, p.n_gpu_layers, {}};
        BITNET_ASSIGN_OR_RETURN(o.placement.split, split_for(p.knobs, cap, p.n_gpu_layers));
        BITNET_ASSIGN_OR_RETURN(o.used, usage(o.placement));
        o.ok = usage_fits(o.used, budget_bytes_);
        BITNET_TRY(add_row(o, "the full training context with the chosen settings"));
      }
    }
  }
  for (const std::string& w : skipped_) res.warnings.push_back("not tried: " + w);
  res.engine_calls = engine_calls_;
  return res;
}

}  // namespace bitnet::detail
