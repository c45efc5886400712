// Model buffers (memory-model.md §4): where each weight lives and what each llama.cpp buffer type
// holds. Exact per tensor: mapped spans, pad32 host buffers, CUDA row padding + pad128, repacked
// copies (quantization_overhead), the tied head's duplicate.
#include <algorithm>
#include <map>

#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kHostAlign = 32;   // ggml-cpu TENSOR_ALIGNMENT / buffer alignment
constexpr std::uint64_t kAmxAlign = 64;    // ggml-cpu/amx TENSOR_ALIGNMENT
constexpr std::uint64_t kCudaAlign = 128;  // ggml-cuda buffer type alignment
constexpr std::uint64_t kMatrixRowPadding = 512;  // ggml-cuda MATRIX_ROW_PADDING
constexpr std::uint64_t kOpOffloadMinBatch = 32;  // ggml-cuda GGML_OP_OFFLOAD_MIN_BATCH

bool is_block_quantized(QuantizationType t) {
  const QuantTraits* q = find_traits(t);
  return q != nullptr && q->block_elems > 1;
}

bool is_matmul(TensorOp op) { return op == TensorOp::kMulMat || op == TensorOp::kMulMatId; }

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

Result<std::uint64_t> repack_alloc(const TensorInfo& t, const RepackRule& r) {
  const QuantTraits* q = find_traits(t.type);
  B a = t.nbytes;
  if (q != nullptr && q->block_elems > 0 && r.extra_per_block > 0)
    a += B(t.n_elements / q->block_elems) * B(r.extra_per_block);
  return pad(a, r.buffer == "AMX" ? kAmxAlign : kHostAlign).to_result("repacked tensor size");
}

}  // namespace

Result<WeightsResult> weight_terms(const Plan& p) {
  const ModelStructureInfo& m = *p.m;
  const RuntimeProfile& prof = *p.prof;
  WeightsResult w;
  const std::string cuda_buf = "CUDA" + p.gpu_dev.substr(p.gpu_dev.find(':') + 1);

  const TensorInfo* tok = m.find_tensor("token_embd.weight");
  const bool has_output = m.find_tensor("output.weight") != nullptr;
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

  auto place = [&](const TensorInfo& t, bool synthetic) -> Result<Placement> {
    Placement pl;
    pl.t = &t;
    pl.synthetic_output = synthetic;
    const std::int64_t il = layer_index(p, t);
    pl.on_gpu = il >= 0 && p.layer_on_gpu(il) && cuda_supports_type(t.type);
    if (pl.on_gpu) {
      pl.buffer = cuda_buf;
      BITNET_ASSIGN_OR_RETURN(pl.alloc, cuda_alloc(t));
      return pl;
    }
    // Host. A GPU build never repacks (a host extra type reverts to CPU with mmap; no-mmap uses the
    // pinned CUDA_Host buffer); a CPU build tries the extra buffer types first (MUL_MAT weights).
    if (!p.gpu_build && prof.repack && p.repack_enabled && is_matmul(t.op)) {
      const RepackRule* r = find_repack_rule(t.type, t.ne[1], p.isa);
      if (r != nullptr && (t.op == TensorOp::kMulMat || r->buffer != "AMX")) {
        pl.buffer = std::string(r->buffer);
        BITNET_ASSIGN_OR_RETURN(pl.alloc, repack_alloc(t, *r));
        return pl;
      }
    }
    if (p.rc.mmap) {
      pl.buffer = std::string(prof.mapped_buffer);
      pl.alloc = t.nbytes;  // the span is computed over all mapped tensors below
    } else {
      pl.buffer = p.gpu_build ? "CUDA_Host" : "CPU";
      pl.alloc = pad(B(t.nbytes), kHostAlign).value();
    }
    return pl;
  };

  for (const auto& t : m.tensors) {
    BITNET_ASSIGN_OR_RETURN(Placement pl, place(t, false));
    w.placements.push_back(std::move(pl));
  }
  const Placement* tok_pl = nullptr;
  for (const auto& pl : w.placements)
    if (pl.t == tok) tok_pl = &pl;
  if (make_synth) {
    BITNET_ASSIGN_OR_RETURN(Placement pl, place(synth, true));
    // The duplicate is reused when token_embd's buffer type already holds it.
    if (tok_pl == nullptr || pl.buffer != tok_pl->buffer) {
      pl.t = nullptr;  // synthetic: no TensorInfo in the model
      w.placements.push_back(std::move(pl));
    }
  }

  // Op offload (memory-model.md §6): a host-resident head weight is copied into the GPU compute
  // buffer for ubatches of >= 32 tokens.
  if (p.gpu_build && p.n_tokens >= kOpOffloadMinBatch) {
    const TensorInfo* head = has_output ? m.find_tensor("output.weight") : tok;
    bool head_on_gpu = false;
    for (const auto& pl : w.placements)
      if (pl.on_gpu && ((pl.t != nullptr && pl.t == head && has_output) ||
                        (pl.synthetic_output)))
        head_on_gpu = true;
    if (head != nullptr && !head_on_gpu) w.output_weight_on_host = head->nbytes;
  }
  for (const auto& pl : w.placements) {
    const QuantizationType ty = pl.t != nullptr ? pl.t->type : synth.type;
    const TensorInfo& ti = pl.t != nullptr ? *pl.t : synth;
    if (pl.on_gpu && is_matmul(ti.op) && ti.ne[1] > 1 &&
        (ty == QuantizationType::kF16 || ty == QuantizationType::kBF16 ||
         ty == QuantizationType::kF32))
      w.gpu_cublas_gemm = true;
  }

  // Buffers.
  struct Buf {
    std::uint64_t bytes = 0;
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;  // mapped span
    bool derived = false;
    bool gpu = false;
    bool any = false;
  };
  std::map<std::string, Buf> bufs;
  for (const auto& pl : w.placements) {
    Buf& b = bufs[pl.buffer];
    b.any = true;
    b.gpu = pl.on_gpu;
    const TensorInfo& ti = pl.t != nullptr ? *pl.t : synth;
    if (ti.size_basis != Basis::kExact) b.derived = true;
    BITNET_ASSIGN_OR_RETURN(b.bytes, (B(b.bytes) + B(pl.alloc)).to_result("model buffer"));
    if (pl.t != nullptr) {
      b.lo = std::min(b.lo, pl.t->offset);
      b.hi = std::max(b.hi, pl.t->offset + pl.t->nbytes);
    }
  }
  for (auto& [name, b] : bufs) {
    Term term;
    term.part.name = name;
    term.part.basis = b.derived ? Basis::kDerived : Basis::kExact;
    const bool mapped = p.rc.mmap && !b.gpu && name == prof.mapped_buffer;
    const bool repacked = name == "CPU_REPACK" || name == "AMX";
    term.seg = repacked ? Seg::kQuant : Seg::kWeights;
    if (b.gpu) {
      term.part.device = p.gpu_dev;
      term.part.kind = MemoryKind::kDevice;
      term.part.bytes = b.bytes;
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
      term.part.kind = name == "CUDA_Host" ? MemoryKind::kPinned : MemoryKind::kAnonymous;
      term.part.bytes = b.bytes;
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
  return w;
}

}  // namespace bitnet::detail
