// Resolves a MemoryAnalysisConfig against a model and a runtime profile: the settings as the runtime
// would use them (memory-model.md §5, §6, §8), echoed as ResolvedConfig.
#include <algorithm>
#include <string>
#include <vector>

#include "estimate/digest.h"
#include "estimate/estimate_internal.h"
#include "tables/quant_traits.h"

namespace bitnet::detail {
namespace {

Error invalid(std::string msg, std::string field, std::string hint) {
  return Error{Errc::kInvalidArgument, std::move(msg), kNoOffset, std::move(field), std::move(hint)};
}

}  // namespace

std::uint64_t max_n_head(const ModelStructureInfo& m) noexcept {
  std::uint64_t h = m.n_head;
  for (const auto& L : m.layers) h = std::max<std::uint64_t>(h, L.n_head);
  return h;
}

std::uint64_t max_n_embd_v_gqa(const ModelStructureInfo& m) noexcept {
  std::uint64_t v = 0;
  for (const auto& L : m.layers)
    if (L.kind == LayerKind::kAttention) v = std::max(v, L.n_embd_v_gqa);
  if (m.layers.empty()) v = std::uint64_t{m.n_head_kv} * m.head_dim_v;
  return v;
}

std::uint64_t n_ff_effective(const ModelStructureInfo& m) noexcept {
  // The widest FFN a block runs: its dense width (LayerInfo::n_ff, 0 for MoE-only blocks) plus, in
  // MoE blocks, the used experts' width (MUL_MAT_ID outputs are [n_ff_exp, n_expert_used, n_ub]).
  // The model-level feed_forward_length is not it: MoE architectures (qwen3moe) declare a dense
  // width that no MoE block uses. Without per-layer data, the model-level scalars.
  const std::uint64_t moe = m.n_expert > 0 && m.n_ff_exp > 0
                                ? std::uint64_t{m.n_ff_exp} * std::max(1u, m.n_expert_used)
                                : 0;
  if (m.layers.empty()) return std::max<std::uint64_t>(m.n_ff, moe);
  std::uint64_t ff = 0;
  for (const auto& L : m.layers) ff = std::max<std::uint64_t>(ff, L.n_ff + (L.is_moe ? moe : 0));
  return ff;
}

Result<Plan> resolve_plan(const ModelStructureInfo& m, const TensorDigest& digest,
                          const MemoryAnalysisConfig& cfg) {
  Plan p;
  p.m = &m;
  p.digest = &digest;
  p.simulate_compute = cfg.simulate_compute;
  const RuntimeConfig& rt = cfg.runtime;
  p.prof = find_runtime_profile(rt.runtime);
  if (p.prof == nullptr)
    return invalid("unknown runtime '" + rt.runtime + "'", "runtime",
                   "use llama.cpp, bitnet.cpp or native");
  const RuntimeProfile& prof = *p.prof;

  // Device: the analysis config's device if it is a GPU, else the runtime's.
  // (A list of GPUs alone, --device cuda:0,cuda:1 without `device` set, means its first GPU.)
  const Device dev = cfg.device.is_gpu()  ? cfg.device
                     : rt.device.is_gpu() || rt.devices.size() < 2 ? rt.device
                                                                     : rt.devices.front();
  p.gpu_build = dev.is_gpu();
  if (p.gpu_build && !prof.has_gpu_backend)
    return invalid("runtime '" + std::string(prof.name) + "' has no CUDA backend", "device",
                   "use --device cpu, or --runtime llama.cpp for a GPU estimate");
  // The GPUs of a split (--device cuda:0,cuda:1 / -ts): see RuntimeConfig::devices.
  std::vector<Device> gpus;
  std::vector<float> props;
  if (p.gpu_build) {
    const std::size_t n = std::max<std::size_t>({1, rt.devices.size(), rt.tensor_split.size()});
    if (rt.devices.size() > 1 && !rt.tensor_split.empty() && rt.tensor_split.size() != rt.devices.size())
      return invalid(std::to_string(rt.tensor_split.size()) + " -ts proportions for " +
                         std::to_string(rt.devices.size()) + " devices",
                     "tensor_split", "give one proportion per --device entry");
    for (std::size_t j = 0; j < n; ++j) {
      Device d = rt.devices.size() > 1 ? rt.devices[j] : Device{Device::Kind::kCuda, dev.index + static_cast<std::uint32_t>(j)};
      if (!d.is_gpu())
        return invalid("--device " + d.to_string() + " in a list of GPUs", "device",
                       "list only GPUs (cuda:N) to split layers over");
      if (std::find(gpus.begin(), gpus.end(), d) != gpus.end())
        return invalid("--device lists " + d.to_string() + " twice", "device", "list each GPU once");
      gpus.push_back(d);
    }
    float sum = 0.0f;
    for (float x : rt.tensor_split) {
      if (!(x >= 0.0f))
        return invalid("-ts proportions must be >= 0", "tensor_split", "e.g. -ts 3,1");
      sum += x;
    }
    props = rt.tensor_split;
    if (n > 1 && !(sum > 0.0f)) {
      // llama.cpp splits by each device's free memory when -ts is absent or all zero.
      props.assign(n, 1.0f);
      p.warnings.push_back("no -ts over " + std::to_string(n) +
                           " GPUs: assumed an equal split (llama.cpp splits by free memory)");
    }
  }
  p.gpu_dev = gpus.empty() ? dev.to_string() : gpus.front().to_string();
  for (std::size_t j = 0; j < gpus.size(); ++j) {
    const std::string& name = j < cfg.gpu_names.size() && !cfg.gpu_names[j].empty() ? cfg.gpu_names[j]
                                                                                   : cfg.gpu_name;
    p.gpu_devs.push_back(gpus[j].to_string());
    p.gpu_rows.push_back(&gpu_overheads(name));
  }
  if (p.gpu_build) p.gpu = p.gpu_rows.front();

  if (cfg.cpu_isa.empty()) {
    p.isa = prof.default_isa;
  } else {
    auto isa = parse_isa(cfg.cpu_isa);
    if (!isa) return invalid("unknown CPU features '" + cfg.cpu_isa + "'", "cpu_isa",
                             "use avx2, avx512, avx512+amx or neon");
    p.isa = *isa;
  }

  // Flash attention (memory-model.md §6 "-fa auto"): auto -> on where the backend has kernels for
  // the head dims (always on the CPU), unless the profile has no auto mode (2024 fork: off).
  bool fa = false;
  switch (rt.flash_attn) {
    case FlashAttn::kOn: fa = true; break;
    case FlashAttn::kOff: fa = false; break;
    case FlashAttn::kAuto:
      fa = prof.fa_auto_on &&
           (!p.gpu_build || cuda_fa_supports_head_dims(m.head_dim_k, m.head_dim_v));
      break;
  }
  if (fa && !prof.fa_supported)
    return invalid("runtime '" + std::string(prof.name) + "' has no flash attention", "flash_attn",
                   "use -fa off");
  const Precision tk = rt.effective_type_k(), tv = rt.effective_type_v();
  // llama-context.cpp: "quantized V cache was requested, but this requires Flash Attention".
  if (precision_is_quantized(tv) && !fa)
    return invalid(std::string("quantized V cache (") + std::string(precision_name(tv)) +
                       ") was requested, but this requires Flash Attention" +
                       (rt.flash_attn == FlashAttn::kAuto ? " (-fa auto resolved to off)" : ""),
                   "type_v", "add -fa on, or use -ctv f16");

  // Context (memory-model.md §5, §8).
  std::uint64_t n_ctx = rt.n_ctx;
  if (n_ctx == 0 && rt.max_sequence_length > 0)
    n_ctx = std::uint64_t{rt.max_sequence_length} * std::max(1u, rt.max_batch_size);
  if (n_ctx == 0) n_ctx = m.n_ctx_train;
  if (n_ctx == 0)
    return invalid("the model declares no training context and no context size was given", "n_ctx",
                   "pass -c N");
  const std::uint32_t n_seq = std::max(1u, rt.max_batch_size);
  std::uint64_t kv_size = 0;
  std::uint32_t n_stream = 1;
  bool unified = rt.kv_unified;
  switch (prof.ctx_pad) {
    case CtxPadRule::kPad256:
      n_ctx = pad(B(n_ctx), 256).value();
      n_stream = unified ? 1 : n_seq;
      kv_size = unified ? n_ctx : pad(B(n_ctx / n_seq), 256).value();
      break;
    case CtxPadRule::kPadFa256Else32:  // one cache shared by all sequences (2024 fork)
      n_ctx = pad(B(n_ctx), fa ? 256 : 32).value();
      n_stream = 1;
      unified = true;
      kv_size = n_ctx;
      break;
  }
  if (n_ctx > 0xFFFFFFFFull) return invalid("context size too large", "n_ctx", "use a smaller -c");
  p.n_stream = n_stream;
  p.kv_size = kv_size;

  // Batches (llama-context.cpp ctor): causal models clamp n_batch to n_ctx.
  const std::uint64_t n_batch = std::min<std::uint64_t>(n_ctx, std::max(1u, rt.n_batch));
  const std::uint64_t n_ubatch = std::min<std::uint64_t>(n_batch, std::max(1u, rt.n_ubatch));
  p.n_tokens = n_ubatch;
  std::uint64_t outputs_max = rt.n_outputs_max;
  if (prof.logit_rows == LogitRows::kOutputsMax) {
    if (outputs_max == 0) outputs_max = n_batch;
    p.n_outputs = std::min(p.n_tokens, outputs_max);
  } else {
    p.n_outputs = outputs_max == 0 ? p.n_tokens : std::min(p.n_tokens, outputs_max);
  }

  // SWA cells (memory-model.md §5).
  if (m.sliding_window && *m.sliding_window > 0) {
    const std::uint64_t n_swa = *m.sliding_window;
    if (prof.swa == SwaRule::kCurrent) {
      p.swa_size = pad(min(B(kv_size), B(n_swa) * B(unified ? n_seq : 1) + B(n_ubatch)), 256).value();
    } else {
      const std::uint64_t align = fa ? 256 : 32;
      p.swa_size = std::min<std::uint64_t>(n_ctx, pad(B(n_swa) * B(n_seq) + B(n_batch), align).value());
    }
  } else {
    p.swa_size = kv_size;
  }

  // GPU layers (memory-model.md §4): n_layer + 1 layers, the output being layer n_layer.
  std::int64_t ngl = 0;
  if (p.gpu_build) {
    ngl = rt.n_gpu_layers.value_or(-1);
    if (ngl < 0 || ngl > static_cast<std::int64_t>(m.n_layer) + 1) ngl = m.n_layer + 1;
    p.i_gpu_start = static_cast<std::uint32_t>(std::max<std::int64_t>(m.n_layer + 1 - ngl, 0));
  } else {
    if (rt.n_gpu_layers.value_or(0) > 0)
      p.warnings.push_back("-ngl " + std::to_string(*rt.n_gpu_layers) +
                           " ignored: the device is the CPU");
    p.i_gpu_start = m.n_layer + 1;
  }
  // Layer -> GPU (llama-model.cpp load_tensors): cumulative proportions normalised in float; layer
  // il goes to upper_bound(splits, (il - i_gpu_start) / act_gpu_layers).
  if (p.gpu_build) {
    std::vector<float> splits(p.gpu_devs.size(), 1.0f);
    if (splits.size() > 1) {
      float split_sum = 0.0f;
      for (std::size_t j = 0; j < splits.size(); ++j) {
        split_sum += props[j];
        splits[j] = split_sum;
      }
      for (float& x : splits) x /= split_sum;
    }
    const std::uint32_t act = m.n_layer + 1 - p.i_gpu_start;
    p.layer_gpu.assign(std::size_t{m.n_layer} + 1, -1);
    for (std::uint32_t il = p.i_gpu_start; il <= m.n_layer; ++il) {
      const float v = static_cast<float>(il - p.i_gpu_start) / static_cast<float>(act);
      const auto j = std::upper_bound(splits.begin(), splits.end(), v) - splits.begin();
      p.layer_gpu[il] = static_cast<std::int16_t>(std::min<std::ptrdiff_t>(j, static_cast<std::ptrdiff_t>(splits.size()) - 1));
    }
    // The logits run where the output layer is; a host-resident head is op-offloaded to the first
    // GPU (ggml-backend.cpp: the highest-priority backend that supports the op).
    p.out_gpu = p.layer_gpu[m.n_layer] >= 0 ? static_cast<std::uint32_t>(p.layer_gpu[m.n_layer]) : 0;
  }
  p.kv_offload = !rt.no_kv_offload;
  p.repack_enabled = rt.repack;
  p.n_threads = rt.n_threads > 0 ? rt.n_threads : prof.default_threads;
  if (prof.in_process) p.measured_base = cfg.process_base_bytes;

  ResolvedConfig& rc = p.rc;
  rc.device = dev.to_string();
  if (p.gpu_devs.size() > 1) {
    rc.device.clear();
    for (const std::string& d : p.gpu_devs) rc.device += (rc.device.empty() ? "" : ",") + d;
    rc.tensor_split = props;
  }
  rc.runtime = std::string(prof.name);
  rc.n_ctx = static_cast<std::uint32_t>(n_ctx);
  rc.n_ctx_seq = static_cast<std::uint32_t>(kv_size);
  rc.n_batch = static_cast<std::uint32_t>(n_batch);
  rc.n_ubatch = static_cast<std::uint32_t>(n_ubatch);
  rc.n_seq = n_seq;
  rc.kv_unified = unified;
  rc.type_k = tk;
  rc.type_v = tv;
  rc.flash_attn = fa;
  rc.mmap = rt.mmap;
  rc.n_gpu_layers = static_cast<std::int32_t>(ngl);
  rc.n_threads = p.n_threads;

  // Degraded inputs: say which terms are uncertain (never a silent zero).
  if (!m.architecture_known)
    p.warnings.push_back("architecture '" + m.architecture +
                         "' is not in the architecture table: hyperparameters were derived from "
                         "tensor shapes, so the KV cache and compute buffers are derived estimates");
  if (m.hparams_basis != Basis::kExact && m.architecture_known)
    p.warnings.push_back("some hyperparameters were derived, not read: KV cache and compute buffers "
                         "are derived estimates");
  const std::uint64_t n_unknown = digest.n_unknown, n_bitnet = digest.n_bitnet;
  if (n_unknown > 0)
    p.warnings.push_back(std::to_string(n_unknown) +
                         " tensor(s) of unknown type: their bytes come from their file spans; "
                         "repacking, GPU support and the work buffer for them are unknown");
  if (n_bitnet > 0 && prof.cpu_work_buffer && !prof.bitnet_kernels)
    p.warnings.push_back("runtime '" + std::string(prof.name) + "' has no kernels for BitNet's "
                         "I2_S/TL1/TL2 tensors (upstream refuses the file): buffers are sized as if it "
                         "loaded them; use --runtime bitnet.cpp for BitNet's own runtime");
  if (m.layers.size() != m.n_layer)
    p.warnings.push_back("per-layer hyperparameters missing: every layer is assumed to have the "
                         "model-level shape");
  return p;
}

}  // namespace bitnet::detail
