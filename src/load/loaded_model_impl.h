// LoadedModel's state: the mapping or the read weights, the committed buffers, the tensor views,
// and what the process measured while each buffer was committed (validate_model reads it).
#pragma once

#include <string>
#include <vector>

#include "bitnet/measure.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"
#include "load/regions.h"

namespace bitnet::detail {

// One buffer the loader made resident, with the process's memory just before and just after.
struct CommitRecord {
  std::string segment;  // model_weights, kv_cache, activations, quantization_overhead
  std::string part;     // the plan's part name: CPU_Mapped, CPU, kv_cache, compute_buffer ...
  MemoryKind kind = MemoryKind::kAnonymous;
  std::uint64_t planned_bytes = 0;    // the plan's number (what the estimate said)
  std::uint64_t allocated_bytes = 0;  // what the loader allocated or mapped (its own layout)
  MeasuredMemory before, after;       // /proc/self/status around the commit
};

}  // namespace bitnet::detail

namespace bitnet {

struct LoadedModel::Impl {
  Impl();
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ModelStructureInfo info;
  DetailedMemoryRequirements plan;
  bool mmap = true;
  detail::FileSpanMapping mapping;  // mmap: the tensor span of the file
  detail::AnonRegion weights;       // no mmap: the tensors, read into anonymous memory
  detail::AnonRegion kv;            // the kv_cache segment's parts, back to back
  detail::AnonRegion arena;         // the activations segment's parts (compute, output ...)
  detail::AnonRegion extra;         // anonymous parts of quantization_overhead, if any
  std::vector<TensorView> tensors;
  std::vector<detail::CommitRecord> commits;  // in commit order
  MeasuredMemory before_load;                 // the process before the load touched anything
  MeasuredMemory after_load;
};

namespace detail {
// The state behind a LoadedModel (validate_model reads its commit records). measure.h gives no
// accessor, so Impl registers itself under the address of its `info`, which LoadedModel::info()
// returns and which never moves (Impl lives on the heap).
const LoadedModel::Impl& impl_of(const LoadedModel& model);
}  // namespace detail

}  // namespace bitnet
