// What the runtime adds beyond its buffers (memory-model.md §7): the process base, tokenizer,
// per-tensor host objects, graph metadata, the GGUF metadata load transient, and on a GPU the CUDA
// context, cuBLAS workspaces and the CUDA memory pool (src/tables/device_overheads.cpp).
#include <algorithm>
#include <array>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/measure.h"
#include "estimate/digest.h"
#include "estimate/estimate_internal.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kGraphBytesPerNode = 1536;
// Host cost per tensor after load (objects, names, loader maps): 1.3-1.6 KiB measured (§1).
constexpr std::uint64_t kHostBytesPerTensor = 1536;
constexpr std::uint64_t kStdStringBytes = 32;   // sizeof(std::string), libstdc++ 64-bit

// glibc malloc (malloc.c request2size, 64-bit): a request of n bytes takes a chunk of
// max(MINSIZE 32, pad16(n + SIZE_SZ 8)) bytes of heap.
std::uint64_t malloc_chunk(std::uint64_t n) { return std::max<std::uint64_t>(32, (n + 8 + 15) & ~std::uint64_t{15}); }
// libstdc++ std::string: up to 15 characters inline (SSO); a copy of a longer one allocates len + 1.
std::uint64_t string_heap(std::uint64_t len) { return len <= 15 ? 0 : malloc_chunk(len + 1); }

std::string_view intern_slow(std::string_view a, std::string_view b);

// A composed source (a mechanism plus a table row's reference) as static text: MemoryPart::source
// points at static storage. The set is bounded (a few mechanisms x the overhead table's rows), so
// each distinct text is kept once for the life of the program.
std::string_view intern(std::string_view a, std::string_view b) {
  // Both halves are static text, so their addresses name the pair: a thread's last few pairs are
  // answered without the lock or a string compare.
  struct Seen {
    const char *a, *b;
    std::size_t na, nb;
    std::string_view s;
  };
  thread_local std::array<Seen, 16> seen{};
  thread_local std::size_t next = 0;
  for (const Seen& e : seen)
    if (e.a == a.data() && e.b == b.data() && e.na == a.size() && e.nb == b.size() && !e.s.empty()) return e.s;
  const std::string_view s = intern_slow(a, b);
  seen[next] = {a.data(), b.data(), a.size(), b.size(), s};
  next = (next + 1) % seen.size();
  return s;
}

std::string_view intern_slow(std::string_view a, std::string_view b) {
  static std::mutex mu;
  static std::set<std::string, std::less<>> pool;
  thread_local std::string key;  // reused: a lookup of a known text allocates nothing
  key.assign(a).append(b);
  const std::lock_guard<std::mutex> lock(mu);
  if (const auto it = pool.find(key); it != pool.end()) return *it;
  return *pool.insert(key).first;
}

}  // namespace

// What the native loader keeps per model beyond its buffers (load_model.cpp): LoadedModel::Impl's
// copy of the ModelStructureInfo (tensor and layer vectors, names, the type map) and one
// TensorView per tensor (a copy of the name each). Derived from the structs, not fitted.
B native_loader_struct_bytes(const ModelStructureInfo& m) {
  const std::uint64_t n = m.tensors.size();
  B b = B(malloc_chunk(sizeof(TensorInfo) * n)) + B(malloc_chunk(sizeof(TensorView) * n)) +
        B(malloc_chunk(sizeof(LayerInfo) * m.layers.size())) +
        B(malloc_chunk(sizeof(LoadedModel)) + string_heap(m.path.size()));
  for (const TensorInfo& t : m.tensors) b += B(2) * B(string_heap(t.name.size()));
  // std::map nodes: the red-black header (32 B) + the value, and the key's heap.
  for (const auto& [name, stats] : m.tensor_types)
    b += B(malloc_chunk(32 + sizeof(std::pair<const std::string, TensorTypeStats>))) +
         B(string_heap(name.size()));
  return b;
}

Status system_terms(const Plan& p, const WeightsResult& w, std::vector<Term>& out) {
  const ModelStructureInfo& m = *p.m;
  const RuntimeProfile& prof = *p.prof;
  auto push = [&](const char* name, const std::string& dev, MemoryKind kind, B bytes, B resident,
                  B load, Basis basis, std::string_view src) -> Status {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t v, bytes.to_result(name));
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t r, resident.to_result(name));
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t l, load.to_result(name));
    Term t;
    t.seg = Seg::kSystem;
    t.part = MemoryPart{name, dev, kind, v, r, basis, src};
    t.load_resident = l;
    out.push_back(std::move(t));
    return Ok{};
  };

  // Process base: code, libc, ggml, thread pool (RSS after backend init). A runtime that loads in
  // this very process (native) takes the RSS measured just before the load when it is given.
  if (p.measured_base) {
    const B base = B(*p.measured_base);
    BITNET_TRY(push("process_base", "cpu", MemoryKind::kAnonymous, base, base, base, Basis::kExact,
                    "measured input: this process's RSS just before the load (validate_model)"));
  } else {
    const HostBase& base = host_base(p.gpu_build ? "cuda" : prof.host_base);
    BITNET_TRY(push("process_base", "cpu", MemoryKind::kAnonymous, base.process_base,
                    base.process_base, base.process_base, base.basis, base.source));
  }
  if (p.gpu_build) {
    const GpuOverheads& g = *p.gpu;
    BITNET_TRY(push("cuda_runtime_host", "cpu", MemoryKind::kAnonymous, g.host_runtime_rss,
                    g.host_runtime_rss, g.host_runtime_rss, g.basis,
                    intern("CUDA init: host RSS of libcudart/cuBLAS and the driver; ", g.source)));
    BITNET_TRY(push("cuda_pinned_init", "cpu", MemoryKind::kPinned, g.host_pinned_init,
                    g.host_pinned_init, g.host_pinned_init, g.basis,
                    intern("CUDA init: pinned host memory; ", g.source)));
  }

  // Per-tensor host objects and loader maps.
  switch (prof.host_objects) {
    case HostObjects::kRuntimeCalibrated: {
      const B objects = B(kHostBytesPerTensor) * B(m.tensors.size());
      BITNET_TRY(push("tensor_objects", "cpu", MemoryKind::kAnonymous, objects, objects, objects,
                      Basis::kCalibrated,
                      "ggml_tensor_overhead + names + loader maps: 1.5 KiB per tensor (fit, §1)"));
      break;
    }
    case HostObjects::kLoaderStructs: {
      const B objects = p.digest->native_loader_bytes;
      BITNET_TRY(push("loader_objects", "cpu", MemoryKind::kAnonymous, objects, objects, objects,
                      Basis::kDerived,
                      "native loader: the LoadedModel's copy of the analysis (TensorInfo, LayerInfo) "
                      "and one TensorView per tensor, names on the heap (glibc chunks)"));
      break;
    }
  }

  if (prof.kv_cells.per_cell > 0) {
    // KV cell bookkeeping: every cell of each cache at creation; at the serving peak one sequence
    // fills its stream (the SWA cache holds at most its own cells).
    bool full = false, swa = false;
    for (const LayerRun& run : p.digest->layer_runs) {
      if (run.info.kind != LayerKind::kAttention) continue;
      (run.info.is_swa && p.swa_size != p.kv_size ? swa : full) = true;
    }
    B cells, used;
    if (full) {
      cells += B(p.kv_size) * B(p.n_stream);
      used += B(p.kv_size);
    }
    if (swa) {
      cells += B(p.swa_size) * B(p.n_stream);
      used += B(p.swa_size);
    }
    const B created = cells * B(prof.kv_cells.per_cell);
    const B first_decode = full || swa ? B(prof.kv_cells.first_decode) +
                                             B(full && swa ? prof.kv_cells.first_decode_per_cache : 0)
                                       : B(0);
    const B serving = created + used * B(prof.kv_cells.per_used_cell) + first_decode;
    if (created.value() > 0 || created.overflow())
      BITNET_TRY(push("kv_cell_metadata", "cpu", MemoryKind::kAnonymous, serving, serving, B(0),
                      prof.kv_cells.first_decode > 0 ? Basis::kCalibrated : Basis::kDerived,
                      prof.kv_cells.source));
  }

  if (!prof.commit_at_load) {
    // Graph metadata: two graphs of max_nodes = max(1024, 8*n_tensors) nodes plus the scheduler's
    // hash sets (llama-context.cpp graph_max_nodes, ggml_graph_overhead_custom).
    // Calibrated per node: anonymous growth at context creation beyond the KV cache and output
    // buffer is 1.1-1.8 KiB per graph node (tiny-llama 1.75 MiB / 1024 nodes, bitnet-2b
    // 4.7-6.8 MiB / 4336, gemma3 2.6-5.9 MiB / 1888; §13), less where freed loader heap is reused.
    const std::uint64_t max_nodes = std::max<std::uint64_t>(1024, 8 * m.tensors.size());
    const B graph = B(max_nodes) * B(kGraphBytesPerNode);
    BITNET_TRY(push("graph_metadata", "cpu", MemoryKind::kAnonymous, graph, graph, B(0),
                    Basis::kCalibrated,
                    "llama-context.cpp graph_max_nodes = max(1024, 8*n_tensors); graph, scheduler "
                    "hash sets and split contexts: 1.5 KiB per node (fit)"));
  }
  {
    // Code pages of the runtime first touched by loading and decoding (file-backed RSS beyond the
    // mapped span and the base): llama.cpp 1.3-1.5 MiB in the CPU runs; our loader (estimate +
    // load_model) 0.9 MiB in a small program, 1.1-1.2 MiB in the unit-test binary.
    const HostBase& row = host_base(p.gpu_build ? "cuda" : prof.host_base);
    BITNET_TRY(push("runtime_code_pages", "cpu", MemoryKind::kMapped, B(row.code_pages),
                    B(row.code_pages), B(row.code_pages), Basis::kCalibrated, row.code_source));
  }

  if (prof.tokenizer) {
    const TokenizerCost& c = tokenizer_cost(m.tokenizer.model);
    const std::uint64_t n_tok = m.tokenizer.n_tokens > 0 ? m.tokenizer.n_tokens : m.n_vocab;
    const B tok = B(c.fixed_bytes) + B(c.per_token) * B(n_tok) + B(c.per_merge) * B(m.tokenizer.n_merges) +
                  B(c.long_token_copies) * B(m.tokenizer.long_token_heap_bytes);
    BITNET_TRY(push("tokenizer", "cpu", MemoryKind::kAnonymous, tok, tok, tok, c.basis, c.source));
    // The GGUF token and merge arrays are copied into std::strings while the vocabulary is built,
    // then freed: a load-phase transient (§13).
    const B transient = B(m.tokenizer.tokens_bytes) + B(m.tokenizer.merges_bytes) +
                        B(kStdStringBytes) * (B(n_tok) + B(m.tokenizer.n_merges));
    BITNET_TRY(push("gguf_metadata_transient", "cpu", MemoryKind::kAnonymous, transient, B(0),
                    transient, Basis::kHeuristic,
                    "llama-model-loader / llama-vocab load: token and merge strings copied, then "
                    "freed (load phase only)"));
  }

  if (p.gpu_build) {
    // Per GPU of the split: its CUDA context (its own overhead row), and whether attention runs on
    // it and over how many cells (no FA: cuBLAS and the f16 KQ in its pool).
    const std::size_t n = p.n_gpus();
    std::vector<std::uint64_t> n_kv(n, 0);
    std::vector<bool> attn(n, false);
    for (const LayerRun& run : p.digest->layer_runs) {
      const LayerInfo& L = run.info;
      if (L.kind != LayerKind::kAttention) continue;
      for (std::uint32_t il = run.first; il < run.first + run.count; ++il) {
        const int j = p.gpu_of(il);
        if (j < 0) continue;
        attn[static_cast<std::size_t>(j)] = true;
        n_kv[static_cast<std::size_t>(j)] = std::max(n_kv[static_cast<std::size_t>(j)], attn_cells(p, L));
      }
    }
    const bool attn_on_gpu = std::find(attn.begin(), attn.end(), true) != attn.end();
    for (std::size_t j = 0; j < n; ++j) {
      const GpuOverheads& g = *p.gpu_rows[j];
      BITNET_TRY(push("cuda_context", p.gpu_devs[j], MemoryKind::kDevice, g.cuda_context,
                      g.cuda_context, B(0), g.basis,
                      intern("CUDA context (driver, runtime, kernel images); ", g.source)));
    }
    // Pools and workspaces appear at the first ubatch and never shrink.
    const GpuOverheads& g = *p.gpu;
    const bool cublas_any = w.gpu_cublas_gemm || (attn_on_gpu && !p.rc.flash_attn);
    // Host side of the same first-ubatch growth: lazily loaded CUDA modules (kernel images), once
    // per process.
    B lazy = B(g.host_lazy_modules);
    if (cublas_any) lazy += B(g.host_lazy_cublas);
    if (attn_on_gpu && !p.rc.flash_attn) lazy += B(g.host_lazy_no_fa);
    BITNET_TRY(push("cuda_lazy_modules_host", "cpu", MemoryKind::kAnonymous, lazy, lazy, B(0),
                    g.basis == Basis::kHeuristic ? Basis::kHeuristic : Basis::kCalibrated,
                    intern("CUDA lazy module loading: host memory of kernels loaded at the first ubatch "
                    "(more once cuBLAS and the no-FA attention kernels run); ", g.source)));
    for (std::size_t j = 0; j < n; ++j) {
      const GpuOverheads& gj = *p.gpu_rows[j];
      // A cuBLAS GEMM weight anywhere counts on every GPU of a split (an upper bound there).
      const bool cublas = w.gpu_cublas_gemm || (attn[j] && !p.rc.flash_attn);
      B pool = B(gj.retained_pool) + B(gj.transient_pool);
      if (cublas) pool += B(gj.cublas_gemm_extra);
      // No FA: the KQ*V GEMM converts KQ to f16 in the pool: 2*n_kv*n_ub*n_head.
      if (attn[j] && !p.rc.flash_attn) pool += B(2) * B(n_kv[j]) * B(p.n_tokens) * B(p.digest->max_n_head);
      BITNET_TRY(push("cublas_workspace_pool", p.gpu_devs[j], MemoryKind::kDevice, pool, pool, B(0),
                      gj.basis == Basis::kHeuristic ? Basis::kHeuristic : Basis::kCalibrated,
                      intern("ggml-cuda: cuBLAS workspace + VMM pool (retained + first-ubatch temporaries, "
                      "+ cuBLAS GEMM state, + no-FA f16 KQ); ", gj.source)));
    }
  }
  return Ok{};
}

}  // namespace bitnet::detail
