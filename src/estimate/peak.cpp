// Segments, totals and the serving peak (memory-model.md §11). Segments hold what is reserved; the
// peak is the larger of two phases of what becomes resident: load (file pages populated, buffers
// filled, the metadata transient) and serving (span, buffers, the touched part of compute buffers).
#include <algorithm>
#include <array>
#include <vector>

#include "estimate/estimate_internal.h"

namespace bitnet::detail {
namespace {

struct Acc {
  std::uint64_t anon = 0, mapped = 0, device = 0;
  void add(MemoryKind k, std::uint64_t v) {
    switch (k) {
      case MemoryKind::kAnonymous:
      case MemoryKind::kPinned: anon += v; break;
      case MemoryKind::kMapped: mapped += v; break;
      case MemoryKind::kDevice: device += v; break;
    }
  }
  std::uint64_t host() const { return anon + mapped; }
  std::uint64_t all() const { return anon + mapped + device; }
};

MemorySegment* seg_of(DetailedMemoryRequirements& d, Seg s) {
  switch (s) {
    case Seg::kWeights: return &d.model_weights;
    case Seg::kKv: return &d.kv_cache;
    case Seg::kActivations: return &d.activations;
    case Seg::kQuant: return &d.quantization_overhead;
    case Seg::kSystem: return &d.system_overhead;
  }
  return &d.system_overhead;
}

Basis weakest(Basis a, Basis b) { return static_cast<std::uint8_t>(a) > static_cast<std::uint8_t>(b) ? a : b; }

// The parts into their segments, in term order, moved (their strings are not copied again).
void move_parts(std::vector<Term>& terms, DetailedMemoryRequirements& d, bool keep_parts) {
  if (!keep_parts) return;
  std::array<std::size_t, 5> n{};  // one allocation per segment, not one per doubling
  for (const Term& t : terms) ++n[static_cast<std::size_t>(t.seg)];
  for (std::size_t s = 0; s < n.size(); ++s) seg_of(d, static_cast<Seg>(s))->parts.reserve(n[s]);
  for (Term& t : terms) seg_of(d, t.seg)->parts.push_back(std::move(t.part));
}

}  // namespace

void assemble(const Plan& p, std::vector<Term>& terms, DetailedMemoryRequirements& d,
              bool keep_parts) {
  constexpr Seg kSegs[] = {Seg::kWeights, Seg::kKv, Seg::kActivations, Seg::kQuant, Seg::kSystem};
  Acc run_all, load_all, total_all;
  for (Seg s : kSegs) {
    MemorySegment& seg = *seg_of(d, s);
    Acc reserved, run, load;
    for (const Term& t : terms) {
      if (t.seg != s) continue;
      reserved.add(t.part.kind, t.part.bytes);
      run.add(t.part.kind, t.part.resident_bytes);
      load.add(t.part.kind, t.load_resident);
    }
    seg.cpu_bytes = reserved.anon;
    seg.shared_bytes = reserved.mapped;
    if (p.gpu_build) seg.gpu_bytes = reserved.device;
    // peak / steady: the most this segment holds resident in either phase over what it holds while
    // serving (e.g. the whole mapped file at load vs the span after; a load transient).
    const std::uint64_t steady = run.all();
    const std::uint64_t peak = std::max(run.all(), load.all());
    seg.peak_multiplier = steady > 0 ? static_cast<double>(peak) / static_cast<double>(steady) : 1.0;
    run_all.anon += run.anon; run_all.mapped += run.mapped; run_all.device += run.device;
    load_all.anon += load.anon; load_all.mapped += load.mapped; load_all.device += load.device;
    total_all.anon += reserved.anon; total_all.mapped += reserved.mapped;
    total_all.device += reserved.device;
  }
  d.total.cpu_bytes = total_all.anon;
  d.total.shared_bytes = total_all.mapped;
  if (p.gpu_build) d.total.gpu_bytes = total_all.device;
  d.total.peak_multiplier = total_all.all() > 0
      ? static_cast<double>(std::max(run_all.all(), load_all.all())) / static_cast<double>(total_all.all())
      : 1.0;

  // The host peak is the larger phase; device memory only grows (pools never shrink).
  const bool load_wins = load_all.host() > run_all.host();
  const Acc& host = load_wins ? load_all : run_all;
  d.peak_usage.cpu_bytes = host.anon;
  d.peak_usage.shared_bytes = host.mapped;
  if (p.gpu_build) d.peak_usage.gpu_bytes = std::max(run_all.device, load_all.device);
  const std::uint64_t steady = run_all.all();
  const std::uint64_t peak = host.host() + d.peak_usage.gpu_bytes.value_or(0);
  d.peak_usage.peak_multiplier = steady > 0 ? static_cast<double>(peak) / static_cast<double>(steady) : 1.0;
  Basis basis_all = Basis::kExact;
  for (const Term& t : terms) basis_all = weakest(basis_all, t.part.basis);
  d.peak_usage.parts.reserve(2 + p.n_gpus());
  d.peak_usage.parts.push_back(MemoryPart{"load_phase", "cpu", MemoryKind::kAnonymous,
                                          load_all.host(), load_all.host(), basis_all,
                                          "resident host memory at the end of loading"});
  d.peak_usage.parts.push_back(MemoryPart{"serving_phase", "cpu", MemoryKind::kAnonymous,
                                          run_all.host(), run_all.host(), basis_all,
                                          "resident host memory while serving (full ubatch at the "
                                          "end of the context, last-token logits)"});
  if (!p.gpu_build) return move_parts(terms, d, keep_parts);
  // Per GPU of the split: its parts by segment, its peak (device memory only grows).
  d.devices.resize(p.n_gpus());
  std::vector<std::uint64_t> run(p.n_gpus(), 0), load(p.n_gpus(), 0);
  for (std::size_t j = 0; j < p.n_gpus(); ++j) {
    DeviceUsage& u = d.devices[j];
    u.device = p.gpu_devs[j];
    for (std::int16_t g : p.layer_gpu) u.n_layers += g == static_cast<std::int16_t>(j) ? 1 : 0;
  }
  for (const Term& t : terms) {
    if (t.part.kind != MemoryKind::kDevice) continue;
    const auto it = std::find(p.gpu_devs.begin(), p.gpu_devs.end(), t.part.device);
    if (it == p.gpu_devs.end()) continue;
    const auto j = static_cast<std::size_t>(it - p.gpu_devs.begin());
    DeviceUsage& u = d.devices[j];
    switch (t.seg) {
      case Seg::kWeights:
      case Seg::kQuant: u.weights_bytes += t.part.bytes; break;
      case Seg::kKv: u.kv_bytes += t.part.bytes; break;
      case Seg::kActivations: u.compute_bytes += t.part.bytes; break;
      case Seg::kSystem: u.overhead_bytes += t.part.bytes; break;
    }
    run[j] += t.part.resident_bytes;
    load[j] += t.load_resident;
  }
  for (std::size_t j = 0; j < p.n_gpus(); ++j) d.devices[j].peak_bytes = std::max(run[j], load[j]);
  if (p.n_gpus() == 1) {
    d.peak_usage.parts.push_back(MemoryPart{"device_peak", p.gpu_dev, MemoryKind::kDevice,
                                            *d.peak_usage.gpu_bytes, *d.peak_usage.gpu_bytes,
                                            basis_all, "CUDA context + buffers + pools"});
    return move_parts(terms, d, keep_parts);
  }
  for (const DeviceUsage& u : d.devices)
    d.peak_usage.parts.push_back(MemoryPart{"device_peak", u.device, MemoryKind::kDevice, u.peak_bytes,
                                            u.peak_bytes, basis_all,
                                            "CUDA context + buffers + pools on this GPU of the split"});
  move_parts(terms, d, keep_parts);
}

}  // namespace bitnet::detail
