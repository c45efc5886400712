// Model buffers (memory-model.md §4): where each weight lives and what each llama.cpp buffer type
// holds. Exact per tensor: mapped spans, pad32 host buffers, CUDA row padding + pad128, repacked
// copies (quantization_overhead), the tied head's duplicate.
#include <algorithm>
#include <array>
#include <optional>

#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kHostAlign = 32;   // ggml-cpu TENSOR_ALIGNMENT / buffer alignment
constexpr std::uint64_t kAmxAlign = 64;    // ggml-cpu/amx TENSOR_ALIGNMENT
constexpr std::uint64_t kCudaAlign = 128;  // ggml-cuda buffer type alignment
constexpr std::uint64_t kMatrixRowPadding = 512;  // ggml-cuda MATRIX_ROW_PADDING
constexpr std::uint64_t kOpOffloadMinBatch = 32;  // ggml-cuda GGML_OP_OFFLOAD_MIN_BATCH
constexpr std::uint64_t kGlibcMmapThresholdMax = 32ull << 20;  // glibc malloc.c, 64-bit

bool is_block_quantized(QuantizationType t) {
  const QuantTraits* q = find_traits(t);
  return q != nullptr && q->block_elems > 1;
}

bool is_matmul(TensorOp op) { return op == TensorOp::kMulMat || op == TensorOp::kMulMatId; }

bool is_bitnet_type(QuantizationType t) {
  return t == QuantizationType::kI2_S || t == QuantizationType::kTL1 || t == QuantizationType::kTL2;
}

std::int64_t layer_index(const Plan& p, const TensorInfo& t) {
  switch (t.layer_class) {
    case LayerClass::kInput: return -1;  // token_embd: GET_ROWS on the host
    case LayerClass::kOutput: return p.m->n_layer;
    case LayerClass::kRepeating: return t.layer;
  }
  return -1;
}

// ggml_backend_cuda_buffer_type_get_alloc_size: quantized rows padded to MATRIX_ROW_PADDING.
Result<std::uint64_t> cuda_alloc(const TensorInfo& t) {
  B a = t.nbytes;
  if (is_block_quantized(t.type) && t.ne[0] % kMatrixRowPadding != 0) {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t rp,
                            row_bytes(t.type, kMatrixRowPadding - t.ne[0] % kMatrixRowPadding));
    a += rp;
  }
  return pad(a, kCudaAlign).to_result("CUDA tensor size");
}

B repack_alloc(const TensorInfo& t, const RepackRule& r) {
  B a = t.nbytes;
  if (r.extra_per_block > 0) {
    const QuantTraits* q = find_traits(t.type);
    if (q != nullptr && q->block_elems > 0) a += B(t.n_elements / q->block_elems) * B(r.extra_per_block);
  }
  return pad(a, r.amx ? kAmxAlign : kHostAlign);
}

std::string buffer_name(const Plan& p, Buf b) {
  switch (b) {
    case Buf::kMapped: return std::string(p.prof->mapped_buffer);
    case Buf::kHost: return "CPU";
    case Buf::kPinned: return "CUDA_Host";
    case Buf::kRepack: return "CPU_REPACK";
    case Buf::kAmx: return "AMX";
    case Buf::kDevice: return "CUDA" + p.gpu_dev.substr(p.gpu_dev.find(':') + 1);
    case Buf::kCount: break;
  }
  return "CPU";
}

}  // namespace

Result<WeightsResult> weight_terms(const Plan& p) {
  const ModelStructureInfo& m = *p.m;
  const RuntimeProfile& prof = *p.prof;
  WeightsResult w;

  const TensorInfo* tok = m.find_tensor("token_embd.weight");
  const TensorInfo* output = m.find_tensor("output.weight");
  const bool has_output = output != nullptr;
  const bool head_is_tok = tok != nullptr && !has_output && head_reads_token_embd(m.architecture);
  TensorInfo synth;  // the tied head's duplicate (llama-model.cpp TENSOR_DUPLICATED)
  const bool make_synth = tok != nullptr && !has_output && m.tied_output && !head_is_tok;
  if (make_synth) {
    synth = *tok;
    synth.name = "output.weight";
    synth.layer_class = LayerClass::kOutput;
    synth.layer = -1;
    synth.op = TensorOp::kMulMat;
  }

  QuantizationType last_type = QuantizationType::kUnknown;
  std::uint64_t last_ne1 = 0;
  const RepackRule* last_rule = nullptr;
  B alloc_sum;  // carries overflow of the per-tensor allocation sizes
  std::optional<Error> place_error;
  auto place = [&](const TensorInfo& t, bool synthetic, Placement& pl) {
    pl.t = &t;
    pl.synthetic_output = synthetic;
    if (p.gpu_build) {
      const std::int64_t il = layer_index(p, t);
      pl.on_gpu = il >= 0 && p.layer_on_gpu(il) && cuda_supports_type(t.type);
      if (pl.on_gpu) {
        pl.buf = Buf::kDevice;
        auto a = cuda_alloc(t);
        if (!a) place_error = a.error();
        pl.alloc = a ? *a : 0;
        return;
      }
    }
    // Host. A GPU build never repacks (a host extra type reverts to CPU with mmap; no-mmap uses the
    // pinned CUDA_Host buffer); a CPU build tries the extra buffer types first (MUL_MAT weights).
    if (!p.gpu_build && prof.repack && p.repack_enabled && is_matmul(t.op)) {
      // Consecutive weights mostly share a type: remember the last lookup. The rules' row
      // multiples are powers of two up to 32, so ne1's low five bits decide.
      if (t.type != last_type || (t.ne[1] & 31) != last_ne1) {
        last_type = t.type;
        last_ne1 = t.ne[1] & 31;
        last_rule = find_repack_rule(t.type, t.ne[1], p.isa);
      }
      const RepackRule* r = last_rule;
      if (r != nullptr && (t.op == TensorOp::kMulMat || !r->amx)) {
        pl.buf = r->amx ? Buf::kAmx : Buf::kRepack;
        const B a = repack_alloc(t, *r);
        alloc_sum += a;
        pl.alloc = a.value();
        return;
      }
    }
    if (p.rc.mmap) {
      pl.buf = Buf::kMapped;
      pl.alloc = t.nbytes;  // the span is computed over all mapped tensors below
    } else {
      pl.buf = p.gpu_build ? Buf::kPinned : Buf::kHost;
      const B a = pad(B(t.nbytes), kHostAlign);
      alloc_sum += a;
      pl.alloc = a.value();
    }
  };

  // One pass over the tensors (an estimate must stay within microseconds): placement, buffer
  // sums, and the per-weight facts the other terms need.
  struct Acc {
    B bytes;
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;  // mapped span
    bool derived = false;
    bool any = false;
  };
  std::array<Acc, static_cast<std::size_t>(Buf::kCount)> bufs{};
  const TensorInfo* head = has_output ? output : tok;
  bool head_on_gpu = false;
  const bool op_offload = p.gpu_build && p.n_tokens >= kOpOffloadMinBatch;
  const std::uint64_t n_ub = p.n_tokens;
  const std::uint64_t n_used = std::max<std::uint64_t>(1, m.n_expert_used);
  std::uint64_t max_k[std::size(kVecDotClasses)][2] = {};
  Placement tok_pl;
  if (tok != nullptr) place(*tok, false, tok_pl);
  auto visit = [&](const Placement& pl, const TensorInfo& t) {
    Acc& b = bufs[static_cast<std::size_t>(pl.buf)];
    b.any = true;
    if (t.size_basis != Basis::kExact) b.derived = true;
    b.bytes += B(pl.alloc);
    if (pl.buf == Buf::kMapped && !pl.synthetic_output) {  // only the mapped buffer is a span
      b.lo = std::min(b.lo, t.offset);
      b.hi = std::max(b.hi, t.offset + t.nbytes);
    }
    if ((pl.synthetic_output || &t == head) && pl.on_gpu) head_on_gpu = true;
    if (!is_matmul(t.op)) return;
    if (t.layer_class == LayerClass::kRepeating) {
      // cuBLAS GEMMs: a repeating-layer matmul with an f16/bf16/f32 weight that runs on the GPU,
      // resident there or op-offloaded for a ubatch of >= 32 tokens (ggml-cuda.cu
      // ggml_cuda_mul_mat: float weights take cuBLAS for batches, quantized ones MMQ). The head is
      // not counted: serving asks for last-token logits, a 1-row product that is not offloaded.
      const bool runs_on_gpu = pl.on_gpu || (op_offload && cuda_supports_type(t.type));
      if (runs_on_gpu && t.ne[1] > 1 &&
          (t.type == QuantizationType::kF16 || t.type == QuantizationType::kBF16 ||
           t.type == QuantizationType::kF32))
        w.gpu_cublas_gemm = true;
      // A weight the GPU cannot run although its layer is offloaded (ternary TQ types upstream):
      // the CPU computes that matmul, and its activations live in the host compute buffer.
      if (!pl.on_gpu && p.layer_on_gpu(t.layer)) w.host_matmul_in_gpu_layer = true;
    }
    // No mmap + repack: non-host buffers are filled through a read buffer (llama-model-loader.cpp
    // load_all_data) that grows to the largest such tensor. glibc serves blocks above its mmap
    // threshold (raised dynamically up to DEFAULT_MMAP_THRESHOLD_MAX = 32 MiB) with mmap and
    // returns them on free; smaller ones stay in the heap. gt: +2.3 / +9.0 / +13.5 MiB over the
    // mmap runs = the largest repacked tensor of at most 32 MiB.
    if (!p.rc.mmap && (pl.buf == Buf::kRepack || pl.buf == Buf::kAmx) && !pl.synthetic_output &&
        t.nbytes <= kGlibcMmapThresholdMax)
      w.read_buffer = std::max(w.read_buffer, t.nbytes);
    // ggml-cpu work buffer (ggml_graph_plan) for matmuls the CPU runs.
    if (pl.on_gpu || pl.synthetic_output) return;
    const std::uint64_t K = t.ne[0], M = t.ne[1];
    if (prof.bitnet_kernels && is_bitnet_type(t.type)) {
      // ggml-bitnet-mad.cpp: int8 activations + scale + sum per row; ggml-bitnet-lut.cpp
      // ggml_bitnet_mul_mat_get_wsize: LUT scratch + 2-byte LUT floats, rounded to 64.
      B sz;
      if (t.type == QuantizationType::kI2_S) {
        sz = B(K) * B(n_ub) + B(8) * B(n_ub);
      } else {
        const B lut = t.type == QuantizationType::kTL1 ? B(15) * B(K) * B(n_ub) + B(8) * B(n_ub)
                                                       : B(11) * B(K) * B(n_ub) + B(16) * B(n_ub);
        sz = pad(lut + B(std::max(K, M)) * B(n_ub) * B(2), 64);
        ++w.n_tl;
      }
      w.work_bitnet = max(w.work_bitnet, sz);
      return;
    }
    // The widest src1 row per conversion class and op; bytes once at the end. MUL_MAT_ID
    // (experts): src1 holds n_expert_used rows per token.
    const std::uint8_t cls = vec_dot_class(t.type);
    std::uint64_t& k = max_k[cls][t.op == TensorOp::kMulMatId ? 1 : 0];
    k = std::max(k, K);
  };
  for (const auto& t : m.tensors) {
    if (&t == tok) {
      visit(tok_pl, t);
      continue;
    }
    Placement pl;
    place(t, false, pl);
    visit(pl, t);
  }
  if (make_synth) {
    Placement pl;
    place(synth, true, pl);
    // The duplicate is reused when token_embd's buffer type already holds it.
    if (pl.buf != tok_pl.buf) visit(pl, synth);
  }
  if (place_error) return *place_error;
  BITNET_TRY(alloc_sum.to_result("model buffer"));
  for (std::size_t c = 1; c < std::size(kVecDotClasses); ++c)
    for (int id = 0; id < 2; ++id)
      w.work_matmul = max(w.work_matmul,
                          div_ceil(B(max_k[c][id]) * B(id ? n_ub * n_used : n_ub) *
                                       B(kVecDotClasses[c].num), kVecDotClasses[c].den));
  // Op offload (memory-model.md §6): a host-resident head weight is copied into the GPU compute
  // buffer for ubatches of >= 32 tokens.
  if (op_offload && head != nullptr && !head_on_gpu) w.output_weight_on_host = head->nbytes;

  for (std::size_t i = 0; i < bufs.size(); ++i) {
    const Acc& b = bufs[i];
    if (!b.any) continue;
    const Buf kind = static_cast<Buf>(i);
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t bytes, b.bytes.to_result("model buffer"));
    Term term;
    term.part.name = buffer_name(p, kind);
    term.part.basis = b.derived ? Basis::kDerived : Basis::kExact;
    const bool mapped = kind == Buf::kMapped;
    const bool repacked = kind == Buf::kRepack || kind == Buf::kAmx;
    term.seg = repacked ? Seg::kQuant : Seg::kWeights;
    if (kind == Buf::kDevice) {
      term.part.device = p.gpu_dev;
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
