// KV cache and recurrent state (memory-model.md §5): per layer, with the layer's own KV heads (GQA,
// never the attention head count), K/V widths, SWA cells, MLA (K only), streams, KV types, and the
// device each layer's cache lives on (-ngl, -nkvo).
#include <algorithm>
#include <vector>

#include "estimate/digest.h"
#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kHostAlign = 32;
constexpr std::uint64_t kCudaAlign = 128;

struct DevBytes {
  B kv, rs;
};

}  // namespace

Status kv_terms(const Plan& p, std::vector<Term>& out) {
  const ModelStructureInfo& m = *p.m;
  const QuantizationType tk = precision_type(p.rc.type_k), tv = precision_type(p.rc.type_v);
  // V is stored transposed without FA; layers are then padded to the widest V row.
  const bool v_trans = !p.rc.flash_attn;
  const std::uint64_t v_max = p.digest->max_n_embd_v_gqa;
  // Per device (the plan's own strings, compared by address), sorted by name at the end.
  std::vector<std::pair<const std::string*, DevBytes>> by_dev;
  by_dev.reserve(4);
  bool any_attn = false;
  std::uint64_t k_width = 0, k_row = 0, v_width = 0, v_row = 0;
  static const std::string kHost = "cpu";
  // Runs of identical layers (digest), cut where the device changes: each piece adds one layer's
  // bytes times its length.
  for (const LayerRun& run : p.digest->layer_runs) {
    const LayerInfo& L = run.info;
    const std::uint32_t end = run.first + run.count;
    for (std::uint32_t il = run.first; il < end;) {
      const bool gpu = p.layer_on_gpu(il) && p.kv_offload;
      const int gi = gpu ? p.gpu_of(il) : -1;
      std::uint32_t next = il + 1;
      while (next < end && (p.layer_on_gpu(next) && p.kv_offload) == gpu && (!gpu || p.gpu_of(next) == gi)) ++next;
      const B n(next - il);
      const std::string& dev = gpu ? p.gpu_devs[static_cast<std::size_t>(gi)] : kHost;
      const std::uint64_t align = gpu ? kCudaAlign : kHostAlign;
      il = next;
      auto it = std::find_if(by_dev.begin(), by_dev.end(), [&](const auto& e) { return e.first == &dev; });
      if (it == by_dev.end()) {
        by_dev.push_back({&dev, DevBytes{}});
        it = by_dev.end() - 1;
      }
      DevBytes& d = it->second;
      if (L.kind == LayerKind::kAttention) {
        any_attn = true;
        const B cells = B(attn_cells(p, L)) * B(p.n_stream);
        if (L.n_embd_k_gqa > 0) {
          if (L.n_embd_k_gqa != k_width) {  // layers mostly share widths: remember the last row
            BITNET_ASSIGN_OR_RETURN(k_row, row_bytes(tk, L.n_embd_k_gqa));
            k_width = L.n_embd_k_gqa;
          }
          d.kv += n * pad(B(k_row) * cells, align);
        }
        if (L.n_embd_v_gqa > 0) {  // MLA caches K only
          const std::uint64_t w = v_trans ? v_max : L.n_embd_v_gqa;
          if (w != v_width) {
            BITNET_ASSIGN_OR_RETURN(v_row, row_bytes(tv, w));
            v_width = w;
          }
          d.kv += n * pad(B(v_row) * cells, align);
        }
      } else if (L.kind == LayerKind::kRecurrent) {
        // llama-memory-recurrent.cpp: r and s tensors, f32, one row per sequence.
        d.rs += n * (pad(B(4) * B(L.n_embd_r) * B(p.rc.n_seq), align) +
                     pad(B(4) * B(L.n_embd_s) * B(p.rc.n_seq), align));
      }
    }
  }
  const bool exact = m.architecture_known && m.hparams_basis == Basis::kExact &&
                     m.layers.size() == m.n_layer;
  std::sort(by_dev.begin(), by_dev.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
  for (auto& entry : by_dev) {
    const std::string& dev = *entry.first;  // (clang 14: lambdas cannot capture structured bindings)
    const DevBytes& d = entry.second;
    const bool gpu = dev != "cpu";
    auto add = [&](const char* name, B bytes, const char* src) -> Status {
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t v, bytes.to_result(name));
      if (v == 0) return Ok{};
      Term t;
      t.seg = Seg::kKv;
      t.part.name = name;
      t.part.device = dev;
      t.part.kind = gpu ? MemoryKind::kDevice : MemoryKind::kAnonymous;
      t.part.bytes = v;
      t.part.resident_bytes = v;  // cleared at creation: fully resident
      t.part.basis = exact ? Basis::kExact : Basis::kDerived;
      t.part.source = src;
      t.load_resident = p.prof->commit_at_load ? v : 0;
      out.push_back(std::move(t));
      return Ok{};
    };
    BITNET_TRY(add("kv_cache", d.kv,
                   "llama-kv-cache.cpp: sum over layers of row_size(type, n_head_kv*head_dim) * cells "
                   "* streams, K and V"));
    BITNET_TRY(add("recurrent_state", d.rs,
                   "llama-memory-recurrent.cpp: 4*(n_embd_r + n_embd_s)*n_seq per layer"));
  }
  if (m.n_layer == 0 || (!any_attn && !m.recurrent)) {
    Term t;
    t.seg = Seg::kKv;
    t.part.name = "kv_cache";
    t.part.device = "cpu";
    t.part.basis = Basis::kUnknown;
    t.part.source = "no attention or recurrent layer was recognised: the cache size is unknown";
    out.push_back(std::move(t));
  }
  return Ok{};
}

}  // namespace bitnet::detail
