// The reserve graph of one ubatch (llama-graph.cpp, src/models/<arch>.cpp) as tensors for the
// allocator model, and the compute buffer it needs (memory-model.md §6 "simulated").
//
// Only what the allocator can see is built: the shape and type of every tensor the graph owns,
// which tensors are views, inputs, outputs or external (weights, caches), and the sources in the
// order ggml walks them. Ops that provably change nothing are left out: bias adds and per-tensor
// scales (in place on a matmul result with one child, same size), names, control vectors.
//
// Periodicity (the speed argument, memory-model.md §6): layers of the same class build identical
// sub-graphs whose only links to the rest are the residual stream and the graph inputs. The
// allocator's future after a layer boundary is a function of its free list, its high-water
// mark, the residual's offset and the layer classes to come. The class sequence has a period P
// (1 for uniform stacks, the SWA pattern for iSWA models); once the state after layer k equals the
// state after layer k - P, every later boundary in step with k repeats it and the high-water mark
// cannot grow, so the simulation jumps to the tail: the last P layers (P + 1 when the last layer
// breaks the period), which hold every input's last use and the output rows. Inputs used across
// layers are held ("pinned") until the tail, where their remaining uses are counted exactly. The
// tail is replayed too where it can be: a recording notes each use of a pinned input (kUse) and
// the events up to the attention output projection (wo), after which only the last layer
// differs (it selects the output rows); the tail's layers replay their class's events with the
// inputs unpinned (each freed at its last use, as ggml frees it), the last one up to wo, and only
// its rest and the output head are built. Without a period, or before the state repeats, every
// layer is simulated. A uniform stack thus builds one layer and a half per graph whatever its
// depth.
#include "estimate/graph_sim.h"

#include <algorithm>
#include <array>

#include "estimate/digest.h"
#include "estimate/estimate_internal.h"
#include "estimate/graph_alloc.h"

namespace bitnet::detail::gsim {
namespace {

using galloc::Graph;
using galloc::kNone;
using galloc::Op;
using galloc::Tensor;
using Ne = std::array<std::int64_t, 4>;

struct Ty {
  std::uint8_t id, size;
};
constexpr Ty kF32{0, 4}, kF16{1, 2}, kI32{2, 4}, kI64{3, 8};
// Residency: x86-64 Linux pages; ggml_aligned_malloc's posix_memalign(64, size) of a buffer this
// large is a fresh mmapped glibc chunk whose user pointer sits 64 bytes into its first page (the
// chunk header before it makes that page resident). Measured with mincore on the real llama.cpp
// (tools/llamacpp-driver LLAMACPP_DRIVER_SMAPS=1).
constexpr std::uint64_t kPage = 4096, kBufferBase = 64;

constexpr Recipe kRecipes[] = {
    {"llama"},
    {"qwen2"},
    {"qwen3", /*qk_norm=*/true},
    {"bitnet", false, /*sub_norms=*/true},
    {"gemma2", false, false, /*post_norms=*/true, /*embd_scale=*/true, /*q_scale=*/true,
     /*attn_softcap=*/true, /*final_softcap=*/true, /*iswa=*/true, false, false, FfnAct::kGeglu},
    {"gemma3", /*qk_norm=*/true, false, /*post_norms=*/true, /*embd_scale=*/true, /*q_scale=*/true,
     false, false, /*iswa=*/true, false, false, FfnAct::kGeglu},
    {"qwen3moe", /*qk_norm=*/true, false, false, false, false, false, false, false, /*moe=*/true,
     /*moe_norm_w=*/true},
};

std::int64_t I(std::uint64_t v) { return static_cast<std::int64_t>(v); }

// A tensor as the builder passes it around: an allocatable tensor of the graph, or a view of
// one (reshape, view, permute, transpose), which ggml-alloc never allocates and never lets
// anything run in place of. Views are not graph tensors here: a source that is a view names its
// root and is marked as a view (Graph::expand folds views into their roots the same way).
struct Ref {
  std::int32_t id = kNone;  // the tensor, or the view's root
  Ne ne{1, 1, 1, 1};
  Ty ty{0, 4};
  bool view = false;
};

// Inputs of one cache (llm_graph_input_attn_kv): KV indices, mask, Hadamard rotations.
struct CacheInputs {
  Ref k_idxs, v_idxs, mask, k_rot, v_rot;
  Ref k, v;  // the cache tensors (external)
};

class Builder {
 public:
  Builder(Graph& g, const Params& sp, std::uint64_t n_tok, std::uint64_t n_out)
      : g_(g), sp_(sp), r_(*sp.recipe), n_tok_(n_tok), n_out_(n_out) {
    weight_ = external(kF32, {1, 1, 1, 1});
  }

  // --- ggml ops, shapes as ggml.c computes them --------------------------------------------
  Ref leaf_input(Ty ty, const Ne& ne, bool pin) {
    const std::int32_t i = g_.make(Op::kLeaf, ty.size, ty.id, ne);
    g_[i].input = true;
    g_[i].pinned = pin && !sp_.gpu;
    return {i, ne, ty, false};
  }
  Ref external(Ty ty, const Ne& ne) {
    const std::int32_t i = g_.make(Op::kLeaf, ty.size, ty.id, ne);
    g_[i].external = true;
    return {i, ne, ty, false};
  }
  Ref node(Op op, Ty ty, const Ne& ne, const Ref& a, const Ref& b = {}, const Ref& c = {},
           const Ref& d = {}) {
    const std::int32_t i = g_.make(op, ty.size, ty.id, ne);
    Tensor& t = g_[i];
    t.src = {a.id, b.id, c.id, d.id};
    t.via_view = static_cast<std::uint8_t>((a.view ? 1u : 0u) | (b.view ? 2u : 0u) | (c.view ? 4u : 0u) |
                                           (d.view ? 8u : 0u));
    if (sp_.gpu) t.srcb = {bytes_of(a), bytes_of(b), bytes_of(c), bytes_of(d)};
    return {i, ne, ty, false};
  }
  static std::uint64_t bytes_of(const Ref& r) {
    return r.id == kNone ? 0 : static_cast<std::uint64_t>(r.ne[0] * r.ne[1] * r.ne[2] * r.ne[3]) * r.ty.size;
  }
  // A weight of the current layer (role 0..6: q k v o up gate down; 7: a norm of `bytes`).
  Ref W(int role, std::uint64_t bytes = 0) {
    if (!sp_.gpu) return weight_;
    const Params::Dev& d = sp_.dev[il_];
    const std::uint64_t b = role < 7 ? d.wb[static_cast<std::size_t>(role)] : bytes;
    const Ref r = external(Ty{210, 1}, {I(b), 1, 1, 1});
    g_[r.id].weight = true;
    g_[r.id].home = d.gpu && (role >= 7 || !d.whost[static_cast<std::size_t>(role)]) ? 0 : 1;
    g_[r.id].cuda_ok = role < 7 ? d.wok[static_cast<std::size_t>(role)] : true;
    return r;
  }
  Ref sched(Ref r, std::uint8_t sop) {
    g_[r.id].sop = sop;
    return r;
  }
  void set_layer(std::size_t il) { il_ = il; }
  static Ref view(const Ref& a, const Ne& ne) { return {a.id, ne, a.ty, true}; }
  static Ref permute_0213(const Ref& a) { return view(a, {a.ne[0], a.ne[2], a.ne[1], a.ne[3]}); }
  // ggml_dup_tensor-shaped ops (same type and shape as src0).
  Ref same(Op op, const Ref& a, const Ref& b = {}, const Ref& c = {}) { return node(op, a.ty, a.ne, a, b, c); }
  Ref mul_mat(std::uint64_t rows, const Ref& b, int role) {
    const Ref w = W(role);
    const Ref r = mul_mat(rows, b, w);
    g_[r.id].cuda_ok = g_[w.id].cuda_ok;
    // The per-tensor scale: in place, changes nothing on one backend (left out there), but in
    // the CUDA build it runs where its weight lives, which may not be where the matmul ran.
    if (sp_.gpu && role < 7 && sp_.dev[il_].ws[static_cast<std::size_t>(role)])
      return same(Op::kInplace, r, W(7, 4));  // one f32 element, in the layer's buffer
    return r;
  }
  Ref mul_mat(std::uint64_t rows, const Ref& b, const Ref& a) {
    return sched(node(Op::kOther, kF32, {I(rows), b.ne[1], b.ne[2], b.ne[3]}, a, b), galloc::kSchedMulMat);
  }
  Ref get_rows(const Ref& a, const Ref& rows) {
    return sched(node(Op::kOther, kF32, {a.ne[0], rows.ne[0], rows.ne[1], rows.ne[2]}, a, rows),
                 galloc::kSchedGetRows);
  }
  // SET_ROWS computes into a view of its destination (a cache): a consumer, never allocated.
  Ref set_rows(const Ref& dst, const Ref& src, const Ref& idx) {
    const Ref r = node(Op::kOther, dst.ty, dst.ne, src, idx, dst);
    g_[r.id].view_src = dst.id;
    return r;
  }
  Ref norm_w(const Ref& x) {  // build_norm(LLM_NORM_RMS) with a weight
    return same(Op::kInplace, same(Op::kInplace, x), W(7, static_cast<std::uint64_t>(x.ne[0]) * 4));
  }
  Ref hadamard(const Ref& x, const Ref& rot) {  // llama_mul_mat_hadamard
    const std::int64_t k = rot.ne[0];
    const Ref flat = view(x, {k, x.ne[0] * x.ne[1] * x.ne[2] * x.ne[3] / k, 1, 1});
    return view(node(Op::kOther, kF32, flat.ne, rot, flat), x.ne);
  }
  void expand(const Ref& r) { g_.expand(r.id); }

  // --- the graph -------------------------------------------------------------------------------
  void make_inputs() {
    tokens_ = leaf_input(kI32, {I(n_tok_), 1, 1, 1}, false);
    embd_ = leaf_input(kF32, {I(sp_.n_embd), I(n_tok_), 1, 1}, false);
    pos_ = leaf_input(kI32, {I(n_tok_), 1, 1, 1}, true);
    const std::uint64_t ns = sp_.n_stream;
    auto cache = [&](std::uint64_t n_kv) {
      CacheInputs c;
      c.k = external(kF16, {1, 1, 1, 1});
      c.v = external(kF16, {1, 1, 1, 1});
      c.k_idxs = leaf_input(kI64, {I(n_tok_), 1, 1, 1}, true);
      c.v_idxs = leaf_input(kI64, {I(sp_.flash_attn ? n_tok_ : n_tok_ * sp_.n_embd_v_gqa_max), 1, 1, 1},
                            true);
      c.mask = leaf_input(sp_.flash_attn ? kF16 : kF32, {I(n_kv), I(n_tok_ / ns), 1, I(ns)}, true);
      // llama-kv-cache.cpp: Hadamard rotations for quantized caches with 64-multiple heads.
      if (sp_.type_k == CacheType::kQuant && sp_.hd_k_max % 64 == 0) {
        std::int64_t nrot = 64;
        do nrot *= 2; while (sp_.hd_k_max % static_cast<std::uint64_t>(nrot) == 0);
        nrot /= 2;
        c.k_rot = leaf_input(kF32, {nrot, nrot, 1, 1}, true);
      }
      if (sp_.type_v == CacheType::kQuant && sp_.hd_v_max % 64 == 0)
        c.v_rot = leaf_input(kF32, {64, 64, 1, 1}, true);
      return c;
    };
    std::uint64_t n_kv_base = sp_.n_kv_base, n_kv_swa = sp_.n_kv_swa;
    bool any_swa = sp_.has_swa;
    if (n_kv_base == 0 && n_kv_swa == 0) {
      for (const Layer& L : sp_.layers) {
        (L.swa ? n_kv_swa : n_kv_base) = L.n_kv;
        any_swa = any_swa || L.swa;
      }
    }
    base_ = cache(n_kv_base);
    if (r_.iswa && any_swa) swa_ = cache(n_kv_swa);
    out_ids_ = leaf_input(kI32, {I(n_out_), 1, 1, 1}, true);
  }

  // The leaf pass, in the order the depth-first walk first meets each input: the token path of
  // the embedding select, then per cache class in the order layer 0.. use them (Hadamard of Q
  // before the positions, V's after, then indices and mask), then the output rows.
  void alloc_inputs() {
    g_.alloc_leaf(tokens_.id);
    g_.alloc_leaf(embd_.id);
    const bool swa_first = !sp_.layers.empty() && sp_.layers[0].swa && swa_.mask.id != kNone;
    const CacheInputs* order[2] = {swa_first ? &swa_ : &base_, swa_first ? &base_ : &swa_};
    bool pos_done = false;
    for (const CacheInputs* c : order) {
      if (c->mask.id == kNone) continue;
      if (c->k_rot.id != kNone) g_.alloc_leaf(c->k_rot.id);
      if (!pos_done) g_.alloc_leaf(pos_.id);
      pos_done = true;
      if (c->v_rot.id != kNone) g_.alloc_leaf(c->v_rot.id);
      g_.alloc_leaf(c->k_idxs.id);
      g_.alloc_leaf(c->v_idxs.id);
      g_.alloc_leaf(c->mask.id);
    }
    g_.alloc_leaf(out_ids_.id);
  }

  Ref prelude() {
    Ref tok = weight_;
    if (sp_.gpu) {  // token_embd: always in host memory
      tok = external(Ty{210, 1}, {1, 1, 1, 1});
      g_[tok.id].weight = true;
      g_[tok.id].home = 1;
    }
    Ref cur = sched(node(Op::kOther, kF32, {I(sp_.n_embd), I(n_tok_), 1, 1}, tok, tokens_),
                    galloc::kSchedGetRows);
    expand(cur);
    if (r_.embd_scale) cur = same(Op::kInplace, cur);
    expand(cur);
    return cur;
  }

  // One decoder layer (llama.cpp / bitnet.cpp / qwen3.cpp / gemma2.cpp / gemma3.cpp).
  Ref layer(const Layer& L, const Ref& inpL, bool last) { return ffn_part(L, attn_part(L, inpL), inpL, last); }

  // The layer up to and including the attention output projection (wo): the part every layer of
  // a class builds alike, the last one included (it selects the output rows only after wo).
  Ref attn_part(const Layer& L, const Ref& inpL) {
    CacheInputs c = L.swa && swa_.mask.id != kNone ? swa_ : base_;
    if (sp_.gpu) {  // this layer's own cache tensors, in its device's buffer
      c.k = external(kF16, {1, 1, 1, 1});
      c.v = external(kF16, {1, 1, 1, 1});
      g_[c.k.id].home = g_[c.v.id].home = sp_.dev[il_].kv_gpu ? 0 : 1;
    }
    const std::uint64_t ns = sp_.n_stream;
    const std::int64_t nt = I(n_tok_);
    Ref cur = norm_w(inpL);
    // build_qkv: separate Q, K, V matmuls (biases are in place), reshaped to heads.
    Ref Q = view(mul_mat(std::uint64_t{L.n_head} * L.hd_k, cur, 0), {L.hd_k, L.n_head, nt, 1});
    Ref K = view(mul_mat(std::uint64_t{L.n_head_kv} * L.hd_k, cur, 1), {L.hd_k, L.n_head_kv, nt, 1});
    Ref V = view(mul_mat(std::uint64_t{L.n_head_kv} * L.hd_v, cur, 2), {L.hd_v, L.n_head_kv, nt, 1});
    if (r_.qk_norm) Q = norm_w(Q);
    Q = sched(same(Op::kInplace, Q, pos_), galloc::kSchedRope);  // rope
    if (r_.qk_norm) K = norm_w(K);
    K = sched(same(Op::kInplace, K, pos_), galloc::kSchedRope);
    if (r_.q_scale) Q = same(Op::kInplace, Q);
    // build_attn
    if (c.k_rot.id != kNone) {
      Q = hadamard(Q, c.k_rot);
      K = hadamard(K, c.k_rot);
    }
    if (c.v_rot.id != kNone) V = hadamard(V, c.v_rot);
    expand(Q);
    expand(V);
    expand(K);
    const std::int64_t gk = std::int64_t{L.n_head_kv} * L.hd_k, gv = std::int64_t{L.n_head_kv} * L.hd_v;
    expand(set_rows(c.k, view(K, {gk, nt, 1, 1}), c.k_idxs));
    if (sp_.flash_attn) {
      expand(set_rows(c.v, view(V, {gv, nt, 1, 1}), c.v_idxs));
    } else {
      expand(set_rows(view(c.v, {1, 1, 1, 1}), view(V, {1, gv * nt, 1, 1}), c.v_idxs));
    }
    // build_attn_mha
    const std::int64_t nkv = I(L.n_kv), s = I(ns), tps = nt / s;
    const Ref q = permute_0213(view(Q, {L.hd_k, L.n_head, tps, s}));
    Ref k = permute_0213(view(c.k, {L.hd_k, L.n_head_kv, nkv, s}));
    if (sp_.flash_attn) {
      Ref v = permute_0213(view(c.v, {L.hd_v, L.n_head_kv, nkv, s}));
      if (sp_.type_k == CacheType::kF32) k = node(Op::kOther, kF16, k.ne, k);  // ggml_cast
      if (sp_.type_v == CacheType::kF32) v = node(Op::kOther, kF16, v.ne, v);
      const Ref o = sched(node(Op::kOther, kF32, {L.hd_v, q.ne[2], q.ne[1], q.ne[3]}, q, k, v, c.mask),
                          galloc::kSchedFlash);
      cur = view(o, {std::int64_t{L.hd_v} * L.n_head, nt, 1, 1});
    } else {
      const Ref v = permute_0213(view(c.v, {nkv, L.n_head_kv, L.hd_v, s}));
      Ref kq = mul_mat(static_cast<std::uint64_t>(nkv), q, k);
      if (r_.attn_softcap) kq = same(Op::kInplace, same(Op::kInplace, same(Op::kInplace, kq)));
      kq = same(Op::kInplace, kq, c.mask);  // soft_max_ext
      const Ref kqv = node(Op::kOther, kF32, {L.hd_v, kq.ne[1], kq.ne[2], kq.ne[3]}, v, kq);
      cur = node(Op::kOther, kF32, {std::int64_t{L.hd_v} * L.n_head, nt, 1, 1}, permute_0213(kqv));
    }
    expand(cur);
    if (c.v_rot.id != kNone) cur = hadamard(cur, c.v_rot);
    if (r_.sub_norms) cur = norm_w(cur);
    cur = mul_mat(sp_.n_embd, cur, 3);  // wo
    wo_ = cur.id;
    return cur;
  }

  // The rest of the layer from wo's result `cur` and the layer's input (the residual) `inpSA`.
  Ref ffn_part(const Layer& L, Ref cur, Ref inpSA, bool last) {
    if (last) {
      out_rows_from_ = static_cast<std::int32_t>(g_.size());
      cur = get_rows(cur, out_ids_);
      inpSA = get_rows(inpSA, out_ids_);
    }
    if (r_.post_norms) cur = norm_w(cur);
    const Ref ffn_inp = same(Op::kInplace, cur, inpSA);
    cur = norm_w(ffn_inp);
    if (L.moe) {
      cur = moe(cur);
    } else {
      // build_ffn, parallel gate: up, gate, GLU(gate, up), down.
      const Ref up = mul_mat(L.n_ff, cur, 4);
      const Ref gate = mul_mat(L.n_ff, cur, 5);
      cur = node(Op::kOther, kF32, gate.ne, gate, up);
      if (r_.sub_norms) cur = norm_w(cur);
      cur = mul_mat(sp_.n_embd, cur, 6);
    }
    if (r_.post_norms) cur = norm_w(cur);
    cur = same(Op::kInplace, cur, ffn_inp);
    expand(cur);
    return cur;
  }

  // build_moe_ffn (softmax gating, top-k by argsort, separate up/gate/down expert tensors).
  Ref moe(const Ref& cur) {
    const std::int64_t nt = I(n_tok_), nu = I(sp_.n_expert_used), ne_ = I(sp_.n_embd);
    const Ref probs = same(Op::kInplace, mul_mat(sp_.n_expert, cur, weight_));  // soft_max of the logits
    const Ref sel = view(node(Op::kOther, kI32, probs.ne, probs), {nu, nt, 1, 1});  // argsort, top k
    Ref w = get_rows(view(probs, {1, I(sp_.n_expert), nt, 1}), sel);
    if (r_.moe_norm_w) {
      const Ref w2 = view(w, {nu, nt, 1, 1});
      const Ref sum = same(Op::kInplace, node(Op::kOther, kF32, {1, nt, 1, 1}, w2));  // sum_rows, clamp
      w = view(node(Op::kInplace, kF32, w2.ne, w2, sum), {1, nu, nt, 1});           // div
    }
    expand(w);
    const Ref x = view(cur, {ne_, 1, nt, 1});
    const Ref up = node(Op::kOther, kF32, {I(sp_.n_ff_exp), nu, nt, 1}, weight_, x, sel);
    const Ref gate = node(Op::kOther, kF32, {I(sp_.n_ff_exp), nu, nt, 1}, weight_, x, sel);
    const Ref act = node(Op::kOther, kF32, gate.ne, gate, up);
    const Ref experts = same(Op::kInplace, node(Op::kOther, kF32, {ne_, nu, nt, 1}, weight_, act, sel), w);
    expand(experts);
    // One view per used expert, summed in order (the first add is not in place: both are views).
    const Ref e = view(experts, {ne_, nt, 1, 1});
    Ref out = e;
    for (std::int64_t i = 1; i < nu; ++i) {
      out = node(Op::kInplace, kF32, e.ne, out, e);
      expand(out);
    }
    if (nu == 1) out = node(Op::kOther, kF32, e.ne, out);  // ggml_cont
    return out;
  }

  void head(const Ref& inpL) {
    if (sp_.gpu) il_ = sp_.dev.size() - 1;  // the output layer
    Ref cur = norm_w(inpL);
    g_[cur.id].output = true;  // t_embd
    cur = mul_mat(sp_.n_vocab, cur, 0);
    if (r_.final_softcap) cur = same(Op::kInplace, same(Op::kInplace, same(Op::kInplace, cur)));
    g_[cur.id].output = true;  // t_logits
    expand(cur);
  }

  // wo's result in the layer attn_part built last.
  std::int32_t wo() const noexcept { return wo_; }
  // wo's result as a tensor already allocated at `offset` (its layer part replayed, not built):
  // what ffn_part reads; never a node itself, its uses are counted when ffn_part's nodes expand.
  Ref replayed_wo(std::uint64_t offset) {
    const Ref r{g_.make(Op::kOther, kF32.size, kF32.id, {I(sp_.n_embd), I(n_tok_), 1, 1}), {I(sp_.n_embd), I(n_tok_), 1, 1},
                kF32, false};
    Tensor& t = g_[r.id];
    t.visited = t.allocated = true;
    t.offset = offset;
    return r;
  }
  // Inputs the tail layers still use (unpin sets them to 0): `uses` more.
  void add_uses(std::int32_t input, std::int32_t uses) { g_[input].n_children += uses; }

  // Residency: the token path's embeddings input is never set (ubatch.embd is null), and from
  // the last layer's output-row selection on every tensor has n_out rows, of which the serving
  // graphs write `serve` (ggml_gallocr_alloc_graph reuses this layout for every smaller graph of
  // the same topology: ggml_gallocr_needs_realloc).
  void mark_written(std::uint64_t serve) {
    g_[embd_.id].wbytes = 0;
    if (out_rows_from_ == kNone || n_out_ == 0) return;
    const std::uint64_t s = std::min(serve, n_out_);
    for (std::int32_t i = out_rows_from_; i < static_cast<std::int32_t>(g_.size()); ++i)
      g_[i].wbytes = g_[i].bytes / n_out_ * s;
  }

  // The tail starts: the pinned inputs' remaining uses are all in what is built from here on.
  void unpin() {
    for (const Ref* r : {&pos_, &base_.k_idxs, &base_.v_idxs, &base_.mask, &base_.k_rot, &base_.v_rot,
                         &swa_.k_idxs, &swa_.v_idxs, &swa_.mask, &swa_.k_rot, &swa_.v_rot, &out_ids_}) {
      if (r->id == kNone) continue;
      g_[r->id].pinned = false;
      g_[r->id].n_children = 0;
    }
  }

 private:
  Graph& g_;
  const Params& sp_;
  const Recipe& r_;
  std::uint64_t n_tok_, n_out_;
  std::size_t il_ = 0;
  std::int32_t out_rows_from_ = kNone;
  std::int32_t wo_ = kNone;
  Ref weight_, tokens_, embd_, pos_, out_ids_;
  CacheInputs base_, swa_;
};

// The allocator's state at a layer boundary (free list, high-water mark, residual offset); free
// lists longer than kMaxBlocks are not compared (the run then simply goes on layer by layer).
constexpr std::size_t kMaxBlocks = 14;
struct State {  // left uninitialised: an entry is only read after capture() wrote it
  std::array<galloc::DynAlloc::Block, kMaxBlocks> blocks;
  std::size_t n;
  std::uint64_t max_size, resid;
  bool valid;
  void capture(const galloc::DynAlloc& a, std::uint64_t residual) {
    valid = a.blocks().size() <= kMaxBlocks;
    if (!valid) return;
    n = a.blocks().size();
    std::copy(a.blocks().begin(), a.blocks().end(), blocks.begin());
    max_size = a.max_size();
    resid = residual;
  }
  bool operator==(const State& o) const noexcept {
    return valid && o.valid && n == o.n && max_size == o.max_size && resid == o.resid &&
           std::equal(blocks.begin(), blocks.begin() + static_cast<std::ptrdiff_t>(n), o.blocks.begin());
  }
};

// Smallest period of the layer classes over layers [0, n-1) (the last layer is in the tail
// anyway); 0 when none up to 8.
std::size_t class_period(const std::vector<Layer>& L) {
  const std::size_t n = L.size() > 0 ? L.size() - 1 : 0;
  for (std::size_t p = 1; p <= 8 && p < n; ++p) {
    bool ok = true;
    for (std::size_t i = 0; i + p < n && ok; ++i) ok = L[i] == L[i + p];
    if (ok) return p;
  }
  return 0;
}

// Whether the tail (layers tail..n-1) can be replayed from the class scripts: every class recorded
// cleanly, and would make the same calls with the inputs unpinned; the last layer is of its
// class (the period may break there), its script has the split at wo, and the residual is not
// touched before it (the last layer reads it again after wo, to select its output rows).
bool tail_replayable(const Params& sp, const std::array<galloc::Script, 8>& scripts, std::size_t P,
                     std::size_t tail, bool replayable) {
  const std::size_t n = sp.layers.size();
  if (!replayable || P == 0 || tail == 0 || tail >= n || sp.every_layer) return false;
  for (std::size_t c = 0; c < P; ++c)
    if (!scripts[c].valid || !scripts[c].unpinned_ok) return false;
  const std::size_t c_last = (n - 1) % P;
  if (!(sp.layers[n - 1] == sp.layers[c_last])) return false;
  const galloc::Script& last = scripts[c_last];
  if (last.split_slot == kNone) return false;
  for (std::size_t i = 0; i < last.split_at; ++i) {
    const galloc::Event& e = last.events[i];
    if (e.slot == galloc::kOutsideSlot || (e.kind == galloc::Event::kInplace && e.parent == galloc::kOutsideSlot))
      return false;
  }
  return true;
}

}  // namespace

const Recipe* find_recipe(std::string_view arch) noexcept {
  for (const Recipe& r : kRecipes)
    if (r.arch == arch) return &r;
  return nullptr;
}

GraphResult simulate_graph(const Params& sp, std::uint64_t n_tokens, std::uint64_t n_outputs) {
  thread_local Graph g(32);  // ggml-cpu TENSOR_ALIGNMENT; storage reused across estimates
  g.reset();
  g.set_track(sp.track_touch);
  Builder b(g, sp, n_tokens, n_outputs);
  b.make_inputs();
  if (sp.track_touch) b.mark_written(sp.serve_outputs);
  b.alloc_inputs();
  Ref inpL = b.prelude();
  g.run_nodes();

  const std::size_t n = sp.layers.size();
  const std::size_t P = sp.period > 0 ? sp.period : class_period(sp.layers);
  // Tail: the last P layers hold every class's last use when the last layer continues the
  // period; otherwise one more. Without a period, or a stack too short to gain, all layers.
  std::size_t tail = 0;
  if (P > 0 && n > 2 * P + 2 && !sp.every_layer) tail = sp.layers[n - 1] == sp.layers[n - 1 - P] ? n - P : n - 1 - P;
  std::array<State, 9> ring;  // the states after the last P + 1 prefix layers (P <= 8)
  std::array<std::uint64_t, 8> cls_bytes{}, cls_count{};  // own tensors of a layer, per class
  // The first layer of each class is built and its allocator calls recorded; later layers of the
  // class replay them (Script) instead of being built again, when every class recorded cleanly.
  thread_local std::array<galloc::Script, 8> scripts;
  bool replayable = tail > 0;
  std::uint64_t extra_bytes = 0, extra_count = 0, skipped_layers = 0;
  std::uint64_t resid = g[inpL.id].offset;  // the residual's offset between layers
  std::size_t il = 0;
  for (; il < tail; ++il) {
    const std::size_t c = il % P;
    if (il >= P && replayable) {
      resid = g.replay(scripts[c], resid);
      extra_bytes += cls_bytes[c];
      extra_count += cls_count[c];
    } else {
      const std::uint64_t b0 = g.own_bytes(), c0 = g.own_count();
      const std::int32_t base = static_cast<std::int32_t>(g.size());
      const std::int32_t outside = inpL.id;
      inpL = b.layer(sp.layers[il], inpL, false);
      g.set_split_node(b.wo());
      g.run_nodes_recording(scripts[c], base, outside);
      scripts[c].out_slot = inpL.id - base;
      replayable = replayable && scripts[c].valid;
      cls_bytes[c] = g.own_bytes() - b0;
      cls_count[c] = g.own_count() - c0;
      resid = g[inpL.id].offset;
    }
    State& cur = ring[il % (P + 1)];
    cur.capture(g.allocator(), resid);
    // The state after layer il equals the one P layers earlier: every later boundary in step
    // with il repeats it, so the layers up to tail - 1 change nothing once tail - 1 is in step.
    if (il >= P && cur == ring[(il - P) % (P + 1)] && (tail - 1 - il) % P == 0) {
      // Layers il + 1 .. tail - 1 are skipped: per class c, those j with j % P == c.
      auto below = [P](std::size_t x, std::size_t k) { return x > k ? (x - 1 - k) / P + 1 : 0; };
      for (std::size_t k = 0; k < P; ++k) {
        const std::uint64_t m = below(tail, k) - below(il + 1, k);
        extra_bytes += m * cls_bytes[k];
        extra_count += m * cls_count[k];
      }
      skipped_layers = tail - 1 - il;
      il = tail;
      break;
    }
  }
  // The residual continues in the last built layer's result, now at the replayed offset.
  g[inpL.id].offset = resid;  // (unchanged when nothing was replayed)
  b.unpin();
  const bool tail_replayed = il == tail && tail_replayable(sp, scripts, P, tail, replayable);
  if (tail_replayed) {
    // The tail replayed too (the inputs now unpinned): its layers but the last in full, the last
    // up to wo; only the last layer's rest (output rows, FFN) and the head are built. Every use
    // the replayed events make of an input is counted first, with the built part's, so that each
    // input is freed at its last use as ggml frees it.
    const std::size_t c_last = (n - 1) % P;
    const galloc::Script& last = scripts[c_last];
    const Ref wo = b.replayed_wo(0);
    const Ref out = b.ffn_part(sp.layers[n - 1], wo, inpL, true);
    auto count_uses = [&](const galloc::Script& sc, std::size_t end) {
      for (std::size_t i = 0; i < end; ++i)
        if (sc.events[i].kind == galloc::Event::kUse) b.add_uses(sc.events[i].parent, 1);
    };
    for (std::size_t j = tail; j + 1 < n; ++j) count_uses(scripts[j % P], scripts[j % P].events.size());
    count_uses(last, last.split_at);
    for (; il + 1 < n; ++il) {
      const galloc::Script& sc = scripts[il % P];
      resid = g.replay_unpinned(sc, resid, sc.events.size(), sc.out_slot);
      extra_bytes += cls_bytes[il % P];
      extra_count += cls_count[il % P];
    }
    g[wo.id].offset = g.replay_unpinned(last, resid, last.split_at, last.split_slot);
    g[inpL.id].offset = resid;
    extra_bytes += last.split_own_bytes;
    extra_count += last.split_own_count;
    inpL = out;
    il = n;
  }
  for (; il < n; ++il) inpL = b.layer(sp.layers[il], inpL, il + 1 == n);
  b.head(inpL);
  if (sp.track_touch) b.mark_written(sp.serve_outputs);
  g.run_nodes();
  return {g.allocator().max_size(), g.own_bytes() + extra_bytes, g.own_count() + extra_count,
          n - skipped_layers, sp.track_touch ? g.touched_pages(kPage, kBufferBase) : 0, tail_replayed};
}

std::array<std::uint64_t, 2> simulate_graph_gpu(const Params& sp, std::uint64_t n_tokens,
                                                std::uint64_t n_outputs, GpuGraphStats* stats) {
  thread_local Graph g(32);
  g.reset();
  g.set_deferred(true);
  Builder b(g, sp, n_tokens, n_outputs);
  b.make_inputs();
  b.alloc_inputs();
  Ref inpL = b.prelude();
  const std::size_t n = sp.layers.size();
  // Runs of identical layers (same shapes, same placement, same weights) are cut short: inside a
  // run every node lands on the same backend as in the run's previous layer and the allocator's
  // state repeats with a period of 1 or 2 layers (2: the copies' free blocks alternate), so a run
  // of r > 4 layers is simulated as 4 + (r - 4) mod 2 of them (same state at the run's end, same
  // peak). The last layer (it selects the output rows) is always simulated.
  // tests/unit/graph_sim_test.cpp compares with every layer (keeping 3 with period 1 fails there;
  // 2 with period 2 passes: 4 keeps one period of margin).
  constexpr std::size_t kRunKeep = 4, kRunPeriod = 2;
  std::size_t il = 0;
  while (il < n) {
    std::size_t r = 1;
    if (il + 1 < n && !sp.every_layer)
      while (il + r + 1 < n && sp.layers[il + r] == sp.layers[il] && sp.dev[il + r] == sp.dev[il]) ++r;
    const std::size_t keep = r <= kRunKeep ? r : kRunKeep + (r - kRunKeep) % kRunPeriod;
    for (std::size_t k = 0; k < keep; ++k) {
      b.set_layer(il + k);
      inpL = b.layer(sp.layers[il + k], inpL, il + k + 1 == n);
    }
    il += r;
  }
  b.head(inpL);
  if (stats != nullptr) {
    *stats = {};
    for (std::size_t i = 0; i < g.size(); ++i) {
      const Tensor& t = g[static_cast<std::int32_t>(i)];
      if (t.external || t.view_src != kNone || t.op == Op::kView) continue;
      stats->own_bytes += t.nbytes();
      ++stats->own_count;
    }
  }
  std::array<std::uint64_t, 2> sizes{};
  g.schedule(sp.op_offload, sizes);
  g.set_deferred(false);
  return sizes;
}

namespace {
// The simulation's parameters from the plan; nullptr when the architecture has no recipe.
const Params* make_params(const Plan& p) {
  const ModelStructureInfo& m = *p.m;
  const Recipe* r = find_recipe(m.architecture);
  if (r == nullptr || m.n_layer == 0 || m.mla || m.recurrent) return nullptr;
  if (r->moe && (m.n_expert_used == 0 || m.n_expert_used > 64 || m.n_ff_exp == 0)) return nullptr;
  thread_local Params sp;  // storage reused across estimates; every field is set below
  sp.n_embd_v_gqa_max = 0;
  sp.hd_k_max = sp.hd_v_max = 0;
  sp.every_layer = false;
  sp.track_touch = false;
  sp.gpu = false;
  sp.dev.clear();
  sp.recipe = r;
  sp.n_embd = m.n_embd;
  sp.n_vocab = m.n_vocab;
  sp.n_seq = p.rc.n_seq;
  sp.n_stream = p.n_stream;
  sp.flash_attn = p.rc.flash_attn;
  auto ctype = [](Precision t) {
    switch (t) {
      case Precision::kF16: return CacheType::kF16;
      case Precision::kF32: return CacheType::kF32;
      default: return CacheType::kQuant;
    }
  };
  sp.n_expert = m.n_expert;
  sp.n_expert_used = m.n_expert_used;
  sp.n_ff_exp = m.n_ff_exp;
  sp.type_k = ctype(p.rc.type_k);
  sp.type_v = ctype(p.rc.type_v);
  sp.layers.resize(m.n_layer);
  Layer* out = sp.layers.data();  // locals, not the thread_local, in the loop
  std::uint64_t gqa_max = 0;
  std::uint32_t hk_max = 0, hv_max = 0;
  sp.n_kv_base = sp.n_kv_swa = 0;
  sp.has_swa = false;
  for (const LayerRun& run : p.digest->layer_runs) {  // runs of identical layers
    const LayerInfo& L = run.info;
    (L.is_swa ? sp.n_kv_swa : sp.n_kv_base) = L.is_swa ? p.swa_size : p.kv_size;
    sp.has_swa = sp.has_swa || L.is_swa;
    if (L.kind != LayerKind::kAttention || (L.is_moe && !r->moe)) return nullptr;
    Layer s;
    s.n_head = L.n_head;
    s.n_head_kv = L.n_head_kv;
    s.hd_k = L.head_dim_k;
    s.hd_v = L.head_dim_v;
    s.n_ff = L.n_ff;
    s.n_kv = L.is_swa ? p.swa_size : p.kv_size;  // attn_cells(p, L)
    s.swa = L.is_swa;
    s.moe = L.is_moe;
    std::fill(out + run.first, out + run.first + run.count, s);
    gqa_max = std::max<std::uint64_t>(gqa_max, std::uint64_t{L.n_head_kv} * L.head_dim_v);
    hk_max = std::max(hk_max, L.head_dim_k);
    hv_max = std::max(hv_max, L.head_dim_v);
  }
  sp.n_embd_v_gqa_max = gqa_max;
  sp.hd_k_max = hk_max;
  sp.hd_v_max = hv_max;
  // One run (a uniform stack): period 1, no scan of the layers in the simulation.
  sp.period = p.digest->layer_runs.size() == 1 ? 1 : 0;
  return &sp;
}
}  // namespace

namespace {
// The device of layer il (n_layer: the output layer) and of its cache. The one place the
// simulation asks the plan where a layer runs: a per-layer GPU index plugs in here.
Params::Dev layer_device(const Plan& p, std::uint32_t il) {
  Params::Dev d;
  d.gpu = p.layer_on_gpu(il);
  d.kv_gpu = d.gpu && p.kv_offload;
  return d;
}

// Weight bytes per matmul role (as a copy in a CUDA buffer) and whether CUDA runs the type.
bool fill_weights(const Plan& p, std::vector<Params::Dev>& dev) {
  if (p.digest == nullptr || !p.digest->sim_weights.ok) return false;
  const SimWeights& w = p.digest->sim_weights;
  if (w.wb.size() != dev.size() || w.wok.size() != dev.size() || w.ws.size() != dev.size()) return false;
  for (std::size_t il = 0; il < dev.size(); ++il) {
    dev[il].wb = w.wb[il];
    dev[il].wok = w.wok[il];
    for (std::size_t r = 0; r < 7; ++r) dev[il].whost[r] = !w.wok[il][r];
    dev[il].ws = w.ws[il];
  }
  if (w.head_host) dev.back().whost[0] = true;
  return true;
}

}  // namespace

bool gpu_tg_cannot_grow(const GpuGraphStats& pp, const std::array<std::uint64_t, 2>& pp_sizes, std::uint64_t ns,
                        std::uint64_t n_tok, std::uint64_t n_out, std::uint64_t fixed_bytes) noexcept {
  if (ns >= 32) return false;  // op offload (and weight copies) could differ from the pp graph
  const std::uint64_t r_den = std::max<std::uint64_t>(1, std::min(n_tok, n_out));
  const B scaled = div_ceil(B(pp.own_bytes) * B(ns), r_den);  // ceil(own_bytes * ratio)
  const B one_side = scaled + B(fixed_bytes) + B(127) * B(pp.own_count);
  const B bound = B(2) * one_side;  // the tensors and at most one copy of each
  return !bound.overflow() && bound.value() <= std::min(pp_sizes[0], pp_sizes[1]);
}

std::optional<std::array<std::uint64_t, 2>> simulate_reserve_gpu(const Plan& p) {
  const Params* spp = make_params(p);
  if (spp == nullptr || spp->recipe->moe) return std::nullopt;
  Params& sp = const_cast<Params&>(*spp);  // the thread_local make_params filled
  const ModelStructureInfo& m = *p.m;
  sp.gpu = true;
  sp.dev.resize(m.n_layer + 1);
  for (std::uint32_t il = 0; il <= m.n_layer; ++il) sp.dev[il] = layer_device(p, il);
  if (!fill_weights(p, sp.dev)) return std::nullopt;
  const std::uint64_t ns = std::max<std::uint64_t>(1, sp.n_seq);
  const std::uint64_t n_tok = (p.n_tokens + ns - 1) / ns * ns;
  GpuGraphStats st;
  std::array<std::uint64_t, 2> r = simulate_graph_gpu(sp, n_tok, p.n_outputs, &st);
  const std::uint64_t hd = sp.hd_k_max;
  const std::uint64_t rot = sp.type_k == CacheType::kQuant || sp.type_v == CacheType::kQuant
                                ? std::uint64_t{4} * (hd * hd + 64 * 64) * 2 : 0;
  if ((n_tok != ns || p.n_outputs != ns) && !gpu_tg_cannot_grow(st, r, ns, n_tok, p.n_outputs, rot)) {
    const std::array<std::uint64_t, 2> tg = simulate_graph_gpu(sp, ns, ns);
    r = {std::max(r[0], tg[0]), std::max(r[1], tg[1])};
  }
  return r;
}

std::optional<Reserve> simulate_reserve(const Plan& p) {
  const Params* spp = make_params(p);
  if (spp == nullptr) return std::nullopt;
  Params& sp = const_cast<Params&>(*spp);  // the thread_local make_params filled
  sp.track_touch = true;
  sp.serve_outputs = 1;  // the serving peak's workload: logits for the last token only
  // graph_reserve rounds the token count up to a multiple of n_seq.
  const std::uint64_t ns = std::max<std::uint64_t>(1, sp.n_seq);
  const std::uint64_t n_tok = (p.n_tokens + ns - 1) / ns * ns;
  const GraphResult pp = simulate_graph(sp, n_tok, p.n_outputs);
  sp.track_touch = false;
  // The layout that stays is the pp graph's (reserved last); every serving graph reuses it.
  if (n_tok == ns && p.n_outputs == ns) return Reserve{pp.max_size, pp.touched};  // tg is pp
  // The tg graph has the pp graph's tensors with n_seq tokens and rows instead of n_tok and n_out,
  // so each is at most r = n_seq / min(n_tok, n_out) times its pp size (all scale linearly, but
  // the constant Hadamard inputs), and the allocator never holds more than the padded sum of all
  // tensors. When that bound cannot reach the pp buffer, the tg graph cannot enlarge it.
  const std::uint64_t r_den = std::max<std::uint64_t>(1, std::min(n_tok, p.n_outputs));
  const std::uint64_t hd = sp.hd_k_max;  // Hadamard inputs: nrot <= head size, two caches at most
  const std::uint64_t rot = sp.type_k == CacheType::kQuant || sp.type_v == CacheType::kQuant
                                ? std::uint64_t{4} * (hd * hd + 64 * 64) * 2 : 0;
  const B bound = B(pp.own_bytes) * B(ns) + B(r_den - 1);  // ceil(own_bytes * r)
  if (!bound.overflow()) {
    const B tg_bound = B(bound.value() / r_den) + B(31) * B(pp.own_count) + B(rot);
    if (!tg_bound.overflow() && tg_bound.value() <= pp.max_size) return Reserve{pp.max_size, pp.touched};
  }
  return Reserve{std::max(pp.max_size, simulate_graph(sp, ns, ns).max_size), pp.touched};
}

}  // namespace bitnet::detail::gsim
