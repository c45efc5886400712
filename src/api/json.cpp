// JSON documents of api.md §3.
#include "api/json.h"

#include <algorithm>
#include <utility>

#include "bitnet/types.h"

namespace bitnet::detail {
namespace {

template <class T>
Json opt(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

const MemorySegment& segment_by_index(const DetailedMemoryRequirements& d, std::size_t i) {
  switch (i) {
    case 0:
      return d.model_weights;
    case 1:
      return d.kv_cache;
    case 2:
      return d.activations;
    case 3:
      return d.quantization_overhead;
    default:
      return d.system_overhead;
  }
}

const MemorySegment& actual_by_index(const ValidationReport& r, std::size_t i) {
  switch (i) {
    case 0:
      return r.actual_model_weights;
    case 1:
      return r.actual_kv_cache;
    case 2:
      return r.actual_activations;
    case 3:
      return r.actual_quantization_overhead;
    default:
      return r.actual_system_overhead;
  }
}

Json layer_json(const LayerInfo& l) {
  Json j;
  j["kind"] = l.kind == LayerKind::kAttention   ? "attention"
              : l.kind == LayerKind::kRecurrent ? "recurrent"
                                                : "no_cache";
  j["n_head"] = l.n_head;
  j["n_head_kv"] = l.n_head_kv;
  j["head_dim_k"] = l.head_dim_k;
  j["head_dim_v"] = l.head_dim_v;
  j["n_embd_k_gqa"] = l.n_embd_k_gqa;
  j["n_embd_v_gqa"] = l.n_embd_v_gqa;
  j["is_swa"] = l.is_swa;
  j["n_ff"] = l.n_ff;
  j["is_moe"] = l.is_moe;
  if (l.kind == LayerKind::kRecurrent) {
    j["n_embd_r"] = l.n_embd_r;
    j["n_embd_s"] = l.n_embd_s;
  }
  return j;
}

}  // namespace

Json model_json(const ModelStructureInfo& m) {
  Json j;
  // Required fields, in api.md's order.
  j["path"] = m.path;
  j["format"] = m.format;
  j["gguf_version"] = m.gguf_version;
  j["file_bytes"] = m.file_bytes;
  j["architecture"] = m.architecture;
  j["n_layer"] = m.n_layer;
  j["n_embd"] = m.n_embd;
  j["n_head"] = m.n_head;
  j["n_head_kv"] = m.n_head_kv;
  j["head_dim_k"] = m.head_dim_k;
  j["head_dim_v"] = m.head_dim_v;
  j["n_ff"] = m.n_ff;
  j["n_vocab"] = m.n_vocab;
  j["n_ctx_train"] = m.n_ctx_train;
  j["n_expert"] = m.n_expert;
  j["n_expert_used"] = m.n_expert_used;
  j["sliding_window"] = opt(m.sliding_window);
  j["parameter_count"] = m.parameter_count;
  j["tensor_count"] = m.tensors.size();
  j["tensor_bytes"] = m.tensor_bytes;
  j["quantization"] = std::string(quantization_type_name(m.quantization_type));
  // Types by bytes, largest first (then by name): the reading order of a summary.
  std::vector<std::pair<std::string, TensorTypeStats>> types(m.tensor_types.begin(),
                                                             m.tensor_types.end());
  std::stable_sort(types.begin(), types.end(),
                   [](const auto& a, const auto& b) { return a.second.bytes > b.second.bytes; });
  Json tt = Json::object();
  for (const auto& [name, st] : types) {
    Json t;
    t["count"] = st.count;
    t["parameters"] = st.parameters;
    t["bytes"] = st.bytes;
    tt[name] = std::move(t);
  }
  j["tensor_types"] = std::move(tt);

  // Extra fields.
  j["bits_per_weight"] = m.bits_per_weight;
  j["header_bytes"] = m.header_bytes;
  j["alignment"] = m.alignment;
  j["header_only"] = m.header_only;
  j["type_map"] = std::string(type_map_name(m.type_map));
  j["type_map_reason"] = m.type_map_reason;
  j["architecture_known"] = m.architecture_known;
  j["hparams_basis"] = std::string(basis_name(m.hparams_basis));
  j["n_ff_exp"] = m.n_ff_exp;
  j["mla"] = m.mla;
  j["recurrent"] = m.recurrent;
  j["tied_output"] = m.tied_output;
  Json tok;
  tok["model"] = m.tokenizer.model;
  tok["n_tokens"] = m.tokenizer.n_tokens;
  tok["n_merges"] = m.tokenizer.n_merges;
  tok["tokens_bytes"] = m.tokenizer.tokens_bytes;
  tok["long_tokens"] = m.tokenizer.n_long_tokens;
  tok["long_token_heap_bytes"] = m.tokenizer.long_token_heap_bytes;
  tok["merges_bytes"] = m.tokenizer.merges_bytes;
  tok["has_scores"] = m.tokenizer.has_scores;
  j["tokenizer"] = std::move(tok);
  Json layers = Json::array();
  for (const LayerInfo& l : m.layers) layers.push_back(layer_json(l));
  j["layers"] = std::move(layers);
  j["warnings"] = m.warnings;
  return j;
}

Json part_json(const MemoryPart& p) {
  Json j;
  j["name"] = p.name;
  j["device"] = p.device;
  j["bytes"] = p.bytes;
  j["basis"] = std::string(basis_name(p.basis));
  j["source"] = p.source;
  j["kind"] = std::string(memory_kind_name(p.kind));
  j["resident_bytes"] = p.resident_bytes;
  return j;
}

Json segment_json(const MemorySegment& s) {
  Json j;
  j["cpu_bytes"] = s.cpu_bytes;
  j["gpu_bytes"] = opt(s.gpu_bytes);
  j["shared_bytes"] = s.shared_bytes;
  j["peak_multiplier"] = s.peak_multiplier;
  Json parts = Json::array();
  for (const MemoryPart& p : s.parts) parts.push_back(part_json(p));
  j["parts"] = std::move(parts);
  return j;
}

Json config_json(const ResolvedConfig& c, const std::vector<std::string>& given) {
  Json j;
  j["device"] = c.device;
  j["runtime"] = c.runtime;
  j["n_ctx"] = c.n_ctx;
  j["n_batch"] = c.n_batch;
  j["n_ubatch"] = c.n_ubatch;
  j["n_seq"] = c.n_seq;
  j["type_k"] = std::string(precision_name(c.type_k));
  j["type_v"] = std::string(precision_name(c.type_v));
  j["flash_attn"] = c.flash_attn;
  j["mmap"] = c.mmap;
  j["n_gpu_layers"] = c.n_gpu_layers;
  // Extra fields.
  j["n_ctx_seq"] = c.n_ctx_seq;
  j["kv_unified"] = c.kv_unified;
  j["n_threads"] = c.n_threads;
  if (!c.tensor_split.empty()) j["tensor_split"] = c.tensor_split;  // a split over several GPUs only
  j["given"] = given;
  return j;
}

Json recommendations_json(const MemoryRecommendations& r) {
  Json j;
  j["min_system_ram_bytes"] = r.min_system_ram;
  j["recommended_system_ram_bytes"] = r.recommended_system_ram;
  j["min_gpu_memory_bytes"] = opt(r.min_gpu_memory);
  j["recommended_gpu_memory_bytes"] = opt(r.recommended_gpu_memory);
  j["swap_bytes"] = r.swap_requirements;
  Json sug = Json::array();
  for (const OptimizationSuggestion& s : r.optimization_suggestions) {
    Json o;
    o["text"] = s.text;
    o["saves_bytes"] = s.saves_bytes;
    o["id"] = s.id;
    o["flags"] = s.flags;
    sug.push_back(std::move(o));
  }
  j["suggestions"] = std::move(sug);
  return j;
}

Json estimate_json(const ModelStructureInfo& m, const DetailedMemoryRequirements& d,
                   const std::vector<std::string>& given) {
  Json j;
  j["model"] = model_json(m);
  j["config"] = config_json(d.config, given);
  Json segs;
  for (std::size_t i = 0; i < std::size(kSegmentNames); ++i)
    segs[kSegmentNames[i]] = segment_json(segment_by_index(d, i));
  j["segments"] = std::move(segs);
  j["total"] = segment_json(d.total);
  j["peak_usage"] = segment_json(d.peak_usage);
  j["recommendations"] = recommendations_json(d.recommendations);
  // Several GPUs: each one's share (single-GPU output keeps its shape; its parts say the same).
  if (d.devices.size() > 1) {
    Json devs = Json::array();
    for (const DeviceUsage& u : d.devices)
      devs.push_back(Json{{"device", u.device},           {"n_layers", u.n_layers},
                          {"weights_bytes", u.weights_bytes}, {"kv_bytes", u.kv_bytes},
                          {"compute_bytes", u.compute_bytes}, {"overhead_bytes", u.overhead_bytes},
                          {"peak_bytes", u.peak_bytes}});
    j["devices"] = std::move(devs);
  }
  j["warnings"] = d.warnings;
  return j;
}

Json measured_json(const MeasuredMemory& mm) {
  Json j;
  j["rss_bytes"] = mm.rss_bytes;
  j["hwm_bytes"] = mm.hwm_bytes;
  j["rss_anon_bytes"] = mm.rss_anon_bytes;
  j["rss_file_bytes"] = mm.rss_file_bytes;
  j["rss_shmem_bytes"] = mm.rss_shmem_bytes;
  j["pss_bytes"] = opt(mm.pss_bytes);
  j["gpu_bytes"] = opt(mm.gpu_bytes);
  return j;
}

Json validation_json(const ModelStructureInfo& m, const ValidationReport& r,
                     const std::vector<std::string>& given) {
  Json j = estimate_json(m, r.predicted, given);
  Json actual;
  for (std::size_t i = 0; i < std::size(kSegmentNames); ++i)
    actual[kSegmentNames[i]] = segment_json(actual_by_index(r, i));
  actual["total"] = segment_json(r.actual_total);
  actual["rss_bytes"] = r.after_load.rss_bytes;
  actual["hwm_bytes"] = r.after_load.hwm_bytes;
  j["actual"] = std::move(actual);
  j["rss_bytes"] = r.after_load.rss_bytes;
  j["hwm_bytes"] = r.after_load.hwm_bytes;
  j["passed"] = r.passed;
  j["tolerance"] = r.tolerance;
  j["tolerance_bytes"] = r.tolerance_bytes;
  Json rows = Json::array();
  for (const ValidationRow& row : r.rows) {
    Json o;
    o["segment"] = row.segment;
    o["predicted_bytes"] = row.predicted_bytes;
    o["actual_bytes"] = row.actual_bytes;
    o["error"] = row.error;
    o["within_tolerance"] = row.within_tolerance;
    rows.push_back(std::move(o));
  }
  j["rows"] = std::move(rows);
  j["before_load"] = measured_json(r.before_load);
  j["after_load"] = measured_json(r.after_load);
  return j;
}

}  // namespace bitnet::detail
