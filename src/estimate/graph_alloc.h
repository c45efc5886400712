// A model of ggml's graph allocator (ggml-alloc.c: ggml_gallocr + ggml_dyn_tallocr) over a small
// tensor graph built like ggml builds one (memory-model.md §6 "simulated"). Written from the
// mechanism, not copied: what it reproduces is listed with each function.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace bitnet::detail::galloc {

// ggml_dyn_tallocr with one chunk (the CPU and CUDA buffer types report no max size, so the
// allocator never opens a second chunk): a free list sorted by offset whose last block is the
// unbounded tail, best-fit over the other blocks, merging on free, sizes padded to `alignment`.
class DynAlloc {
 public:
  explicit DynAlloc(std::uint64_t alignment = 32);
  std::uint64_t alloc(std::uint64_t size);               // returns the offset
  void free(std::uint64_t offset, std::uint64_t size);  // size as allocated (padded here again)
  std::uint64_t max_size() const noexcept { return max_size_; }
  std::uint64_t alignment() const noexcept { return align_; }
  std::uint64_t pad(std::uint64_t size) const noexcept { return (size + align_ - 1) & ~(align_ - 1); }
  void reset();  // empty, keeping the storage

  struct Block {
    std::uint64_t offset, size;
    bool operator==(const Block& o) const noexcept { return offset == o.offset && size == o.size; }
  };
  const std::vector<Block>& blocks() const noexcept { return blocks_; }

 private:
  std::uint64_t align_;
  std::uint64_t max_size_ = 0;
  std::vector<Block> blocks_;
};

// What kind of operation made a tensor; only what the allocator asks of it.
enum class Op : std::uint8_t {
  kLeaf,     // GGML_OP_NONE: an input, a weight, a cache tensor
  kView,     // reshape / view / permute / transpose: no computation, the root's memory
  kInplace,  // ggml_op_can_inplace: ADD, MUL, SCALE, RMS_NORM, ROPE, SOFT_MAX, UNARY, ...
  kOther,    // everything else (MUL_MAT, GET_ROWS, CONT, GLU, FLASH_ATTN_EXT, ARGSORT, SET_ROWS
             // (which computes into a view of its destination: view_src set, never allocated))
};

inline constexpr std::int32_t kNone = -1;

// What ggml_backend_sched and ggml-cuda's offload_op ask of an op (batch size, skipped rules).
enum SchedOp : std::uint8_t { kSchedOther, kSchedMulMat, kSchedRope, kSchedFlash, kSchedGetRows, kSchedMulMatId };

struct Tensor {
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};
  std::uint8_t type_size = 4;  // element bytes (f32 4, f16 2, i32 4, i64 8)
  std::uint8_t type_id = 0;    // distinguishes types of equal size (layout comparison)
  Op op = Op::kLeaf;
  bool external = false;  // has a buffer already (weights, KV cache): never allocated here
  bool input = false;     // ggml_set_input
  bool output = false;    // ggml_set_output: never freed, never reused in place
  std::array<std::int32_t, 4> src{kNone, kNone, kNone, kNone};
  std::int32_t view_src = kNone;  // root of a view chain
  // Which sources are views (bit k: src[k]); when the node enters the graph, a source that is a
  // view tensor is replaced by its root (Graph::expand).
  std::uint8_t via_view = 0;
  // Allocator state (ggml-alloc.c hash_node). n_children counts the uses still to come by
  // computing nodes, through views included (see Graph::expand).
  std::int32_t n_children = 0;
  bool allocated = false;
  bool visited = false;
  bool pinned = false;  // a graph input whose remaining uses are not counted yet (graph_sim.cpp)
  std::uint64_t offset = 0;
  // ggml_backend_sched (graph_sched in graph_alloc.cpp): the backend a tensor runs on or lives
  // in (0 = the GPU, 1 = the host), what the scheduler asks of the op, and each source's bytes as
  // the node sees it (a view's own size: what a copy into another backend takes).
  std::int8_t be = -1;
  std::uint8_t home = 1;      // external tensors: the backend of their buffer
  std::uint8_t sop = 0;       // SchedOp
  bool weight = false;        // an external tensor in a weights buffer
  bool cuda_ok = true;        // the GPU backend supports the op
  std::array<std::uint64_t, 4> srcb{0, 0, 0, 0};

  std::uint64_t bytes = 0;  // ggml_nbytes (contiguous), set by Graph::make / Graph::add
  // What the serving graphs write of it (pages touched, memory-model.md §6 "Residency"): bytes
  // by default, 0 for an input never set, less for the logits rows of a last-token-only batch.
  std::uint64_t wbytes = 0;
  std::uint64_t nbytes() const noexcept { return bytes; }
  std::uint64_t compute_bytes() const noexcept {
    return static_cast<std::uint64_t>(ne[0] * ne[1] * ne[2] * ne[3]) * type_size;
  }
};

// What the allocator did for one segment of nodes, in terms of the segment's own tensors
// (slot = index - base) and one outside tensor (the residual, kOutsideSlot): enough to replay the
// segment on another allocator state. A layer's decisions (in place or not, what is freed when,
// the sizes) depend only on the graph's structure, never on addresses, so every layer of the same
// class makes the same calls; only the offsets differ.
struct Event {
  // kUse: a pinned graph input consumed by a node (at its place among the node's frees); the
  // replay of a tail layer, where inputs are no longer pinned, frees the input at its last use.
  enum Kind : std::uint8_t { kAlloc, kInplace, kFree, kUse } kind;
  std::int32_t slot;    // the tensor allocated, taking over, or freed
  std::int32_t parent;  // kInplace: the tensor whose memory it takes; kUse: the input (graph index)
  std::uint64_t size;   // kAlloc / kFree: bytes; kInplace: the node's padded size
  std::uint64_t surplus;  // kInplace: the parent's padded bytes beyond the node's, freed
};
inline constexpr std::int32_t kOutsideSlot = -2;

struct Script {
  std::vector<Event> events;
  std::int32_t n_slots = 0;
  std::int32_t out_slot = kNone;  // the segment's result (the next residual)
  bool valid = false;
  // The split node (set_split_node before recording): the events up to and including its own
  // (split_at), its slot, and the bytes and count of the segment's own tensors up to it.
  std::size_t split_at = 0;
  std::int32_t split_slot = kNone;
  std::uint64_t split_own_bytes = 0, split_own_count = 0;
  // No in-place decision passed over a pinned input that it could have taken (same layout,
  // allocated, not an output): with the inputs unpinned the segment makes the same calls.
  bool unpinned_ok = true;
};

// A graph under construction plus the allocator running over it in segments.
class Graph {
 public:
  explicit Graph(std::uint64_t alignment = 32) : alloc_(alignment) {
    t_.reserve(512);
    nodes_.reserve(512);
  }
  void reset() {  // an empty graph and allocator, keeping the storage
    t_.clear();
    nodes_.clear();
    next_node_ = 0;
    own_bytes_ = own_count_ = 0;
    alloc_.reset();
    gpu_alloc_.reset();
    leaves_.clear();
    touched_.clear();
  }

  // A new tensor made in place (the graph builder's hot path).
  std::int32_t make(Op op, std::uint8_t type_size, std::uint8_t type_id, const std::array<std::int64_t, 4>& ne) {
    Tensor& t = t_.emplace_back();
    t.op = op;
    t.type_size = type_size;
    t.type_id = type_id;
    t.ne = ne;
    t.bytes = t.wbytes = t.compute_bytes();
    return static_cast<std::int32_t>(t_.size() - 1);
  }
  std::int32_t add(const Tensor& t) {
    t_.push_back(t);
    t_.back().bytes = t_.back().wbytes = t.compute_bytes();
    return static_cast<std::int32_t>(t_.size() - 1);
  }
  // Bytes and count of the graph's tensors that need memory here (inputs and computing nodes
  // that are neither views nor external): the allocator never holds more than their padded sum.
  std::uint64_t own_bytes() const noexcept { return own_bytes_; }
  std::uint64_t own_count() const noexcept { return own_count_; }
  Tensor& operator[](std::int32_t i) { return t_[static_cast<std::size_t>(i)]; }
  const Tensor& operator[](std::int32_t i) const { return t_[static_cast<std::size_t>(i)]; }

  // ggml_build_forward_expand: depth-first over src[0..3], appending unvisited tensors to the
  // node list after their sources, and counting children the way ggml_gallocr_alloc_graph_impl's
  // first pass does (pinned tensors are not counted). Views are folded into their root: ggml
  // frees a root when its last child and the last child of each of its views have run, and
  // never lets anything run in place of a view; counting a view's children on the root and
  // marking those sources gives the same frees and the same in-place decisions without walking
  // the view nodes (every view the graph builder makes has a consumer, as ggml needs for the
  // root ever to be freed).
  void expand(std::int32_t t);
  // ggml_gallocr's leaf pass, one graph input at a time in leaf order (the order ggml's
  // depth-first walk first meets them): allocated now and never walked again.
  void alloc_leaf(std::int32_t t);
  // ggml_gallocr's node pass over the nodes appended since the last call.
  void run_nodes();
  // The same, recording into `rec` the events of tensors from index `base` on, with `outside`
  // (the residual coming in) as the only other tensor that may be freed; anything else touched
  // leaves the script invalid.
  void run_nodes_recording(Script& rec, std::int32_t base, std::int32_t outside);
  // The CUDA build (memory-model.md §6 "GPU build"): with deferred() set, expand() only collects
  // the nodes and alloc_leaf() the leaf order; schedule() then assigns every node a backend the
  // way ggml_backend_sched_split_graph does (weights' buffers, op offload of host weights for
  // batches >= 32, graph inputs on the host, GPU expansion down and up, then the rest), cuts the
  // splits, inserts a copy in the destination backend for each cross-backend source (one copy per
  // source and backend, n_copies = 1 on one GPU) and runs ggml_gallocr with one allocator per
  // backend (GPU: 128-byte alignment, host: 32). sizes[b]: the peak of backend b's buffer.
  void set_deferred(bool d) noexcept { deferred_ = d; }
  void schedule(bool op_offload, std::array<std::uint64_t, 2>& sizes);

  // Replays a script with the residual at `outside_offset`; returns the result's offset.
  std::uint64_t replay(const Script& sc, std::uint64_t outside_offset);
  // Replays events [0, end) of a script with the graph inputs unpinned: each kUse consumes one of
  // the input's n_children and frees it at zero (its last use). `end` = sc.events.size() or
  // sc.split_at; returns the offset of slot `slot` (the result, or the split node).
  std::uint64_t replay_unpinned(const Script& sc, std::uint64_t outside_offset, std::size_t end,
                                std::int32_t slot);
  // The node whose events end a script's first part (Script::split_at); kNone: none.
  void set_split_node(std::int32_t t) noexcept { split_node_ = t; }

  // Residency: with tracking on, every allocation (replayed ones included) records the byte range
  // its tensor's wbytes cover; touched_pages() is the union of those ranges in pages of `page`
  // bytes for a buffer that starts `base` bytes into its first page, plus that first page (the
  // heap's chunk header lives there).
  void set_track(bool on) noexcept { track_ = on; }
  std::uint64_t touched_pages(std::uint64_t page, std::uint64_t base);

  DynAlloc& allocator() { return alloc_; }
  const DynAlloc& allocator() const { return alloc_; }
  std::size_t size() const noexcept { return t_.size(); }

 private:
  void allocate(std::int32_t t);
  void free_tensor(std::int32_t t);
  bool same_layout(const Tensor& a, const Tensor& b) const noexcept;

  void record(Event e);
  std::uint64_t replay_events(const Script& sc, std::uint64_t outside_offset, std::size_t end, std::int32_t slot,
                              bool unpinned);
  DynAlloc& alloc_of(const Tensor& t) { return t.be == 0 ? gpu_alloc_ : alloc_; }

  std::vector<Tensor> t_;
  std::vector<std::int32_t> nodes_;
  Script* rec_ = nullptr;
  std::int32_t rec_base_ = 0, rec_outside_ = kNone;
  std::int32_t split_node_ = kNone;
  std::vector<std::uint64_t> replay_off_;
  std::size_t next_node_ = 0;
  std::uint64_t own_bytes_ = 0, own_count_ = 0;
  DynAlloc alloc_;
  DynAlloc gpu_alloc_{128};
  bool deferred_ = false;
  bool track_ = false;
  std::vector<std::int32_t> leaves_;
  std::vector<std::array<std::uint64_t, 2>> touched_;
};

}  // namespace bitnet::detail::galloc
