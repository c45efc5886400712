// Activations (memory-model.md §6, §7): compute buffers per backend (closed forms of the greedy
// allocator's peak live set), the host output buffer, the ggml-cpu work buffer, and BitNet's kernel
// scratch (quantization_overhead).
#include <algorithm>

#include "estimate/digest.h"
#include "estimate/estimate_internal.h"
#include "estimate/graph_sim.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kF32 = 4;
constexpr std::uint64_t kCacheLine = 64;  // ggml-cpu.c ggml_graph_plan: CACHE_LINE_SIZE per thread
constexpr std::uint64_t kTlScaleAlign = 64;
constexpr std::uint64_t kTlLutTable = 8192 * 32;  // ggml-bitnet-lut.cpp ggml_bitnet_init tables
constexpr std::uint64_t kSchedMaxCopies = 4;       // ggml-backend.cpp GGML_SCHED_MAX_COPIES


// Largest ggml-cpu work-buffer node (ggml_graph_plan): the matmul conversions and BitNet scratch
// gathered per weight (weights.cpp), and the no-FA KQ -> f16 conversion of attention on the CPU.
struct Work {
  B generic;  // src1 conversions to vec_dot_type, no-FA KQ -> f16
  B bitnet;   // I8_S activations, TL LUT scratch
  std::uint64_t n_tl = 0;
};

Work cpu_work(const Plan& p, const WeightsResult& w) {
  Work out{w.work_matmul, w.work_bitnet, w.n_tl};
  bool cpu_attn = false;
  std::uint64_t n_kv = 0;
  for (const LayerRun& run : p.digest->layer_runs) {
    // GPU layers are a suffix: a run has a CPU layer exactly when its first one is.
    if (run.info.kind != LayerKind::kAttention || p.layer_on_gpu(run.first)) continue;
    cpu_attn = true;
    n_kv = std::max(n_kv, attn_cells(p, run.info));
  }
  // No FA: KQ (f32) is converted to the f16 V cache's type for the KQ*V product.
  if (cpu_attn && !p.rc.flash_attn && p.rc.type_v != Precision::kF32)
    out.generic = max(out.generic, B(2) * B(n_kv) * B(p.n_tokens) * B(p.digest->max_n_head));
  return out;
}

}  // namespace

Status activation_terms(const Plan& p, const WeightsResult& w, std::vector<Term>& out) {
  const ModelStructureInfo& m = *p.m;
  const bool fa = p.rc.flash_attn;
  const B n_ub = p.n_tokens, n_out = p.n_outputs, n_vocab = m.n_vocab, n_embd = m.n_embd;
  const B n_head = p.digest->max_n_head, nvg = p.digest->max_n_embd_v_gqa;
  std::uint64_t n_kv_max = 0;
  bool any_attn = false, any_swa = false;
  for (const LayerRun& run : p.digest->layer_runs) {
    const LayerInfo& L = run.info;
    if (L.kind != LayerKind::kAttention) continue;
    any_attn = true;
    any_swa = any_swa || L.is_swa;
    n_kv_max = std::max(n_kv_max, attn_cells(p, L));
  }
  const B n_kv = n_kv_max;
  const bool corrected = p.prof->compute_form == ComputeForm::kCorrected;
  const bool exact_model = m.architecture_known && m.hparams_basis == Basis::kExact;
  // FFN phase (memory-model.md §6): gate, up, GLU + residuals; n_ff of the used experts for MoE.
  const B ffn = B(kF32) * n_ub * (B(3) * B(p.digest->n_ff_effective) + B(4) * n_embd);

  auto push = [&](Seg seg, const char* name, const std::string& dev, MemoryKind kind, B bytes,
                  B resident, Basis basis, const char* src) -> Status {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t v, bytes.to_result(name));
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t r, resident.to_result(name));
    Term t;
    t.seg = seg;
    t.part = MemoryPart{name, dev, kind, v, std::min(v, r), basis, src};
    if (p.prof->commit_at_load) t.part.resident_bytes = v;
    t.load_resident = p.prof->commit_at_load ? v : 0;
    out.push_back(std::move(t));
    return Ok{};
  };
  const Basis formula_basis = exact_model ? Basis::kExact : Basis::kDerived;

  // --- host compute buffer (CPU build: CPU; GPU build: pinned CUDA_Host) ------------------------
  // Attention phase without FA at the cache's full size (the reserve runs with a full cache).
  // iSWA models have a second cache with its own mask and index inputs.
  const bool two_caches = any_swa && p.swa_size != p.kv_size && n_kv_max != p.swa_size;
  const B swa_inputs = two_caches ? B(kF32) * B(p.swa_size) * n_ub + B(8) * n_ub * nvg + B(8) * n_ub
                                  : B(0);
  const B attn_nofa = corrected
      ? B(kF32) * n_ub * (B(1) + B(5) * n_embd + n_kv * (B(1) + n_head)) + B(8) * n_ub * nvg +
            B(16) * n_ub + swa_inputs
      : B(kF32) * n_ub * (B(1) + B(4) * n_embd + n_kv * (B(1) + n_head));
  const B logits = B(kF32) * n_out * (n_vocab + n_embd);
  Work work = p.prof->cpu_work_buffer ? cpu_work(p, w) : Work{};
  const B work_generic = work.generic + B(kCacheLine) * B(p.n_threads);
  const B work_total = max(work.generic, work.bitnet) + B(kCacheLine) * B(p.n_threads);
  if (!p.gpu_build) {
    const B L = corrected ? logits + B(kF32) * n_embd * n_ub + B(kF32) * n_ub : logits;
    B A = any_attn && !fa ? attn_nofa : B(0);
    if (!corrected && fa) A = ffn;  // 2024 fork, FA: the FFN phase [U]
    B compute = max(L, A);
    // The llama.cpp profile on architectures with a graph recipe: ggml_gallocr simulated over the
    // reserve graphs (graph_sim.cpp) instead of the closed form.
    std::optional<gsim::Reserve> simulated;
    if (corrected) simulated = gsim::simulate_reserve(p);
    if (simulated) compute = B(simulated->size);
    // Resident at the serving peak (memory-model.md §6 corrected): with last-token logits the
    // logits rows are never written; what is touched is the FFN phase, or without FA the attention
    // phase at the full cache together with the work buffer; with FA the f16 masks per cache.
    B masks = B(2) * n_kv * n_ub;
    if (any_swa && p.swa_size != p.kv_size) masks += B(2) * B(p.swa_size) * n_ub;
    const B res_peak = fa || !any_attn ? ffn + (any_attn ? masks : B(0))
                                       : max(ffn, attn_nofa + work_generic);
    // The work buffer is its own part; the compute part holds the rest.
    // (The simulated serving graph's high-water mark is not used here: memory-model.md §13.)
    B res_compute = sat_sub(res_peak, p.prof->cpu_work_buffer && !fa ? work_generic : B(0));
    if (simulated) res_compute = B(simulated->resident);
    BITNET_TRY(push(Seg::kActivations, "compute_buffer", "cpu", MemoryKind::kAnonymous, compute,
                    min(compute, res_compute), formula_basis,
                    simulated ? "llama-context.cpp sched_reserve: ggml_gallocr (best-fit reuse, in "
                                "place, views) simulated over the pp and tg reserve graphs"
                    : corrected ? "llama-context.cpp sched_reserve (ggml-alloc peak): "
                                  "max(4*n_out*(n_vocab+n_embd) + inputs, no-FA attention)"
                                : "2024 fork: max(logits, attention) (memory-model.md §6 old form)"));
  } else {
    // CUDA_Host: graph inputs and the KV index tensors per cache (memory-model.md §6 corrected).
    auto cache = [&](B kvc) {
      return B(fa ? 2 : 4) * kvc * n_ub + B(8) * n_ub + B(8) * n_ub * (fa ? B(1) : nvg);
    };
    B caches;
    if (any_attn) caches += cache(B(p.kv_size));
    if (any_swa && p.swa_size != p.kv_size) caches += cache(B(p.swa_size));
    B host = B(8) * n_embd * n_ub + B(12) * n_ub + caches;
    // Several GPUs with every layer offloaded: llama-context.cpp turns on pipeline parallelism and
    // ggml-backend.cpp's scheduler keeps GGML_SCHED_MAX_COPIES copies of every graph input (host)
    // and of every split input copied onto a GPU, marked as outputs so none is reused.
    const bool pipeline = p.n_gpus() > 1 && p.layer_on_gpu(0) && p.kv_offload;
    const B copies = B(pipeline ? kSchedMaxCopies : 1);
    if (pipeline) host += B(kSchedMaxCopies - 1) * (caches + B(12) * n_ub);
    // What a GPU of a split copies in per copy: the residual stream, positions, masks, KV indices.
    const B split_inputs = B(kF32) * n_embd * n_ub + B(4) * n_ub + caches;
    // Matmuls the CPU runs inside offloaded layers keep an FFN-wide activation in this buffer
    // (gt bitnet-2b-tq2_0 CUDA: +4*n_ub*n_ff exact with FA at c4096; an upper bound otherwise;
    // only where the simulation below does not run).
    if (w.host_matmul_in_gpu_layer) host += B(kF32) * n_ub * B(p.digest->n_ff_effective);
    // Architectures with a graph recipe: ggml_backend_sched + ggml_gallocr simulated (graph_sim)
    // where the closed forms above miss: partial offload (a layer or the head on the host, op
    // offload splitting the graph: up to 3 %, the copies and fragmentation of the op-offloaded
    // splits) and GPU layers whose weights CUDA cannot run (TQ types: simulated in host memory,
    // with bitnet's scales and token_embd head; +17 % before). With every layer offloaded and
    // runnable the closed forms are within 0.26 % on all ground-truth records (CUDA0 exact) and
    // 10-50x cheaper, which the planner's searches need, so the simulation is not run there. Only
    // where one GPU holds every offloaded layer (with several GPUs the others then hold no node,
    // so the split is the same; pipeline parallelism adds its copies below); not yet for a split
    // over GPUs (the simulation knows one CUDA backend).
    bool one_gpu = true;
    for (std::uint32_t il = 0; il <= m.n_layer && one_gpu; ++il)
      one_gpu = p.gpu_of(il) < 0 || p.gpu_of(il) == static_cast<int>(p.out_gpu);
    const bool partial = !p.layer_on_gpu(0) || !p.layer_on_gpu(m.n_layer);
    std::optional<std::array<std::uint64_t, 2>> sim;
    // The closed forms stand in only for partial offload of runnable weights (within 3 %); weights
    // CUDA cannot run inside offloaded layers are always simulated (the closed form was +17 %).
    if (corrected && one_gpu && (partial || w.host_matmul_in_gpu_layer)) {
      if (p.simulate_compute || w.host_matmul_in_gpu_layer) sim = gsim::simulate_reserve_gpu(p);
      else p.compute_closed_form = true;
    }
    if (sim) host = B((*sim)[1]) + (pipeline ? B(kSchedMaxCopies - 1) * (caches + B(12) * n_ub) : B(0));
    BITNET_TRY(push(Seg::kActivations, "compute_buffer", "cpu", MemoryKind::kPinned, host, host,
                    formula_basis, sim ? "ggml_backend_sched split + ggml_gallocr simulated "
                                         "(graph_sim.cpp): CUDA_Host buffer (pinned)"
                                       : "llama-context.cpp sched_reserve: CUDA_Host inputs, masks, "
                                         "KV indices (pinned: resident from creation)"));
    // Device attention without FA over n_kv cells.
    auto attn_dev = [&](B kv) {
      return B(kF32) * n_ub * (B(1) + B(4) * n_embd + kv * (B(1) + n_head)) + B(8) * n_ub * nvg +
             B(12) * n_ub;
    };
    for (std::size_t j = 0; j < p.n_gpus(); ++j) {
      if (j == p.out_gpu) {
        // CUDA0: logits or no-FA attention, plus a host-resident head weight copied in (op offload).
        const B A = any_attn && !fa ? attn_dev(n_kv) : B(0);
        const B dev = (sim ? B((*sim)[0]) : max(logits, A) + B(w.output_weight_on_host)) +
                      (pipeline ? copies * split_inputs : B(0));
        BITNET_TRY(push(Seg::kActivations, "compute_buffer", p.gpu_devs[j], MemoryKind::kDevice, dev,
                        dev, formula_basis,
                        sim ? "ggml_backend_sched split + ggml_gallocr simulated (graph_sim.cpp): "
                              "CUDA0 buffer with the split copies"
                            : "llama-context.cpp sched_reserve: CUDA0 max(logits, no-FA "
                              "attention) + op-offloaded host head weight"));
        continue;
      }
      // Another GPU of a split (no logits): the peak of its own layers' graph split, the no-FA
      // attention over its layers' cells or the FFN phase (the bound the host form uses).
      bool layers = false, attn = false;
      std::uint64_t kv_j = 0;
      for (const LayerRun& run : p.digest->layer_runs)
        for (std::uint32_t il = run.first; il < run.first + run.count; ++il) {
          if (p.gpu_of(il) != static_cast<int>(j)) continue;
          layers = true;
          if (run.info.kind != LayerKind::kAttention) continue;
          attn = true;
          kv_j = std::max(kv_j, attn_cells(p, run.info));
        }
      if (!layers) continue;
      const B dev = copies * split_inputs + max(attn && !fa ? attn_dev(B(kv_j)) : B(0), ffn);
      BITNET_TRY(push(Seg::kActivations, "compute_buffer", p.gpu_devs[j], MemoryKind::kDevice, dev,
                      dev, Basis::kHeuristic,
                      "llama-context.cpp sched_reserve, a GPU of a layer split without the output: "
                      "its split inputs (x4 with pipeline parallelism) + max(no-FA attention of its "
                      "layers, FFN phase) (not measured)"));
    }
  }

  // --- output buffer (llama-context.cpp output_reserve): host, n_seq rows of logits ------------
  {
    const bool pinned = p.gpu_build && p.layer_on_gpu(m.n_layer);
    const B bytes = B(kF32) * n_vocab * B(p.rc.n_seq);
    BITNET_TRY(push(Seg::kActivations, "output_buffer", "cpu",
                    pinned ? MemoryKind::kPinned : MemoryKind::kAnonymous, bytes, bytes,
                    Basis::kExact, "llama-context.cpp output_reserve: 4*n_vocab*max(n_outputs, n_seq)"));
  }

  // --- CPU work buffer (ggml-cpu.c ggml_graph_plan; not in llama.cpp's breakdown) --------------
  if (p.prof->cpu_work_buffer) {
    BITNET_TRY(push(Seg::kActivations, "cpu_work_buffer", "cpu", MemoryKind::kAnonymous,
                    work_generic, work_generic, formula_basis,
                    "ggml-cpu.c ggml_graph_plan: largest node (src1 -> vec_dot_type, no-FA KQ -> "
                    "f16) + 64 B per thread"));
  }
  // --- BitNet kernels (quantization_overhead, memory-model.md §7) ------------------------------
  if (p.prof->bitnet_kernels) {
    const B extra = sat_sub(work_total, work_generic);
    if (work.bitnet.value() > 0)
      BITNET_TRY(push(Seg::kQuant, "bitnet_kernel_scratch", "cpu", MemoryKind::kAnonymous, extra,
                      extra, Basis::kDerived,
                      "ggml-bitnet-mad.cpp / ggml-bitnet-lut.cpp get_wsize: I8_S activations and "
                      "TL LUTs enlarge the shared work buffer by this much"));
    if (work.n_tl > 0) {
      const B tl = B(kTlLutTable) + B(kTlScaleAlign) * B(work.n_tl);
      BITNET_TRY(push(Seg::kQuant, "bitnet_tl_extras", "cpu", MemoryKind::kAnonymous, tl, tl,
                      Basis::kDerived,
                      "ggml-bitnet-lut.cpp ggml_bitnet_init (8192 x 32 B) + one 64-aligned scale "
                      "per TL weight"));
    }
  }
  return Ok{};
}

}  // namespace bitnet::detail
