// Recommendations (style.md §5, memory-model.md §11): RAM/VRAM from an explicit policy, and
// optimization suggestions computed by re-running the estimate under alternative settings.
//
// Policy (documented in docs/memory-model.md):
//   min_system_ram          = the host serving/load peak (anonymous + mapped pages: mapped weights
//                             that do not stay resident are re-read from disk on every token)
//   recommended_system_ram  = min_system_ram * (1 + safety_margin), rounded up to a MiB
//   min_gpu_memory          = the device peak (context + buffers + pools); recommended likewise
//   swap_requirements       = the anonymous peak that exceeds config.available_ram (0 if not given):
//                             only anonymous pages can go to swap; mapped pages are re-read.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "estimate/estimate_internal.h"

namespace bitnet::detail {
namespace {

std::uint64_t host_peak(const DetailedMemoryRequirements& d) {
  return d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes;
}
std::uint64_t all_peak(const DetailedMemoryRequirements& d) {
  return host_peak(d) + d.peak_usage.gpu_bytes.value_or(0);
}
std::uint64_t with_margin(std::uint64_t v, double margin) {
  const double r = std::ceil(static_cast<double>(v) * (1.0 + std::max(0.0, margin)) / (1024.0 * 1024.0));
  return static_cast<std::uint64_t>(r) * 1024 * 1024;
}
std::string mib(std::uint64_t b) { return std::to_string(bytes_to_mib_ceil(b)) + " MiB"; }

struct Alternative {
  std::string id;
  std::string text;
  std::string flags;
  std::function<bool(RuntimeConfig&)> apply;  // false: not applicable
};

}  // namespace

Status recommend(const ModelStructureInfo& m, const TensorDigest& digest,
                 const MemoryAnalysisConfig& cfg, DetailedMemoryRequirements& d) {
  MemoryRecommendations& r = d.recommendations;
  r.min_system_ram = host_peak(d);
  r.recommended_system_ram = with_margin(r.min_system_ram, cfg.safety_margin);
  if (d.peak_usage.gpu_bytes) {
    r.min_gpu_memory = *d.peak_usage.gpu_bytes;
    // A split: what the most loaded GPU needs (each GPU's own peak is in d.devices).
    if (d.devices.size() > 1) {
      r.min_gpu_memory = 0;
      for (const DeviceUsage& u : d.devices) r.min_gpu_memory = std::max(*r.min_gpu_memory, u.peak_bytes);
    }
    r.recommended_gpu_memory = with_margin(*r.min_gpu_memory, cfg.safety_margin);
  }
  r.swap_requirements = cfg.available_ram && d.peak_usage.cpu_bytes > *cfg.available_ram
                            ? d.peak_usage.cpu_bytes - *cfg.available_ram
                            : 0;
  if (!cfg.suggestions) return Ok{};

  const ResolvedConfig& rc = d.config;
  const std::uint64_t base = all_peak(d);
  MemoryAnalysisConfig alt_cfg = cfg;
  alt_cfg.suggestions = false;
  auto run = [&](const RuntimeConfig& rt) -> Result<DetailedMemoryRequirements> {
    alt_cfg.runtime = rt;
    return estimate_core(m, digest, alt_cfg);
  };
  // The resolved settings, pinned, so an alternative changes one thing.
  RuntimeConfig pinned = cfg.runtime;
  pinned.n_ctx = rc.n_ctx;
  pinned.flash_attn = rc.flash_attn ? FlashAttn::kOn : FlashAttn::kOff;
  pinned.type_k = rc.type_k;
  pinned.type_v = rc.type_v;
  if (cfg.device.is_gpu() || cfg.runtime.device.is_gpu()) pinned.n_gpu_layers = rc.n_gpu_layers;

  const bool has_repack = std::any_of(d.quantization_overhead.parts.begin(),
                                      d.quantization_overhead.parts.end(), [](const MemoryPart& p) {
                                        return (p.name == "CPU_REPACK" || p.name == "AMX") && p.bytes > 0;
                                      });
  std::vector<Alternative> alts = {
      {"kv_q8_0", "store K and V as q8_0 (needs flash attention)", "-ctk q8_0 -ctv q8_0 -fa on",
       [&](RuntimeConfig& c) {
         if (rc.type_k == Precision::kQ8_0 && rc.type_v == Precision::kQ8_0) return false;
         c.type_k = Precision::kQ8_0; c.type_v = Precision::kQ8_0; c.flash_attn = FlashAttn::kOn;
         return true; }},
      {"kv_q4_0", "store K and V as q4_0 (needs flash attention; lower quality)",
       "-ctk q4_0 -ctv q4_0 -fa on",
       [&](RuntimeConfig& c) {
         if (rc.type_k == Precision::kQ4_0 && rc.type_v == Precision::kQ4_0) return false;
         c.type_k = Precision::kQ4_0; c.type_v = Precision::kQ4_0; c.flash_attn = FlashAttn::kOn;
         return true; }},
      {"k_q8_0", "store K as q8_0 (works without flash attention)", "-ctk q8_0",
       [&](RuntimeConfig& c) {
         if (rc.type_k == Precision::kQ8_0) return false;
         c.type_k = Precision::kQ8_0; return true; }},
      {"flash_attn_on", "turn flash attention on (no KQ matrix, no f16 KQ copy)", "-fa on",
       [&](RuntimeConfig& c) { if (rc.flash_attn) return false; c.flash_attn = FlashAttn::kOn; return true; }},
      {"ubatch_256", "use a smaller physical batch", "-ub 256",
       [&](RuntimeConfig& c) { if (rc.n_ubatch <= 256) return false; c.n_ubatch = 256; return true; }},
      {"ubatch_128", "use a smaller physical batch", "-ub 128",
       [&](RuntimeConfig& c) { if (rc.n_ubatch <= 128) return false; c.n_ubatch = 128; return true; }},
      {"parallel_1", "serve one sequence at a time", "-np 1",
       [&](RuntimeConfig& c) { if (rc.n_seq <= 1) return false; c.max_batch_size = 1; return true; }},
      {"kv_unified", "share one KV buffer between the sequences", "-kvu",
       [&](RuntimeConfig& c) { if (rc.n_seq <= 1 || rc.kv_unified) return false; c.kv_unified = true; return true; }},
      {"no_mmap", "read the weights into memory instead of mapping the file", "--no-mmap",
       [&](RuntimeConfig& c) { if (!rc.mmap) return false; c.mmap = false; return true; }},
      {"mmap", "map the model file instead of reading it", "--mmap",
       [&](RuntimeConfig& c) { if (rc.mmap) return false; c.mmap = true; return true; }},
      {"no_repack", "do not repack weights (the mapped file and the repacked copy are both resident)",
       "--no-repack",
       [&](RuntimeConfig& c) { if (!has_repack) return false; c.repack = false; return true; }},
      {"ctx_half", "halve the context", "-c " + std::to_string(rc.n_ctx / 2),
       [&](RuntimeConfig& c) { if (rc.n_ctx < 512) return false; c.n_ctx = rc.n_ctx / 2; return true; }},
      {"ctx_quarter", "quarter the context", "-c " + std::to_string(rc.n_ctx / 4),
       [&](RuntimeConfig& c) { if (rc.n_ctx < 1024) return false; c.n_ctx = rc.n_ctx / 4; return true; }},
      {"no_kv_offload", "keep the KV cache in host memory (saves VRAM, costs RAM and speed)", "-nkvo",
       [&](RuntimeConfig& c) {
         if (!d.peak_usage.gpu_bytes || c.no_kv_offload) return false;
         c.no_kv_offload = true; return true; }},
  };
  for (const Alternative& a : alts) {
    RuntimeConfig c = pinned;
    if (!a.apply(c)) continue;
    auto e = run(c);
    if (!e) continue;
    const std::int64_t saves = static_cast<std::int64_t>(base) - static_cast<std::int64_t>(all_peak(*e));
    if (saves <= 0) continue;
    r.optimization_suggestions.push_back(
        {a.id, a.text + ": peak " + mib(base) + " -> " + mib(all_peak(*e)), a.flags, saves});
  }
  std::stable_sort(r.optimization_suggestions.begin(), r.optimization_suggestions.end(),
                   [](const auto& x, const auto& y) { return x.saves_bytes > y.saves_bytes; });

  // The largest context that fits the given RAM (and VRAM): the peak grows monotonically with
  // n_ctx, so bisect over multiples of 256 (about 8 estimates).
  auto fits = [&](const DetailedMemoryRequirements& e) {
    if (cfg.available_ram && host_peak(e) > *cfg.available_ram) return false;
    if (cfg.available_vram && e.peak_usage.gpu_bytes.value_or(0) > *cfg.available_vram) return false;
    return true;
  };
  if (cfg.available_ram || cfg.available_vram) {
    std::uint32_t lo = 0, hi = std::max(m.n_ctx_train, rc.n_ctx) / 256;
    while (lo < hi) {
      const std::uint32_t mid = (lo + hi + 1) / 2;
      RuntimeConfig c = pinned;
      c.n_ctx = mid * 256;
      auto e = run(c);
      if (e && fits(*e)) lo = mid; else hi = mid - 1;
    }
    if (lo > 0 && lo * 256 != rc.n_ctx) {
      RuntimeConfig c = pinned;
      c.n_ctx = lo * 256;
      if (auto e = run(c)) {
        r.optimization_suggestions.push_back(
            {"max_ctx_fits", "the largest context that fits the available memory is " +
                                 std::to_string(lo * 256) + " cells (peak " + mib(all_peak(*e)) + ")",
             "-c " + std::to_string(lo * 256),
             static_cast<std::int64_t>(base) - static_cast<std::int64_t>(all_peak(*e))});
      }
    } else if (lo == 0) {
      d.warnings.push_back("even a 256-cell context does not fit the available memory");
    }
  }
  // The -ngl that fits the given VRAM (device peak grows with offloaded layers).
  if (cfg.available_vram && d.peak_usage.gpu_bytes && *d.peak_usage.gpu_bytes > *cfg.available_vram) {
    std::int32_t lo = -1, hi = static_cast<std::int32_t>(m.n_layer) + 1;
    while (lo < hi) {
      const std::int32_t mid = (lo + hi + 1) / 2;
      RuntimeConfig c = pinned;
      c.n_gpu_layers = mid;
      auto e = run(c);
      if (e && e->peak_usage.gpu_bytes.value_or(0) <= *cfg.available_vram) lo = mid; else hi = mid - 1;
    }
    if (lo >= 0) {
      RuntimeConfig c = pinned;
      c.n_gpu_layers = lo;
      if (auto e = run(c))
        r.optimization_suggestions.push_back(
            {"ngl_fits", "offload " + std::to_string(lo) + " of " + std::to_string(m.n_layer + 1) +
                             " layers to fit the GPU (device peak " +
                             mib(e->peak_usage.gpu_bytes.value_or(0)) + ")",
             "-ngl " + std::to_string(lo),
             static_cast<std::int64_t>(base) - static_cast<std::int64_t>(all_peak(*e))});
    }
  }
  return Ok{};
}

}  // namespace bitnet::detail
