// The allocator model (graph_alloc.h). Mechanism (ggml-alloc.c, ggml 0.23.0):
//  - leaves are allocated first, in leaf order, none freed in that pass;
//  - then, node by node: the node's sources that still need memory are allocated, the node is
//    allocated (or takes over a source's memory, in place), then each source loses a child and
//    is freed when it has no children and no views left (a view's last use releases its root);
//  - in place: an op of ggml_op_can_inplace takes the first source that this allocator owns, is
//    not an output, has the same type and shape (own tensors are always contiguous) and exactly
//    one child and no views; the source's surplus beyond the node's size is freed;
//  - a view (including the destination view SET_ROWS returns) is never allocated and never
//    counts as owned, so nothing is ever done in place of a view; its root lives until the
//    view's last child has run (views are folded into their roots, Graph::expand);
//  - outputs are never freed;
//  - ggml_dyn_tallocr: best fit over the free blocks other than the last (ties: the later one),
//    else the last block; frees merge with the neighbours.
#include "estimate/graph_alloc.h"

#include <algorithm>

#include <limits>

namespace bitnet::detail::galloc {

DynAlloc::DynAlloc(std::uint64_t alignment) : align_(alignment) {
  blocks_.reserve(32);
  reset();
}

void DynAlloc::reset() {
  blocks_.clear();
  blocks_.push_back({0, std::numeric_limits<std::uint64_t>::max() / 2});
  max_size_ = 0;
}

std::uint64_t DynAlloc::alloc(std::uint64_t size) {
  size = pad(size);
  std::size_t best = blocks_.size();
  std::uint64_t best_size = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t i = 0; i + 1 < blocks_.size(); ++i) {
    if (blocks_[i].size >= size && blocks_[i].size <= best_size) {
      best = i;
      best_size = blocks_[i].size;
    }
  }
  if (best == blocks_.size()) best = blocks_.size() - 1;  // the tail grows the buffer
  Block& b = blocks_[best];
  const std::uint64_t off = b.offset;
  b.offset += size;
  b.size -= size;
  if (b.size == 0) blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(best));
  if (off + size > max_size_) max_size_ = off + size;
  return off;
}

void DynAlloc::free(std::uint64_t offset, std::uint64_t size) {
  size = pad(size);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    Block& b = blocks_[i];
    if (b.offset + b.size == offset) {  // the freed range follows this block
      b.size += size;
      if (i + 1 < blocks_.size() && b.offset + b.size == blocks_[i + 1].offset) {
        b.size += blocks_[i + 1].size;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i + 1));
      }
      return;
    }
    if (offset + size == b.offset) {  // the freed range precedes this block
      b.offset = offset;
      b.size += size;
      if (i > 0 && blocks_[i - 1].offset + blocks_[i - 1].size == b.offset) {
        blocks_[i - 1].size += b.size;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
      }
      return;
    }
  }
  std::size_t pos = 0;
  while (pos < blocks_.size() && blocks_[pos].offset < offset) ++pos;
  blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(pos), Block{offset, size});
}

void Graph::expand(std::int32_t root) {
  Tensor& t = (*this)[root];
  if (t.visited) return;
  t.visited = true;
  for (std::int32_t s : t.src)
    if (s != kNone && !(*this)[s].visited) expand(s);
  if (t.op == Op::kLeaf || t.op == Op::kView) return;  // inputs went through alloc_leaf
  nodes_.push_back(root);
  if (t.view_src == kNone && !t.external) {
    own_bytes_ += t.nbytes();
    ++own_count_;
  }
  // ggml_gallocr_alloc_graph_impl, first pass: children (through views: their roots).
  for (std::size_t k = 0; k < 4; ++k) {
    std::int32_t s = t.src[k];
    if (s == kNone) continue;
    if ((*this)[s].op == Op::kView) {
      s = (*this)[s].view_src;
      t.via_view = static_cast<std::uint8_t>(t.via_view | (1u << k));
    }
    t.src[k] = s;
    Tensor& p = (*this)[s];
    if (!p.pinned && !deferred_) ++p.n_children;
  }
}

bool Graph::same_layout(const Tensor& a, const Tensor& b) const noexcept {
  return a.type_id == b.type_id && a.type_size == b.type_size && a.ne == b.ne;
}

void Graph::allocate(std::int32_t i) {
  Tensor& t = (*this)[i];
  if (t.external || t.allocated || t.view_src != kNone) return;
  t.allocated = true;
  if (t.op == Op::kInplace) {
    for (std::size_t k = 0; k < 4; ++k) {
      const std::int32_t s = t.src[k];
      if (s == kNone || (t.via_view >> k & 1u) != 0) continue;  // a view is never owned
      Tensor& p = (*this)[s];
      if (p.pinned && rec_ != nullptr && p.allocated && !p.output && same_layout(t, p))
        rec_->unpinned_ok = false;
      if (!p.allocated || p.pinned || p.output || !same_layout(t, p)) continue;
      if (p.n_children == 1) {
        t.offset = p.offset;
        t.be = p.be;
        p.allocated = false;  // the node owns the memory now
        DynAlloc& a = alloc_of(p);
        const std::uint64_t ps = a.pad(p.nbytes()), ns = a.pad(t.nbytes());
        if (ps > ns) a.free(p.offset + ns, ps - ns);
        if (rec_ != nullptr) record({Event::kInplace, i, s, ns, ps > ns ? ps - ns : 0});
        return;
      }
    }
  }
  t.offset = alloc_of(t).alloc(t.nbytes());
  if (track_ && t.wbytes > 0) touched_.push_back({t.offset, t.offset + t.wbytes});
  if (rec_ != nullptr) record({Event::kAlloc, i, kNone, t.nbytes(), 0});
}

void Graph::free_tensor(std::int32_t i) {
  Tensor& t = (*this)[i];
  if (t.output) return;
  alloc_of(t).free(t.offset, t.nbytes());
  if (rec_ != nullptr) record({Event::kFree, i, kNone, t.nbytes(), 0});
  t.allocated = false;
}

void Graph::alloc_leaf(std::int32_t t) {
  (*this)[t].visited = true;
  if (deferred_) {
    leaves_.push_back(t);
    return;
  }
  own_bytes_ += (*this)[t].nbytes();
  ++own_count_;
  allocate(t);
}

void Graph::run_nodes() {
  for (; next_node_ < nodes_.size(); ++next_node_) {
    const std::int32_t n = nodes_[next_node_];
    // Sources that still need memory (leaves only: graph inputs went through alloc_leaf, and
    // nodes precede their children).
    for (std::int32_t s : (*this)[n].src)
      if (s != kNone && (*this)[s].op == Op::kLeaf) allocate(s);
    allocate(n);
    for (std::int32_t s : (*this)[n].src) {
      if (s == kNone) continue;
      Tensor& p = (*this)[s];
      if (p.pinned) {
        if (rec_ != nullptr) rec_->events.push_back({Event::kUse, kNone, s, 0, 0});
        continue;
      }
      if (--p.n_children == 0 && p.allocated) free_tensor(s);
    }
    if (rec_ != nullptr && rec_->split_slot == kNone) {
      const Tensor& t = (*this)[n];
      if (t.view_src == kNone && !t.external) {
        rec_->split_own_bytes += t.nbytes();
        ++rec_->split_own_count;
      }
      if (n == split_node_) {
        rec_->split_at = rec_->events.size();
        rec_->split_slot = n - rec_base_;
      }
    }
  }
}

void Graph::record(Event e) {
  auto slot = [&](std::int32_t i) {
    if (i >= rec_base_) return i - rec_base_;
    if (i == rec_outside_) return kOutsideSlot;
    rec_->valid = false;  // a tensor from elsewhere: this segment cannot be replayed
    return kNone;
  };
  e.slot = slot(e.slot);
  if (e.kind == Event::kInplace) e.parent = slot(e.parent);
  rec_->events.push_back(e);
}

void Graph::run_nodes_recording(Script& rec, std::int32_t base, std::int32_t outside) {
  rec.events.clear();
  rec.valid = true;
  rec.unpinned_ok = true;
  rec.split_at = 0;
  rec.split_slot = kNone;
  rec.split_own_bytes = rec.split_own_count = 0;
  rec_ = &rec;
  rec_base_ = base;
  rec_outside_ = outside;
  run_nodes();
  rec_ = nullptr;
  rec.n_slots = static_cast<std::int32_t>(t_.size()) - base;
}

std::uint64_t Graph::replay(const Script& sc, std::uint64_t outside_offset) {
  return replay_events(sc, outside_offset, sc.events.size(), sc.out_slot, false);
}

std::uint64_t Graph::replay_unpinned(const Script& sc, std::uint64_t outside_offset, std::size_t end,
                                     std::int32_t slot) {
  return replay_events(sc, outside_offset, end, slot, true);
}

std::uint64_t Graph::replay_events(const Script& sc, std::uint64_t outside_offset, std::size_t end,
                                   std::int32_t slot, bool unpinned) {
  replay_off_.resize(static_cast<std::size_t>(sc.n_slots));
  auto off = [&](std::int32_t s) -> std::uint64_t& {
    return s == kOutsideSlot ? outside_offset : replay_off_[static_cast<std::size_t>(s)];
  };
  for (std::size_t i = 0; i < end; ++i) {
    const Event& e = sc.events[i];
    switch (e.kind) {
      case Event::kAlloc:
        off(e.slot) = alloc_.alloc(e.size);
        // Replayed tensors are written whole (the last layer's output rows are always built).
        if (track_) touched_.push_back({off(e.slot), off(e.slot) + e.size});
        break;
      case Event::kInplace:
        off(e.slot) = off(e.parent);
        if (e.surplus > 0) alloc_.free(off(e.parent) + e.size, e.surplus);
        break;
      case Event::kFree:
        alloc_.free(off(e.slot), e.size);
        break;
      case Event::kUse: {
        if (!unpinned) break;  // the input is pinned: freed in the tail
        Tensor& in = (*this)[e.parent];
        if (--in.n_children == 0 && in.allocated) free_tensor(e.parent);
        break;
      }
    }
  }
  return off(slot);
}

std::uint64_t Graph::touched_pages(std::uint64_t page, std::uint64_t base) {
  std::sort(touched_.begin(), touched_.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  std::uint64_t pages = 1, next = 1;  // the first page, and the first page not yet counted
  for (const auto& r : touched_) {
    const std::uint64_t lo = std::max((r[0] + base) / page, next), hi = (r[1] + base + page - 1) / page;
    if (hi > lo) {
      pages += hi - lo;
      next = hi;
    }
  }
  return pages * page;
}

namespace {
constexpr std::int8_t kGpu = 0, kCpu = 1;

std::int64_t batch_of(const Tensor& t) {  // ggml-cuda.cu get_op_batch_size
  switch (t.sop) {
    case kSchedGetRows: return 0;
    case kSchedMulMat: return t.ne[1];
    case kSchedMulMatId:
    case kSchedRope: return t.ne[2];
    default: return t.ne[1] * t.ne[2] * t.ne[3];
  }
}
}  // namespace

void Graph::schedule(bool op_offload, std::array<std::uint64_t, 2>& sizes) {
  auto be_of = [&](std::int32_t i) -> std::int8_t {
    const Tensor& t = (*this)[i];
    return t.external ? static_cast<std::int8_t>(t.home) : t.be;
  };
  auto supports = [&](const Tensor& n, std::int8_t b) { return b == kCpu || n.cuda_ok; };
  // The buffer a source is in (or will be) can be read by backend b (CUDA reads only CUDA
  // buffers, the CPU only host ones: one buffer type per backend).
  auto buf_ok = [&](std::int32_t s, std::int8_t b) { return be_of(s) == b; };
  // Pass 1: pre-allocated tensors, graph inputs, ops with weights (op offload).
  for (const std::int32_t l : leaves_) (*this)[l].be = kCpu;
  for (const std::int32_t i : nodes_) {
    Tensor& t = (*this)[i];
    t.be = -1;
    if (t.view_src != kNone) {  // SET_ROWS into a cache
      t.be = static_cast<std::int8_t>((*this)[t.view_src].home);
      continue;
    }
    if (t.sop == kSchedRope || t.sop == kSchedFlash) continue;
    for (const std::int32_t s : t.src) {
      if (s == kNone || !(*this)[s].weight) continue;
      const std::int8_t h = static_cast<std::int8_t>((*this)[s].home);
      t.be = h == kCpu && op_offload && t.cuda_ok && batch_of(t) >= 32 ? kGpu : h;
      break;
    }
  }
  // Pass 2: expand the GPU down and up (the host resets), then any backend down and up.
  auto expand_pass = [&](bool gpu_only, bool down) {
    std::int8_t cur = -1;
    const std::size_t n = nodes_.size();
    for (std::size_t k = 0; k < n; ++k) {
      Tensor& t = (*this)[nodes_[down ? k : n - 1 - k]];
      if (t.be != -1) {
        cur = gpu_only && t.be == kCpu ? std::int8_t{-1} : t.be;
      } else if (cur != -1 && supports(t, cur)) {
        t.be = cur;
      }
    }
  };
  expand_pass(true, true);
  expand_pass(true, false);
  expand_pass(false, true);
  expand_pass(false, false);
  // Pass 3: unassigned nodes to the backend with the most readable sources (ties: the GPU).
  for (const std::int32_t i : nodes_) {
    Tensor& t = (*this)[i];
    if (t.be != -1) continue;
    int best = -1;
    for (std::int8_t b = 0; b < 2; ++b) {
      if (!supports(t, b)) continue;
      int n_ok = 0;
      for (const std::int32_t s : t.src)
        if (s != kNone && be_of(s) != -1 && buf_ok(s, b)) ++n_ok;
      if (n_ok > best) {
        best = n_ok;
        t.be = b;
      }
    }
  }
  // Pass 4: sources still unassigned follow their node.
  for (const std::int32_t i : nodes_) {
    Tensor& t = (*this)[i];
    if (t.be == -1) t.be = t.cuda_ok ? kGpu : kCpu;
    for (const std::int32_t s : t.src)
      if (s != kNone && be_of(s) == -1) (*this)[s].be = t.be;
  }
  // Pass 5: splits and copies. order: per split, (dependency, copy) per input, then its nodes.
  thread_local std::vector<std::int32_t> order;  // storage kept across simulations
  order.clear();
  order.reserve(nodes_.size() * 2);
  struct CopyKey {
    std::uint64_t bytes;
    std::int8_t be;
    std::int32_t copy;
    std::int32_t next;  // the source's previous copy (index into copies), or kNone
  };
  // The copies made so far, chained per source tensor (copy_head[src]): a lookup walks only that
  // source's copies (a linear scan of all copies was quadratic with many op-offloaded splits).
  thread_local std::vector<CopyKey> copies;
  thread_local std::vector<std::int32_t> copy_head;
  copies.clear();
  copy_head.assign(size(), kNone);
  thread_local std::vector<std::int32_t> split_nodes, split_inputs;  // the open split
  split_nodes.clear();
  split_inputs.clear();
  std::int8_t cur = nodes_.empty() ? kCpu : (*this)[nodes_[0]].be;
  auto flush = [&]() {
    for (std::size_t k = 0; k < split_inputs.size(); k += 2) {
      order.push_back(split_inputs[k]);
      order.push_back(split_inputs[k + 1]);
    }
    order.insert(order.end(), split_nodes.begin(), split_nodes.end());
    split_nodes.clear();
    split_inputs.clear();
  };
  const std::size_t n_nodes = nodes_.size();
  for (std::size_t k = 0; k < n_nodes; ++k) {
    const std::int32_t i = nodes_[k];
    const std::int8_t nb = (*this)[i].be;
    bool new_split = nb != cur;
    if (!new_split && !split_inputs.empty()) {
      for (const std::int32_t s : (*this)[i].src)
        if (s != kNone && (*this)[s].weight && be_of(s) != cur) new_split = true;
    }
    if (new_split) {
      flush();
      cur = nb;
    }
    split_nodes.push_back(i);
    for (std::size_t j = 0; j < 4; ++j) {
      const std::int32_t s = (*this)[i].src[j];
      if (s == kNone || buf_ok(s, cur)) continue;
      const std::uint64_t bytes = (*this)[i].srcb[j] != 0 ? (*this)[i].srcb[j] : (*this)[s].nbytes();
      std::int32_t c = kNone;
      if (static_cast<std::size_t>(s) >= copy_head.size()) copy_head.resize(static_cast<std::size_t>(s) + 1, kNone);
      for (std::int32_t k = copy_head[static_cast<std::size_t>(s)]; k != kNone; k = copies[static_cast<std::size_t>(k)].next)
        if (copies[static_cast<std::size_t>(k)].bytes == bytes && copies[static_cast<std::size_t>(k)].be == cur)
          c = copies[static_cast<std::size_t>(k)].copy;
      if (c == kNone) {
        Tensor cp;
        cp.op = Op::kOther;
        cp.be = cur;
        cp.ne = {static_cast<std::int64_t>(bytes), 1, 1, 1};
        cp.type_size = 1;
        cp.type_id = 200;
        // ggml_dup_tensor_layout of the source: an op may then run in place of the copy (it is
        // the allocator's own tensor, neither input nor output with one copy per source). A view
        // source keeps the byte form (its layout is not the root's).
        const Tensor& st = (*this)[s];
        if (((*this)[i].via_view >> j & 1u) == 0 && !st.weight && bytes == st.nbytes()) {
          cp.ne = st.ne;
          cp.type_size = st.type_size;
          cp.type_id = st.type_id;
        }
        c = add(cp);
        Tensor dep;  // keeps the source alive until the split starts; never allocated
        dep.op = Op::kOther;
        dep.be = be_of(s);
        dep.view_src = s;
        dep.src = {s, kNone, kNone, kNone};
        dep.type_id = 201;
        const std::int32_t d = add(dep);
        copies.push_back({bytes, cur, c, copy_head[static_cast<std::size_t>(s)]});
        copy_head[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(copies.size() - 1);
        split_inputs.push_back(d);
        split_inputs.push_back(c);
      }
      Tensor& t = (*this)[i];  // add() may have moved the storage
      t.src[j] = c;
      t.via_view = static_cast<std::uint8_t>(t.via_view & ~(1u << j));
    }
  }
  flush();
  // ggml_gallocr over the scheduled graph: leaves, children, then node by node.
  alloc_.reset();
  gpu_alloc_.reset();
  for (const std::int32_t l : leaves_) allocate(l);
  for (const std::int32_t i : order)
    for (const std::int32_t s : (*this)[i].src)
      if (s != kNone) ++(*this)[s].n_children;
  for (const std::int32_t i : order) {
    allocate(i);
    for (const std::int32_t s : (*this)[i].src) {
      if (s == kNone) continue;
      Tensor& p = (*this)[s];
      if (--p.n_children == 0 && p.allocated) free_tensor(s);
    }
  }
  sizes = {gpu_alloc_.max_size(), alloc_.max_size()};
}

}  // namespace bitnet::detail::galloc
