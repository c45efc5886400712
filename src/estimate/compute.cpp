// Activations (memory-model.md §6, §7): compute buffers per backend (closed forms of the greedy
// allocator's peak live set), the host output buffer, the ggml-cpu work buffer, and BitNet's kernel
// scratch (quantization_overhead).
#include <algorithm>

#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kF32 = 4;
constexpr std::uint64_t kCacheLine = 64;  // ggml-cpu.c ggml_graph_plan: CACHE_LINE_SIZE per thread
constexpr std::uint64_t kTlScaleAlign = 64;
constexpr std::uint64_t kTlLutTable = 8192 * 32;  // ggml-bitnet-lut.cpp ggml_bitnet_init tables

bool is_matmul(TensorOp op) { return op == TensorOp::kMulMat || op == TensorOp::kMulMatId; }

bool is_bitnet_type(QuantizationType t) {
  return t == QuantizationType::kI2_S || t == QuantizationType::kTL1 || t == QuantizationType::kTL2;
}

// Largest ggml-cpu work-buffer node (ggml_graph_plan), split into the generic nodes and BitNet's
// kernels, over the tensors whose layer runs on the CPU.
struct Work {
  B generic;  // src1 conversions to vec_dot_type, no-FA KQ -> f16
  B bitnet;   // I8_S activations, TL LUT scratch
  std::uint64_t n_tl = 0;
};

Work cpu_work(const Plan& p, const WeightsResult& w) {
  const ModelStructureInfo& m = *p.m;
  const std::uint64_t n_ub = p.n_tokens;
  Work out;
  bool cpu_attn = false;
  for (std::uint32_t il = 0; il < m.n_layer; ++il)
    if (!p.layer_on_gpu(il) && layer_at(m, il).kind == LayerKind::kAttention) cpu_attn = true;
  // No FA: KQ (f32) is converted to the f16 V cache's type for the KQ*V product.
  if (cpu_attn && !p.rc.flash_attn && p.rc.type_v != Precision::kF32) {
    std::uint64_t n_kv = 0;
    for (std::uint32_t il = 0; il < m.n_layer; ++il) {
      const LayerInfo L = layer_at(m, il);
      if (L.kind == LayerKind::kAttention) n_kv = std::max(n_kv, attn_cells(p, L));
    }
    out.generic = max(out.generic, B(2) * B(n_kv) * B(n_ub) * B(max_n_head(m)));
  }
  for (const auto& pl : w.placements) {
    if (pl.on_gpu || pl.t == nullptr || !is_matmul(pl.t->op)) continue;
    const TensorInfo& t = *pl.t;
    const std::uint64_t K = t.ne[0], M = t.ne[1];
    if (p.prof->bitnet_kernels && is_bitnet_type(t.type)) {
      // ggml-bitnet-mad.cpp: int8 activations + scale + sum per row; ggml-bitnet-lut.cpp
      // ggml_bitnet_mul_mat_get_wsize: LUT scratch + 2-byte LUT floats, rounded to 64.
      B sz;
      if (t.type == QuantizationType::kI2_S) {
        sz = B(K) * B(n_ub) + B(8) * B(n_ub);
      } else {
        const B lut = t.type == QuantizationType::kTL1 ? B(15) * B(K) * B(n_ub) + B(8) * B(n_ub)
                                                       : B(11) * B(K) * B(n_ub) + B(16) * B(n_ub);
        sz = pad(lut + B(std::max(K, M)) * B(n_ub) * B(2), 64);
        ++out.n_tl;
      }
      out.bitnet = max(out.bitnet, sz);
      continue;
    }
    const BytesPerElem vd = vec_dot_bytes(t.type);
    if (vd.num == 0) continue;
    // MUL_MAT_ID (experts): src1 holds n_expert_used rows per token for the down projection.
    const std::uint64_t rows = t.op == TensorOp::kMulMatId
                                   ? n_ub * std::max<std::uint64_t>(1, m.n_expert_used)
                                   : n_ub;
    out.generic = max(out.generic, div_ceil(B(K) * B(rows) * B(vd.num), vd.den));
  }
  return out;
}

}  // namespace

Status activation_terms(const Plan& p, const WeightsResult& w, std::vector<Term>& out) {
  const ModelStructureInfo& m = *p.m;
  const bool fa = p.rc.flash_attn;
  const B n_ub = p.n_tokens, n_out = p.n_outputs, n_vocab = m.n_vocab, n_embd = m.n_embd;
  const B n_head = max_n_head(m), nvg = max_n_embd_v_gqa(m);
  std::uint64_t n_kv_max = 0;
  bool any_attn = false, any_swa = false;
  for (std::uint32_t il = 0; il < m.n_layer; ++il) {
    const LayerInfo L = layer_at(m, il);
    if (L.kind != LayerKind::kAttention) continue;
    any_attn = true;
    any_swa = any_swa || L.is_swa;
    n_kv_max = std::max(n_kv_max, attn_cells(p, L));
  }
  const B n_kv = n_kv_max;
  const bool corrected = p.prof->compute_form == ComputeForm::kCorrected;
  const bool exact_model = m.architecture_known && m.hparams_basis == Basis::kExact;
  // FFN phase (memory-model.md §6): gate, up, GLU + residuals; n_ff of the used experts for MoE.
  const B ffn = B(kF32) * n_ub * (B(3) * B(n_ff_effective(m)) + B(4) * n_embd);

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
  const B attn_nofa = corrected
      ? B(kF32) * n_ub * (B(1) + B(5) * n_embd + n_kv * (B(1) + n_head)) + B(8) * n_ub * nvg +
            B(16) * n_ub
      : B(kF32) * n_ub * (B(1) + B(4) * n_embd + n_kv * (B(1) + n_head));
  const B logits = B(kF32) * n_out * (n_vocab + n_embd);
  Work work = p.prof->cpu_work_buffer ? cpu_work(p, w) : Work{};
  const B work_generic = work.generic + B(kCacheLine) * B(p.n_threads);
  const B work_total = max(work.generic, work.bitnet) + B(kCacheLine) * B(p.n_threads);
  if (!p.gpu_build) {
    const B L = corrected ? logits + B(kF32) * n_embd * n_ub + B(kF32) * n_ub : logits;
    B A = any_attn && !fa ? attn_nofa : B(0);
    if (!corrected && fa) A = ffn;  // 2024 fork, FA: the FFN phase [U]
    const B compute = max(L, A);
    // Resident at the serving peak (memory-model.md §6 corrected): with last-token logits the
    // logits rows are never written; what is touched is the FFN phase, or without FA the attention
    // phase at the full cache together with the work buffer; with FA the f16 masks per cache.
    B masks = B(2) * n_kv * n_ub;
    if (any_swa && p.swa_size != p.kv_size) masks += B(2) * B(p.swa_size) * n_ub;
    const B res_peak = fa || !any_attn ? ffn + (any_attn ? masks : B(0))
                                       : max(ffn, attn_nofa + work_generic);
    // The work buffer is its own part; the compute part holds the rest.
    const B res_compute = sat_sub(res_peak, p.prof->cpu_work_buffer && !fa ? work_generic : B(0));
    BITNET_TRY(push(Seg::kActivations, "compute_buffer", "cpu", MemoryKind::kAnonymous, compute,
                    min(compute, res_compute), formula_basis,
                    corrected ? "llama-context.cpp sched_reserve (ggml-alloc peak): "
                                "max(4*n_out*(n_vocab+n_embd) + inputs, no-FA attention)"
                              : "2024 fork: max(logits, attention) (memory-model.md §6 old form)"));
  } else {
    // CUDA_Host: graph inputs and the KV index tensors per cache (memory-model.md §6 corrected).
    auto cache = [&](B kvc) {
      return B(fa ? 2 : 4) * kvc * n_ub + B(8) * n_ub + B(8) * n_ub * (fa ? B(1) : nvg);
    };
    B host = B(8) * n_embd * n_ub + B(12) * n_ub;
    if (any_attn) host += cache(B(p.kv_size));
    if (any_swa && p.swa_size != p.kv_size) host += cache(B(p.swa_size));
    BITNET_TRY(push(Seg::kActivations, "compute_buffer", "cpu", MemoryKind::kPinned, host, host,
                    formula_basis, "llama-context.cpp sched_reserve: CUDA_Host inputs, masks, "
                                   "KV indices (pinned: resident from creation)"));
    // CUDA0: logits or no-FA attention, plus a host-resident head weight copied in (op offload).
    const B A = any_attn && !fa ? B(kF32) * n_ub * (B(1) + B(4) * n_embd + n_kv * (B(1) + n_head)) +
                                      B(8) * n_ub * nvg + B(12) * n_ub
                                : B(0);
    const B dev = max(logits, A) + B(w.output_weight_on_host);
    BITNET_TRY(push(Seg::kActivations, "compute_buffer", p.gpu_dev, MemoryKind::kDevice, dev, dev,
                    formula_basis, "llama-context.cpp sched_reserve: CUDA0 max(logits, no-FA "
                                   "attention) + op-offloaded host head weight"));
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
