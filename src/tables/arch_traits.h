// Architecture knowledge as data (style.md §5): the hyperparameter key table and the
// architecture-traits table. Predicates such as "recurrent", "MLA" or the default SWA period are
// columns here; the analysis and the synthesizer read columns, never architecture names.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/types.h"

namespace bitnet::detail {

// Hyperparameters read from `general.architecture + "." + suffix`.
enum class Hp : std::uint8_t {
  kContextLength,
  kEmbeddingLength,
  kBlockCount,
  kFeedForwardLength,
  kHeadCount,
  kHeadCountKv,
  kKeyLength,
  kValueLength,
  kVocabSize,
  kExpertCount,
  kExpertUsedCount,
  kExpertFeedForwardLength,
  kExpertSharedFeedForwardLength,
  kExpertSharedCount,
  kLeadingDenseBlockCount,
  kSlidingWindow,
  kSlidingWindowPattern,
  kRopeDimensionCount,
  kKvLoraRank,
  kQLoraRank,
  kKeyLengthMla,
  kValueLengthMla,
  kSsmConvKernel,
  kSsmInnerSize,
  kSsmStateSize,
  kSsmTimeStepRank,
  kSsmGroupCount,
  kCount,
};

// When a key must be present. Which of these apply is decided by the architecture's columns.
enum class Need : std::uint8_t {
  kAlways,     // every architecture in the table
  kAttention,  // architectures with attention layers
  kMla,        // MLA attention (deepseek2)
  kRecurrent,  // architectures with recurrent (SSM) layers
  kOptional,
};
enum class Shape : std::uint8_t { kScalar, kScalarOrPerLayer };

struct HpKey {
  Hp id;
  std::string_view suffix;  // the key is general.architecture + "." + suffix
  Need need;
  Shape shape;
};

std::span<const HpKey> hparam_keys() noexcept;
const HpKey& hparam_key(Hp id) noexcept;

// Legacy or alternative spellings; reading one adds a warning.
struct HpAlias {
  Hp id;
  std::string_view suffix;
  std::string_view note;
};
std::span<const HpAlias> hparam_aliases() noexcept;

enum class AttnKind : std::uint8_t { kGqa, kMla, kNone };
// How layers are classified: all attention, all recurrent, or per layer from metadata
// (head_count_kv[il] == 0 -> recurrent).
enum class LayerMix : std::uint8_t { kAttention, kRecurrent, kHybridByKvHeads };
enum class SsmKind : std::uint8_t { kNone, kMamba1, kMamba2 };
enum class FfnKind : std::uint8_t {
  kGated,       // ffn_gate, ffn_up [n_embd, n_ff], ffn_down [n_ff, n_embd]
  kFusedUp,     // phi3: ffn_up [n_embd, 2*n_ff] (gate and up fused), ffn_down
  kNone,        // no FFN (mamba)
};
// Which type map a file of this architecture most likely uses when several maps fit its spans
// with different sizes (memory-model.md §2.2).
enum class TypeMapHint : std::uint8_t { kNone, kUpstream, kBitnet };
// How sliding-window layers are found.
enum class SwaRule : std::uint8_t {
  kNone,           // the runtime ignores sliding-window keys for this architecture
  kPeriodDefault,  // sliding_window_pattern (scalar period or per-layer array), else swa_period
};

struct ArchTraits {
  std::string_view name;     // general.architecture
  AttnKind attention;
  LayerMix layers;
  SsmKind ssm;               // recurrent layers' state and tensors
  FfnKind ffn;
  SwaRule swa;
  std::uint32_t swa_period;  // default: layer il is SWA iff il % p < p - 1 (gemma3: 6, gemma2: 2)
  bool tied_default;         // the converter usually writes no output.weight
  bool moe;                  // may have routed experts (expert_count)
  bool shared_expert_gate;   // qwen2moe: ffn_gate_inp_shexp
  bool qkv_bias;             // attn_q/k/v biases (qwen2)
  bool qk_norm;              // attn_q_norm / attn_k_norm (qwen3, gemma3)
  bool fused_qkv;            // attn_qkv (phi3)
  bool sub_norms;            // attn_sub_norm / ffn_sub_norm (BitNet)
  bool scale_tensors;        // f32[1] blk.N.<proj>.scale (upstream bitnet)
  bool post_norms;           // post_attention_norm / post_ffw_norm (gemma2/3)
  TypeMapHint type_map_hint;
};

std::span<const ArchTraits> all_arch_traits() noexcept;
// nullptr for an architecture not in the table (analysed as a generic decoder).
const ArchTraits* find_arch(std::string_view name) noexcept;
// The traits an architecture not in the table is analysed (and synthesized) with: a llama-style
// GQA decoder with a gated FFN, hyperparameters derived from tensor shapes where keys are missing.
const ArchTraits& generic_arch_traits() noexcept;

// The full key of a hyperparameter for an architecture: arch + "." + suffix. Never split keys at
// their first dot: "bitnet-b1.58.block_count" belongs to "bitnet-b1.58".
std::string hparam_key_name(std::string_view arch, Hp id);

// Whether a key is required for an architecture with these traits.
bool hparam_required(const HpKey& key, const ArchTraits& arch) noexcept;

// Default SWA rule for layer il with period p (llama.cpp llama_hparams::set_swa_pattern).
constexpr bool swa_layer_by_period(std::uint32_t il, std::uint32_t period) noexcept {
  return period != 0 && il % period < period - 1;
}

// Recurrent state widths in f32 elements per sequence (llama.cpp llama-hparams.cpp
// n_embd_r / n_embd_s for Mamba and Mamba2).
struct SsmDims {
  std::uint64_t d_conv = 0, d_inner = 0, d_state = 0, n_group = 0;
};
constexpr std::uint64_t ssm_n_embd_r(const SsmDims& d) noexcept {
  return (d.d_conv > 0 ? d.d_conv - 1 : 0) * (d.d_inner + 2 * d.n_group * d.d_state);
}
constexpr std::uint64_t ssm_n_embd_s(const SsmDims& d) noexcept { return d.d_state * d.d_inner; }

}  // namespace bitnet::detail
