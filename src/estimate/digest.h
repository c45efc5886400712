// What an estimate needs from the tensors, computed once per analysis (memory-model speed: an
// estimate must not walk every tensor). Tensors are grouped by what decides their placement and
// buffer sizes: layer, layer class, type, consuming op, ne1's low bits (repack rules), and whether
// the tensor is token_embd or the head. A group holds the sums and extremes the terms read.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/model_info.h"
#include "estimate/bytes.h"
#include "estimate/runtime_profiles.h"

namespace bitnet::detail {

struct TensorGroup {
  QuantizationType type = QuantizationType::kUnknown;
  TensorOp op = TensorOp::kOther;
  LayerClass layer_class = LayerClass::kRepeating;
  std::int32_t layer = -1;         // -1 in the merged list (and for non-repeating tensors)
  std::uint8_t ne1_low = 0;        // ne1 & 31: decides every repack rule (multiples <= 32)
  bool is_tok = false;             // token_embd.weight
  bool is_head = false;            // output.weight (or token_embd where the head reads it)
  bool synthetic = false;          // the tied head's duplicate of token_embd (not in the file)
  std::uint64_t count = 0;
  B nbytes;                        // sum of nbytes (mapped)
  B pad32;                         // sum of pad32(nbytes) (CPU, CUDA_Host)
  B cuda;                          // sum of CUDA alloc sizes (row padding, pad128)
  std::optional<Error> cuda_error; // a CUDA alloc size that could not be computed
  std::array<const RepackRule*, 4> rules{};  // repack rules that apply to this type and ne1
  std::array<B, 4> repacked{};               // sum of the packed sizes under each rule
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;  // file span of the group's tensors
  std::uint64_t max_ne0 = 0;       // widest src1 row of the group's matmuls (K)
  std::uint64_t max_tl = 0;        // TL1/TL2: max of c*K + 2*max(K, M) (LUT scratch)
  std::uint64_t max_read = 0;      // largest nbytes <= 32 MiB (no-mmap read buffer)
  bool wide = false;               // some tensor has ne1 > 1
  bool derived = false;            // some size came from a span
};

// What the CUDA-build graph simulation (graph_sim.cpp) reads of the weights, gathered once per
// analysis: per layer the GPU-copy bytes of q, k, v, o, up, gate, down and whether CUDA runs their
// type; row n_layer is the output layer ([0]: the head, output.weight or token_embd).
struct SimWeights {
  bool ok = false;  // built, and every size could be computed
  std::vector<std::array<std::uint64_t, 7>> wb;
  std::vector<std::array<bool, 7>> wok;
  std::vector<std::array<bool, 7>> ws;  // the role has a per-tensor scale (<role>.scale: bitnet)
  // The head is token_embd itself (a tied head the graph reads without a duplicate: bitnet), so
  // its weight stays in host memory whatever -ngl says (the input layer is always on the CPU).
  bool head_host = false;
};

// A maximal run of identical layers (every LayerInfo field equal), in layer order.
struct LayerRun {
  std::uint32_t first = 0, count = 0;
  LayerInfo info;
};

struct TensorDigest {
  std::vector<TensorGroup> by_layer;  // one group per (layer, key): GPU placement needs the layer
  std::vector<TensorGroup> merged;    // the same over all layers: CPU-only placement
  bool has_by_layer = false;          // by_layer was built
  std::optional<TensorGroup> synth;   // the tied head's duplicate of token_embd, if one is made
  const TensorInfo* head = nullptr;   // output.weight, or token_embd when it is the head
  std::uint64_t n_tensors = 0, n_unknown = 0, n_bitnet = 0;
  B native_loader_bytes;              // system_overhead of the native profile (system.cpp)
  SimWeights sim_weights;             // built with by_layer
  // The layers as runs of identical ones, covering 0..n_layer-1 (most stacks: one run, iSWA: one
  // per window change): the per-layer loops of an estimate walk runs, not layers.
  std::vector<LayerRun> layer_runs;
  // The widths the activation terms read, over all layers (resolve.cpp's max_n_head,
  // max_n_embd_v_gqa, n_ff_effective), once per analysis instead of a walk per estimate.
  std::uint64_t max_n_head = 0, max_n_embd_v_gqa = 0, n_ff_effective = 0;
};

// by_layer = false skips the per-layer groups (enough for estimates on the CPU device).
TensorDigest make_digest(const ModelStructureInfo& m, bool by_layer = true);

}  // namespace bitnet::detail
