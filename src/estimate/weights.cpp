// Model buffers (memory-model.md §4): where each weight lives and what each llama.cpp buffer type
// holds. Exact per tensor: mapped spans, pad32 host buffers, CUDA row padding + pad128, repacked
// copies (quantization_overhead), the tied head's duplicate.
#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "estimate/digest.h"
#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kCudaAlign = 128;  // ggml-cuda buffer type alignment
constexpr std::uint64_t kMatrixRowPadding = 512;  // ggml-cuda MATRIX_ROW_PADDING
constexpr std::uint64_t kOpOffloadMinBatch = 32;  // ggml-cuda GGML_OP_OFFLOAD_MIN_BATCH

bool is_block_quantized(QuantizationType t) {
  const QuantTraits* q = find_traits(t);
  return q != nullptr && q->block_elems > 1;
}

bool is_matmul(TensorOp op) { return op == TensorOp::kMulMat || op == TensorOp::kMulMatId; }

bool is_bitnet_type(QuantizationType t) {
  return t == QuantizationType::kI2_S || t == QuantizationType::kTL1 || t == QuantizationType::kTL2;
}

// ggml_backend_cuda_buffer_type_get_alloc_size: quantized rows padded to MATRIX_ROW_PADDING.
}  // namespace

Result<std::uint64_t> cuda_alloc_bytes(const TensorInfo& t) {
  B a = t.nbytes;
  if (is_block_quantized(t.type) && t.ne[0] % kMatrixRowPadding != 0) {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t rp,
                            row_bytes(t.type, kMatrixRowPadding - t.ne[0] % kMatrixRowPadding));
    a += rp;
  }
  return pad(a, kCudaAlign).to_result("CUDA tensor size");
}

namespace {

std::string buffer_name(const Plan& p, Buf b, std::size_t gpu = 0) {
  switch (b) {
    case Buf::kMapped: return std::string(p.prof->mapped_buffer);
    case Buf::kHost: return "CPU";
    case Buf::kPinned: return "CUDA_Host";
    case Buf::kRepack: return "CPU_REPACK";
    case Buf::kAmx: return "AMX";
    case Buf::kDevice: {
      const std::string& d = p.gpu_devs.empty() ? p.gpu_dev : p.gpu_devs[gpu];
      return "CUDA" + d.substr(d.find(':') + 1);
    }
    case Buf::kCount: break;
  }
  return "CPU";
}

}  // namespace

Result<WeightsResult> weight_terms(const Plan& p) {
  const ModelStructureInfo& m = *p.m;
  const RuntimeProfile& prof = *p.prof;
  const TensorDigest& dg = *p.digest;
  WeightsResult w;

  // Placement per group of tensors (digest.h): every tensor of a group lands in the same buffer.
  B alloc_sum;  // carries overflow of the allocation sizes
  std::optional<Error> place_error;
  auto place = [&](const TensorGroup& g, Placement& pl) {
    pl.synthetic_output = g.synthetic;
    if (p.gpu_build) {
      const std::int64_t il = g.layer_class == LayerClass::kInput    ? -1
                              : g.layer_class == LayerClass::kOutput ? std::int64_t{m.n_layer}
                                                                     : std::int64_t{g.layer};
      pl.on_gpu = il >= 0 && p.layer_on_gpu(il) && cuda_supports_type(g.type);
      if (pl.on_gpu) {
        pl.buf = Buf::kDevice;
        pl.gpu = static_cast<std::uint32_t>(p.gpu_of(il));
        if (g.cuda_error) place_error = g.cuda_error;
        pl.alloc = g.cuda.value();
        alloc_sum += g.cuda;
        return;
      }
    }
    // Host. A GPU build never repacks (a host extra type reverts to CPU with mmap; no-mmap uses the
    // pinned CUDA_Host buffer); a CPU build tries the extra buffer types first (MUL_MAT weights).
    if (!p.gpu_build && prof.repack && p.repack_enabled && is_matmul(g.op)) {
      const RepackRule* r = find_repack_rule(g.type, g.ne1_low, p.isa);
      if (r != nullptr && (g.op == TensorOp::kMulMat || !r->amx)) {
        for (std::size_t i = 0; i < g.rules.size(); ++i) {
          if (g.rules[i] != r) continue;
          pl.buf = r->amx ? Buf::kAmx : Buf::kRepack;
          alloc_sum += g.repacked[i];
          pl.alloc = g.repacked[i].value();
          return;
        }
      }
    }
    if (p.rc.mmap) {
      pl.buf = Buf::kMapped;
      pl.alloc = g.nbytes.value();  // the span is computed over all mapped tensors below
      alloc_sum += g.nbytes;
    } else {
      pl.buf = p.gpu_build ? Buf::kPinned : Buf::kHost;
      alloc_sum += g.pad32;
      pl.alloc = g.pad32.value();
    }
  };

  struct Acc {
    B bytes;
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;  // mapped span
    bool derived = false;
    bool any = false;
  };
  std::array<Acc, static_cast<std::size_t>(Buf::kCount)> bufs{};
  std::vector<Acc> dev_bufs(p.n_gpus());  // Buf::kDevice, one per GPU of the split
  bool head_on_gpu = false;
  const bool op_offload = p.gpu_build && p.n_tokens >= kOpOffloadMinBatch;
  const std::uint64_t n_ub = p.n_tokens;
  const std::uint64_t n_used = std::max<std::uint64_t>(1, m.n_expert_used);
  std::uint64_t max_k[std::size(kVecDotClasses)][2] = {};
  auto visit = [&](const Placement& pl, const TensorGroup& g) {
    Acc& b = pl.buf == Buf::kDevice ? dev_bufs[pl.gpu] : bufs[static_cast<std::size_t>(pl.buf)];
    b.any = true;
    if (g.derived) b.derived = true;
    b.bytes += B(pl.alloc);
    if (pl.buf == Buf::kMapped && !g.synthetic) {  // only the mapped buffer is a span
      b.lo = std::min(b.lo, g.lo);
      b.hi = std::max(b.hi, g.hi);
    }
    if ((g.synthetic || g.is_head) && pl.on_gpu) head_on_gpu = true;
    if (!is_matmul(g.op)) return;
    if (g.layer_class == LayerClass::kRepeating) {
      // cuBLAS GEMMs: a repeating-layer matmul with an f16/bf16/f32 weight that runs on the GPU,
      // resident there or op-offloaded for a ubatch of >= 32 tokens (ggml-cuda.cu
      // ggml_cuda_mul_mat: float weights take cuBLAS for batches, quantized ones MMQ). The head is
      // not counted: serving asks for last-token logits, a 1-row product that is not offloaded.
      const bool runs_on_gpu = pl.on_gpu || (op_offload && cuda_supports_type(g.type));
      if (runs_on_gpu && g.wide &&
          (g.type == QuantizationType::kF16 || g.type == QuantizationType::kBF16 ||
           g.type == QuantizationType::kF32))
        w.gpu_cublas_gemm = true;
      // A weight the GPU cannot run although its layer is offloaded (ternary TQ types upstream):
      // the CPU computes that matmul, and its activations live in the host compute buffer.
      if (!pl.on_gpu && g.layer >= 0 && p.layer_on_gpu(g.layer)) w.host_matmul_in_gpu_layer = true;
    }
    // No mmap + repack: non-host buffers are filled through a read buffer (llama-model-loader.cpp
    // load_all_data) that grows to the largest such tensor. glibc serves blocks above its mmap
    // threshold (raised dynamically up to DEFAULT_MMAP_THRESHOLD_MAX = 32 MiB) with mmap and
    // returns them on free; smaller ones stay in the heap. gt: +2.3 / +9.0 / +13.5 MiB over the
    // mmap runs = the largest repacked tensor of at most 32 MiB.
    if (!p.rc.mmap && (pl.buf == Buf::kRepack || pl.buf == Buf::kAmx) && !g.synthetic)
      w.read_buffer = std::max(w.read_buffer, g.max_read);
    // ggml-cpu work buffer (ggml_graph_plan) for matmuls the CPU runs.
    if (pl.on_gpu || g.synthetic) return;
    if (prof.bitnet_kernels && is_bitnet_type(g.type)) {
      // ggml-bitnet-mad.cpp: int8 activations + scale + sum per row; ggml-bitnet-lut.cpp
      // ggml_bitnet_mul_mat_get_wsize: LUT scratch + 2-byte LUT floats, rounded to 64.
      B sz;
      if (g.type == QuantizationType::kI2_S) {
        sz = B(g.max_ne0) * B(n_ub) + B(8) * B(n_ub);
      } else {
        // TL1 15*K*N + 8*N, TL2 11*K*N + 16*N, + max(K, M)*N*2 (the digest keeps the max of
        // c*K + 2*max(K, M) per group).
        const B extra = g.type == QuantizationType::kTL1 ? B(8) * B(n_ub) : B(16) * B(n_ub);
        sz = pad(B(g.max_tl) * B(n_ub) + extra, 64);
        w.n_tl += g.count;
      }
      w.work_bitnet = max(w.work_bitnet, sz);
      return;
    }
    // The widest src1 row per conversion class and op; bytes once at the end. MUL_MAT_ID
    // (experts): src1 holds n_expert_used rows per token.
    const std::uint8_t cls = vec_dot_class(g.type);
    std::uint64_t& k = max_k[cls][g.op == TensorOp::kMulMatId ? 1 : 0];
    k = std::max(k, g.max_ne0);
  };
  // A CPU build places every layer alike: the groups merged over layers suffice.
  if (p.gpu_build && !dg.has_by_layer)
    return Error{Errc::kInternal, "GPU placement needs the per-layer tensor digest", kNoOffset, {}, {}};
  const std::vector<TensorGroup>& groups = p.gpu_build ? dg.by_layer : dg.merged;
  Buf tok_buf = Buf::kCount;
  for (const TensorGroup& g : groups) {
    Placement pl;
    place(g, pl);
    if (g.is_tok) tok_buf = pl.buf;
    visit(pl, g);
  }
  if (dg.synth) {
    Placement pl;
    place(*dg.synth, pl);
    // The duplicate is reused when token_embd's buffer type already holds it.
    if (pl.buf != tok_buf) visit(pl, *dg.synth);
  }
  if (place_error) return *place_error;
  BITNET_TRY(alloc_sum.to_result("model buffer"));
  for (std::size_t c = 1; c < std::size(kVecDotClasses); ++c)
    for (int id = 0; id < 2; ++id)
      w.work_matmul = max(w.work_matmul,
                          div_ceil(B(max_k[c][id]) * B(id ? n_ub * n_used : n_ub) *
                                       B(kVecDotClasses[c].num), kVecDotClasses[c].den));
  const TensorInfo* head = dg.head;
  // Op offload (memory-model.md §6): a host-resident head weight is copied into the GPU compute
  // buffer for ubatches of >= 32 tokens.
  if (op_offload && head != nullptr && !head_on_gpu) w.output_weight_on_host = head->nbytes;

  // Buffers in Buf order; the device buffer once per GPU of the split.
  struct Out {
    Buf kind;
    std::size_t gpu;
    const Acc* acc;
  };
  std::vector<Out> outs;
  // The estimate appends its KV, activation and system terms to this list (estimate.cpp).
  w.terms.reserve(32);
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    const Buf kind = static_cast<Buf>(i);
    if (kind != Buf::kDevice) outs.push_back({kind, 0, &bufs[i]});
    else
      for (std::size_t j = 0; j < dev_bufs.size(); ++j) outs.push_back({kind, j, &dev_bufs[j]});
  }
  for (const Out& o : outs) {
    const Buf kind = o.kind;
    const std::size_t gpu = o.gpu;
    const Acc& b = *o.acc;
    if (!b.any) continue;
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t bytes, b.bytes.to_result("model buffer"));
    Term term;
    term.part.name = buffer_name(p, kind, gpu);
    term.part.basis = b.derived ? Basis::kDerived : Basis::kExact;
    const bool mapped = kind == Buf::kMapped;
    const bool repacked = kind == Buf::kRepack || kind == Buf::kAmx;
    term.seg = repacked ? Seg::kQuant : Seg::kWeights;
    if (kind == Buf::kDevice) {
      term.part.device = p.gpu_devs[gpu];
      term.part.kind = MemoryKind::kDevice;
      term.part.bytes = bytes;
      term.part.source = "ggml-cuda.cu get_alloc_size: pad128(nbytes + MATRIX_ROW_PADDING rows)";
    } else if (mapped) {
      term.part.device = "cpu";
      term.part.kind = MemoryKind::kMapped;
      // llama-model.cpp load_tensors: the mapped buffer wraps [min offset, max offset + nbytes] of
      // its tensors (memory-model.md §4); our native loader maps the whole file.
      term.part.bytes = prof.maps_whole_file ? m.file_bytes : b.hi - b.lo;
      term.part.source = prof.maps_whole_file
                             ? "native loader: the whole file mapped read-only"
                             : "llama-model.cpp load_tensors: file span of the mapped tensors";
    } else {
      term.part.device = "cpu";
      term.part.kind = kind == Buf::kPinned ? MemoryKind::kPinned : MemoryKind::kAnonymous;
      term.part.bytes = bytes;
      term.part.source = repacked ? "ggml-cpu repack/amx: repacked copy; the mapped original stays "
                                    "resident"
                                  : "llama-model-loader.cpp load_all_data: sum of pad32(nbytes)";
    }
    term.part.resident_bytes = term.part.bytes;
    // Load phase: mmap populates every page of the file (MAP_POPULATE); anonymous and pinned
    // buffers are filled during load; device memory is not host memory.
    term.load_resident = mapped ? m.file_bytes : term.part.bytes;
    w.terms.push_back(std::move(term));
  }
  if (w.read_buffer > 0) {
    Term term;
    term.seg = Seg::kQuant;
    term.part = MemoryPart{"load_read_buffer", "cpu", MemoryKind::kAnonymous, w.read_buffer,
                           w.read_buffer, Basis::kCalibrated,
                           "llama-model-loader.cpp load_all_data: read buffer for repacked tensors "
                           "(no mmap), the largest one; stays on the heap"};
    term.load_resident = w.read_buffer;
    w.terms.push_back(std::move(term));
  }
  return w;
}

}  // namespace bitnet::detail
