// Public entry points of the planner over ProductionModelLoader's cached analysis.
#include <algorithm>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bitnet/loader.h"
#include "bitnet/plan.h"
#include "plan/planner.h"

namespace bitnet {
namespace detail {

Result<ScaleOutPlan> scale_out(const ModelStructureInfo& model, const EstimateFn& engine,
                               std::string_view gpu_kind, std::uint64_t gpu_bytes,
                               const FitRequest& request, std::uint32_t max_gpus) {
  ScaleOutPlan plan;
  plan.gpu = std::string(gpu_kind);
  plan.gpu_bytes = gpu_bytes;
  FitRequest r = request;
  r.alternatives = false;
  r.given.n_gpu_layers = static_cast<std::int32_t>(model.n_layer + 1);
  r.tensor_split.clear();
  // Unquantized KV unless the user chose a type: scale-out answers "how many GPUs as configured".
  if (!r.given.type_k) r.given.type_k = r.given.kv_cache_precision;
  if (!r.given.type_v) r.given.type_v = r.given.kv_cache_precision;
  if (!r.n_ctx_given) {  // the floor context (or the training context when smaller)
    r.n_ctx_given = true;
    const std::uint32_t train = model.n_ctx_train == 0 ? r.n_ctx_min : model.n_ctx_train;
    r.given.n_ctx = std::min(r.n_ctx_min, train) * std::max(1u, r.given.max_batch_size);
  }
  const std::uint64_t budget = gpu_bytes > r.reserve ? gpu_bytes - r.reserve : 0;
  for (std::uint32_t n = 1; n <= max_gpus; ++n) {
    std::vector<DeviceBudget> b;
    b.push_back(DeviceBudget{"cpu", "host (not limited here)", std::numeric_limits<std::uint64_t>::max(), 0,
                             std::numeric_limits<std::uint64_t>::max(), 0});
    for (std::uint32_t i = 0; i < n; ++i)
      b.push_back(DeviceBudget{"cuda:" + std::to_string(i), std::string(gpu_kind), gpu_bytes, r.reserve, budget, 0});
    Planner p(model, engine, std::move(b), r);
    BITNET_ASSIGN_OR_RETURN(const FitResult f, p.fit());
    if (f.fits) {
      plan.n_gpus = n;
      plan.tensor_split = f.tensor_split.empty() ? std::vector<std::uint32_t>{static_cast<std::uint32_t>(f.config.n_gpu_layers)}
                                                 : f.tensor_split;
      plan.n_ctx = f.config.n_ctx;
      plan.flags = f.flags;
      plan.note = fmt::format("{} x {} ({:.1f} GiB each) hold all {} layers at {} context cells; {}", n,
                              gpu_kind, static_cast<double>(gpu_bytes) / (1 << 30), model.n_layer + 1,
                              f.config.n_ctx, n > 1 ? "or as many llama.cpp RPC hosts (--rpc) of that memory, same -ts" : "one is enough");
      return plan;
    }
  }
  plan.note = fmt::format("more than {} x {} would be needed", max_gpus, gpu_kind);
  return plan;
}

EstimateFn engine_of(const ProductionModelLoader& model) {
  return [&model](const MemoryAnalysisConfig& c) { return model.get_detailed_memory_requirements(c); };
}

Result<FitResult> fit_with_engine(const ModelStructureInfo& model, const EstimateFn& engine,
                                  const Inventory& inventory, const FitRequest& request) {
  Planner p(model, engine, budgets_for(inventory, request.reserve), request);
  p.set_threads(inventory.host.recommended_threads());
  BITNET_ASSIGN_OR_RETURN(FitResult r, p.fit());
  // Several GPUs, some of which cannot hold even their own CUDA context and pools: llama.cpp would
  // still create a context on every device it is given, so plan on the others and name them
  // (-dev CUDA0,CUDA2), when that offloads more (or as much at a larger context).
  const std::uint32_t n_all = model.n_layer + 1;
  if (inventory.gpus.size() > 1 && (!r.fits || r.config.n_gpu_layers < static_cast<std::int32_t>(n_all))) {
    Inventory kept = inventory;
    kept.gpus.clear();
    std::vector<std::size_t> idx;
    std::vector<std::string> left_out;
    for (std::size_t j = 0; j < inventory.gpus.size(); ++j) {
      const GpuInventory& g = inventory.gpus[j];
      const GpuOverheadInfo o = gpu_overhead_info(g.name);
      const std::uint64_t budget = g.usable_bytes() > request.reserve ? g.usable_bytes() - request.reserve : 0;
      if (budget > o.cuda_context + o.retained_pool + o.transient_pool) {
        kept.gpus.push_back(g);
        idx.push_back(j);
      } else {
        left_out.push_back("cuda:" + std::to_string(g.index));
      }
    }
    if (!kept.gpus.empty() && !left_out.empty()) {
      Planner p2(model, engine, budgets_for(kept, request.reserve), request);
      p2.set_threads(inventory.host.recommended_threads());
      BITNET_ASSIGN_OR_RETURN(FitResult k, p2.fit());
      const bool better = k.fits && (!r.fits || k.config.n_gpu_layers > r.config.n_gpu_layers ||
                                     (k.config.n_gpu_layers == r.config.n_gpu_layers && k.config.n_ctx > r.config.n_ctx));
      if (better) {
        std::string dev = " -dev ";
        for (std::size_t i = 0; i < kept.gpus.size(); ++i) dev += (i ? ",CUDA" : "CUDA") + std::to_string(kept.gpus[i].index);
        // Budgets and usage over the whole inventory: the GPUs left out use nothing.
        auto widen = [&](const std::vector<std::uint64_t>& used) {
          std::vector<std::uint64_t> w(1 + inventory.gpus.size(), 0);
          if (!used.empty()) w[0] = used[0];
          for (std::size_t i = 0; i < idx.size() && 1 + i < used.size(); ++i) w[1 + idx[i]] = used[1 + i];
          return w;
        };
        std::vector<DeviceBudget> full = budgets_for(inventory, request.reserve);
        std::vector<std::uint64_t> used_k;
        for (const DeviceBudget& b : k.budget) used_k.push_back(b.used);
        const std::vector<std::uint64_t> used_full = widen(used_k);
        for (std::size_t d = 0; d < full.size(); ++d) full[d].used = used_full[d];
        k.budget = std::move(full);
        k.flags += dev;
        for (FitCandidate& a : k.alternatives) {
          a.flags += dev;
          a.used = widen(a.used);
        }
        std::string names;
        for (const std::string& n : left_out) names += (names.empty() ? "" : ", ") + n;
        k.warnings.push_back(names + ": cannot hold even its CUDA context and pools within the budget; left out of "
                             "the plan (" + dev.substr(1) + "; -ts is over the GPUs -dev names)");
        k.reason = "without " + names + ": " + k.reason;
        k.engine_calls += r.engine_calls;
        r = std::move(k);
      } else {
        r.engine_calls += k.engine_calls;
      }
    }
  }
  // GPUs too small for even the CUDA context and the compute buffer of a GPU build: run on the
  // CPU alone (llama.cpp -dev none), when -ngl was left to us and that fits.
  if (!r.fits && !inventory.gpus.empty() && !request.given.n_gpu_layers) {
    Inventory host_only = inventory;
    host_only.gpus.clear();
    Planner cpu(model, engine, budgets_for(host_only, request.reserve), request);
    cpu.set_threads(inventory.host.recommended_threads());
    BITNET_ASSIGN_OR_RETURN(FitResult c, cpu.fit());
    if (c.fits) {
      std::vector<DeviceBudget> budget = budgets_for(inventory, request.reserve);
      budget[0].used = c.budget[0].used;
      c.budget = std::move(budget);
      c.flags += " -dev none";
      c.warnings.push_back("the GPUs cannot hold even -ngl 0 of a GPU build (CUDA context, pools, op-offload "
                           "compute buffer): planned for the CPU alone; -dev none keeps llama.cpp off the GPUs");
      c.reason = "CPU only (GPUs too small): " + c.reason;
      c.engine_calls += r.engine_calls;
      for (FitCandidate& a : c.alternatives) {
        a.flags += " -dev none";
        a.used.resize(c.budget.size(), 0);
      }
      c.scale_out = std::move(r.scale_out);
      r = std::move(c);
    }
  }
  // Scale-out: when the GPUs cannot take every layer and -ngl was left to us.
  if (!inventory.gpus.empty() && !request.given.n_gpu_layers &&
      (!r.fits || r.config.n_gpu_layers < static_cast<std::int32_t>(model.n_layer + 1))) {
    const GpuInventory& g0 = inventory.gpus.front();
    const std::string kind = g0.catalog_id.empty() ? g0.name : g0.catalog_id;
    BITNET_ASSIGN_OR_RETURN(ScaleOutPlan s, scale_out(model, engine, kind, g0.usable_bytes(), request, 16));
    r.scale_out = std::move(s);
  }
  return r;
}

}  // namespace detail

Result<FitResult> get_optimal_device_config(const ProductionModelLoader& model,
                                            const Inventory& inventory, const FitRequest& request) {
  try {
    return detail::fit_with_engine(model.model_info(), detail::engine_of(model), inventory, request);
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while fitting", kNoOffset, {}, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error while fitting: ") + e.what(), kNoOffset, {},
                 "please report this with the model header and the command line"};
  }
}

Result<ScaleOutPlan> plan_scale_out(const ProductionModelLoader& model, std::string_view gpu_kind,
                                    std::uint64_t gpu_bytes, const FitRequest& request,
                                    std::uint32_t max_gpus) {
  try {
    return detail::scale_out(model.model_info(), detail::engine_of(model), gpu_kind, gpu_bytes, request,
                             max_gpus);
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while planning", kNoOffset, {}, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error while planning: ") + e.what(), kNoOffset, {}, {}};
  }
}

}  // namespace bitnet
