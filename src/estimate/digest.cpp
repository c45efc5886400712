// make_digest: one pass over the tensors per analysis (see digest.h).
#include "estimate/digest.h"

#include <algorithm>

#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

constexpr std::uint64_t kHostAlign = 32;   // ggml-cpu TENSOR_ALIGNMENT / buffer alignment
constexpr std::uint64_t kAmxAlign = 64;    // ggml-cpu/amx TENSOR_ALIGNMENT
constexpr std::uint64_t kGlibcMmapThresholdMax = 32ull << 20;  // glibc malloc.c, 64-bit

TensorGroup key_of(const TensorInfo& t, bool by_layer, bool is_tok, bool is_head) {
  TensorGroup k;
  k.type = t.type;
  k.op = t.op;
  k.layer_class = t.layer_class;
  k.layer = by_layer && t.layer_class == LayerClass::kRepeating ? t.layer : -1;
  k.ne1_low = static_cast<std::uint8_t>(t.ne[1] & 31);
  k.is_tok = is_tok;
  k.is_head = is_head;
  std::uint8_t n = 0;
  for (const RepackRule& r : all_repack_rules())
    if (r.type == t.type && (t.ne[1] & (r.ne1_multiple - 1)) == 0 && n < k.rules.size())
      k.rules[n++] = &r;
  return k;
}

void add(TensorGroup& g, const TensorInfo& t, bool cuda) {
  ++g.count;
  g.nbytes += B(t.nbytes);
  g.pad32 += pad(B(t.nbytes), kHostAlign);
  if (cuda) {  // only GPU placement (the per-layer groups) reads CUDA sizes
    auto c = cuda_alloc_bytes(t);
    if (c) g.cuda += B(*c);
    else if (!g.cuda_error) g.cuda_error = c.error();
  }
  for (std::size_t i = 0; i < g.rules.size() && g.rules[i] != nullptr; ++i) {
    const RepackRule& r = *g.rules[i];
    B a = B(t.nbytes);
    if (r.extra_per_block > 0) {
      const QuantTraits* q = find_traits(t.type);
      if (q != nullptr && q->block_elems > 0) a += B(t.n_elements / q->block_elems) * B(r.extra_per_block);
    }
    g.repacked[i] += pad(a, r.amx ? kAmxAlign : kHostAlign);
  }
  if (!g.synthetic) {
    g.lo = std::min(g.lo, t.offset);
    g.hi = std::max(g.hi, t.offset + t.nbytes);
  }
  const std::uint64_t K = t.ne[0], M = t.ne[1];
  g.max_ne0 = std::max(g.max_ne0, K);
  if (t.type == QuantizationType::kTL1 || t.type == QuantizationType::kTL2) {
    const std::uint64_t c = t.type == QuantizationType::kTL1 ? 15 : 11;
    g.max_tl = std::max(g.max_tl, c * K + 2 * std::max(K, M));
  }
  if (t.nbytes <= kGlibcMmapThresholdMax) g.max_read = std::max(g.max_read, t.nbytes);
  g.wide = g.wide || M > 1;
  g.derived = g.derived || t.size_basis != Basis::kExact;
}

bool matches(const TensorGroup& g, const TensorInfo& t, std::int32_t layer, bool is_tok,
             bool is_head) {
  return g.type == t.type && g.op == t.op && g.layer_class == t.layer_class && g.layer == layer &&
         g.ne1_low == (t.ne[1] & 31) && g.is_tok == is_tok && g.is_head == is_head && !g.synthetic;
}

void insert(std::vector<TensorGroup>& list, const TensorInfo& t, bool by_layer, bool is_tok,
            bool is_head) {
  const std::int32_t layer = by_layer && t.layer_class == LayerClass::kRepeating ? t.layer : -1;
  // Consecutive tensors mostly share a key; search from the back.
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    if (matches(*it, t, layer, is_tok, is_head)) {
      add(*it, t, by_layer);
      return;
    }
    if (by_layer && it->layer != layer) break;  // a layer's groups are contiguous in file order
  }
  list.push_back(key_of(t, by_layer, is_tok, is_head));
  add(list.back(), t, by_layer);
}

// The weights graph_sim.cpp's CUDA-build simulation reads (SimWeights), by tensor name.
SimWeights make_sim_weights(const ModelStructureInfo& m, const TensorInfo* head, bool head_is_tok) {
  SimWeights w;
  w.head_host = head_is_tok;
  static constexpr std::string_view kRoles[7] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                 "ffn_up", "ffn_gate", "ffn_down"};
  w.wb.assign(m.n_layer + std::size_t{1}, std::array<std::uint64_t, 7>{});
  w.wok.assign(m.n_layer + std::size_t{1}, std::array<bool, 7>{true, true, true, true, true, true, true});
  w.ws.assign(m.n_layer + std::size_t{1}, std::array<bool, 7>{});
  for (const TensorInfo& t : m.tensors) {
    const std::string_view nm = t.name;
    if (nm.substr(0, 4) != "blk.") continue;
    const std::size_t dot = nm.find('.', 4);
    if (dot == std::string_view::npos || dot == 4 || dot > 13) continue;
    std::uint64_t il = 0;
    bool digits = true;
    for (std::size_t k = 4; k < dot; ++k) {
      digits = digits && nm[k] >= '0' && nm[k] <= '9';
      il = il * 10 + static_cast<std::uint64_t>(nm[k] - '0');
    }
    if (!digits || il >= m.n_layer) continue;
    const std::string_view role = nm.substr(dot + 1);
    for (std::size_t r = 0; r < 7; ++r) {
      if (role.size() != kRoles[r].size() + 6 && role.size() != kRoles[r].size() + 7) continue;
      if (role.substr(0, kRoles[r].size()) != kRoles[r]) continue;
      if (role.substr(kRoles[r].size()) == ".scale") w.ws[il][r] = true;  // build_lora_mm's w_s
      if (role.substr(kRoles[r].size()) != ".weight") continue;
      const auto bytes = cuda_alloc_bytes(t);
      if (!bytes) return w;  // ok stays false: the simulation is not used
      w.wb[il][r] = *bytes;
      w.wok[il][r] = cuda_supports_type(t.type);
    }
  }
  if (head == nullptr) return w;
  const auto hb = cuda_alloc_bytes(*head);
  if (!hb) return w;
  w.wb[m.n_layer][0] = *hb;
  w.wok[m.n_layer][0] = cuda_supports_type(head->type);
  w.ok = true;
  return w;
}

}  // namespace

TensorDigest make_digest(const ModelStructureInfo& m, bool by_layer) {
  TensorDigest d;
  const TensorInfo* tok = m.find_tensor("token_embd.weight");
  const TensorInfo* output = m.find_tensor("output.weight");
  const bool head_is_tok = tok != nullptr && output == nullptr && head_reads_token_embd(m.architecture);
  d.head = output != nullptr ? output : tok;
  d.n_tensors = m.tensors.size();
  d.has_by_layer = by_layer;
  d.merged.reserve(16);
  for (const TensorInfo& t : m.tensors) {
    const bool is_tok = &t == tok, is_head = &t == d.head;
    if (by_layer) insert(d.by_layer, t, true, is_tok, is_head);
    insert(d.merged, t, false, is_tok, is_head);
    d.n_unknown += t.type == QuantizationType::kUnknown ? 1 : 0;
    d.n_bitnet += (t.type == QuantizationType::kI2_S || t.type == QuantizationType::kTL1 ||
                   t.type == QuantizationType::kTL2) ? 1 : 0;
  }
  // The tied head's duplicate (llama-model.cpp TENSOR_DUPLICATED), unless the head reads token_embd.
  if (tok != nullptr && output == nullptr && m.tied_output && !head_is_tok) {
    TensorInfo synth = *tok;
    synth.layer_class = LayerClass::kOutput;
    synth.layer = -1;
    synth.op = TensorOp::kMulMat;
    TensorGroup g = key_of(synth, false, false, false);
    g.synthetic = true;
    add(g, synth, true);
    d.synth = std::move(g);
  }
  d.native_loader_bytes = native_loader_struct_bytes(m);
  if (by_layer) d.sim_weights = make_sim_weights(m, d.head, head_is_tok);
  for (std::uint32_t il = 0; il < m.n_layer; ++il) {
    const LayerInfo L = layer_at(m, il);
    if (!d.layer_runs.empty() && same_layer(d.layer_runs.back().info, L)) {
      ++d.layer_runs.back().count;
    } else {
      d.layer_runs.push_back({il, 1, L});
    }
  }
  d.max_n_head = max_n_head(m);
  d.max_n_embd_v_gqa = max_n_embd_v_gqa(m);
  d.n_ff_effective = n_ff_effective(m);
  return d;
}

}  // namespace bitnet::detail
