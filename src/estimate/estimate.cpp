// estimate_memory: ModelStructureInfo + MemoryAnalysisConfig -> DetailedMemoryRequirements.
#include "estimate/estimate.h"

#include "estimate/digest.h"
#include "estimate/estimate_internal.h"

namespace bitnet::detail {

Result<DetailedMemoryRequirements> estimate_core(const ModelStructureInfo& m,
                                                 const TensorDigest& digest,
                                                 const MemoryAnalysisConfig& cfg) {
  BITNET_ASSIGN_OR_RETURN(Plan p, resolve_plan(m, digest, cfg));
  BITNET_ASSIGN_OR_RETURN(WeightsResult w, weight_terms(p));
  std::vector<Term> terms = std::move(w.terms);
  BITNET_TRY(kv_terms(p, terms));
  BITNET_TRY(activation_terms(p, w, terms));
  if (cfg.include_system_overhead) BITNET_TRY(system_terms(p, w, terms));
  DetailedMemoryRequirements d;
  d.warnings = std::move(p.warnings);
  for (const auto& t : terms)
    if (t.part.basis == Basis::kUnknown)
      d.warnings.push_back(t.part.name + ": " + std::string(t.part.source));
  // Parts are only read by the breakdown and the suggestion search (recommend.cpp); assemble
  // moves them out of the terms.
  assemble(p, terms, d, cfg.detailed_breakdown || cfg.suggestions);
  d.config = p.rc;
  d.compute_closed_form = p.compute_closed_form;
  return d;
}

Result<DetailedMemoryRequirements> estimate_memory(const ModelStructureInfo& model,
                                                   const MemoryAnalysisConfig& config) {
  // Alternatives the suggestion search tries keep the device: per-layer groups only for a GPU.
  const TensorDigest digest =
      make_digest(model, config.device.is_gpu() || config.runtime.device.is_gpu() ||
                             (config.runtime.devices.size() > 1 && config.runtime.devices.front().is_gpu()));
  return estimate_memory(model, digest, config);
}

Result<DetailedMemoryRequirements> estimate_memory(const ModelStructureInfo& model,
                                                   const TensorDigest& digest,
                                                   const MemoryAnalysisConfig& config) {
  BITNET_ASSIGN_OR_RETURN(DetailedMemoryRequirements d, estimate_core(model, digest, config));
  BITNET_TRY(recommend(model, digest, config, d));
  if (!config.detailed_breakdown) {
    for (MemorySegment* s : {&d.model_weights, &d.kv_cache, &d.activations,
                             &d.quantization_overhead, &d.system_overhead, &d.total, &d.peak_usage})
      s->parts.clear();
  }
  return d;
}

}  // namespace bitnet::detail
