// Hyperparameter keys and architecture traits. Key suffixes follow llama.cpp src/llama-arch.cpp
// (LLM_KV_NAMES, "%s.block_count"); traits follow src/llama-model.cpp (load_hparams,
// load_tensors) and src/llama-hparams.cpp.
#include "tables/arch_traits.h"

#include <array>

namespace bitnet::detail {
namespace {

// clang-format off
constexpr HpKey kHpKeys[] = {
  {Hp::kContextLength,                 "context_length",                     Need::kOptional,  Shape::kScalar},
  {Hp::kEmbeddingLength,               "embedding_length",                   Need::kAlways,    Shape::kScalar},
  {Hp::kBlockCount,                    "block_count",                        Need::kAlways,    Shape::kScalar},
  {Hp::kFeedForwardLength,             "feed_forward_length",                Need::kOptional,  Shape::kScalarOrPerLayer},
  {Hp::kHeadCount,                     "attention.head_count",               Need::kAttention, Shape::kScalarOrPerLayer},
  {Hp::kHeadCountKv,                   "attention.head_count_kv",            Need::kOptional,  Shape::kScalarOrPerLayer},
  {Hp::kKeyLength,                     "attention.key_length",               Need::kOptional,  Shape::kScalar},
  {Hp::kValueLength,                   "attention.value_length",             Need::kOptional,  Shape::kScalar},
  {Hp::kVocabSize,                     "vocab_size",                         Need::kOptional,  Shape::kScalar},
  {Hp::kExpertCount,                   "expert_count",                       Need::kOptional,  Shape::kScalar},
  {Hp::kExpertUsedCount,               "expert_used_count",                  Need::kOptional,  Shape::kScalar},
  {Hp::kExpertFeedForwardLength,       "expert_feed_forward_length",         Need::kOptional,  Shape::kScalar},
  {Hp::kExpertSharedFeedForwardLength, "expert_shared_feed_forward_length",  Need::kOptional,  Shape::kScalar},
  {Hp::kExpertSharedCount,             "expert_shared_count",                Need::kOptional,  Shape::kScalar},
  {Hp::kLeadingDenseBlockCount,        "leading_dense_block_count",          Need::kOptional,  Shape::kScalar},
  {Hp::kSlidingWindow,                 "attention.sliding_window",           Need::kOptional,  Shape::kScalar},
  {Hp::kSlidingWindowPattern,          "attention.sliding_window_pattern",   Need::kOptional,  Shape::kScalarOrPerLayer},
  {Hp::kRopeDimensionCount,            "rope.dimension_count",               Need::kMla,       Shape::kScalar},
  {Hp::kKvLoraRank,                    "attention.kv_lora_rank",             Need::kMla,       Shape::kScalar},
  {Hp::kQLoraRank,                     "attention.q_lora_rank",              Need::kOptional,  Shape::kScalar},
  {Hp::kKeyLengthMla,                  "attention.key_length_mla",           Need::kOptional,  Shape::kScalar},
  {Hp::kValueLengthMla,                "attention.value_length_mla",         Need::kOptional,  Shape::kScalar},
  {Hp::kSsmConvKernel,                 "ssm.conv_kernel",                    Need::kRecurrent, Shape::kScalar},
  {Hp::kSsmInnerSize,                  "ssm.inner_size",                     Need::kRecurrent, Shape::kScalar},
  {Hp::kSsmStateSize,                  "ssm.state_size",                     Need::kRecurrent, Shape::kScalar},
  {Hp::kSsmTimeStepRank,               "ssm.time_step_rank",                 Need::kOptional,  Shape::kScalar},
  {Hp::kSsmGroupCount,                 "ssm.group_count",                    Need::kOptional,  Shape::kScalar},
};
static_assert(std::size(kHpKeys) == static_cast<std::size_t>(Hp::kCount), "one row per Hp");

// Older converters' spellings of a key, read when the current one is absent (with a warning). No
// row yet: add one only with the converter version that wrote it.
constexpr std::array<HpAlias, 0> kHpAliases{};

using A = AttnKind;
using M = LayerMix;
using S = SsmKind;
using F = FfnKind;
using W = SwaRule;
using T = TypeMapHint;
constexpr ArchTraits kArchTraits[] = {
  // name            attention  layers                 ssm         ffn          swa                 period tied   moe    shgate bias   qknorm fusqkv subnrm scales postnm map hint
  {"llama",          A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     false, true,  false, false, false, false, false, false, false, T::kNone},
  {"qwen2",          A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     true,  false, false, true,  false, false, false, false, false, T::kNone},
  {"qwen3",          A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     true,  false, false, false, true,  false, false, false, false, T::kNone},
  {"qwen2moe",       A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     false, true,  true,  true,  false, false, false, false, false, T::kNone},
  {"qwen3moe",       A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     false, true,  false, false, true,  false, false, false, false, T::kNone},
  {"gemma2",         A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kPeriodDefault,  2,     true,  false, false, false, false, false, false, false, true,  T::kNone},
  {"gemma3",         A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kPeriodDefault,  6,     true,  false, false, false, true,  false, false, false, true,  T::kNone},
  // phi3: llama.cpp disables Phi SWA ("Phi SWA is currently disabled"), so the keys are ignored.
  {"phi3",           A::kGqa,   M::kAttention,         S::kNone,   F::kFusedUp, W::kNone,           0,     false, false, false, false, false, true,  false, false, false, T::kNone},
  // Upstream bitnet (src/models/bitnet.cpp): TQ1_0/TQ2_0, optional .scale tensors, tied head.
  {"bitnet",         A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     true,  false, false, false, false, false, true,  true,  false, T::kUpstream},
  // BitNet forks only (utils/convert-hf-to-gguf-bitnet.py, convert-ms-to-gguf-bitnet.py).
  {"bitnet-b1.58",   A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     true,  false, false, false, false, false, true,  false, false, T::kBitnet},
  {"bitnet-25",      A::kGqa,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     true,  false, false, false, false, false, true,  false, false, T::kBitnet},
  // MLA: K-only cache of kv_lora_rank + n_rot per cell with one KV head.
  {"deepseek2",      A::kMla,   M::kAttention,         S::kNone,   F::kGated,   W::kNone,           0,     false, true,  false, false, false, false, false, false, false, T::kNone},
  {"mamba",          A::kNone,  M::kRecurrent,         S::kMamba1, F::kNone,    W::kNone,           0,     true,  false, false, false, false, false, false, false, false, T::kNone},
  {"mamba2",         A::kNone,  M::kRecurrent,         S::kMamba2, F::kNone,    W::kNone,           0,     true,  false, false, false, false, false, false, false, false, T::kNone},
  // Hybrid: Mamba2 layers where attention.head_count_kv[il] == 0, GQA attention elsewhere.
  {"granitehybrid",  A::kGqa,   M::kHybridByKvHeads,   S::kMamba2, F::kGated,   W::kNone,           0,     true,  true,  false, false, false, false, false, false, false, T::kNone},
};
// clang-format on

constexpr ArchTraits kGenericTraits = {
  "", A::kGqa, M::kAttention, S::kNone, F::kGated, W::kNone, 0,
  false, true, false, false, false, false, false, false, false, T::kNone};

constexpr bool keys_in_enum_order() {
  for (std::size_t i = 0; i < std::size(kHpKeys); ++i)
    if (static_cast<std::size_t>(kHpKeys[i].id) != i) return false;
  return true;
}
static_assert(keys_in_enum_order(), "kHpKeys rows are indexed by Hp");

}  // namespace

const ArchTraits& generic_arch_traits() noexcept { return kGenericTraits; }

std::span<const HpKey> hparam_keys() noexcept { return kHpKeys; }

const HpKey& hparam_key(Hp id) noexcept { return kHpKeys[static_cast<std::size_t>(id)]; }

std::span<const HpAlias> hparam_aliases() noexcept { return kHpAliases; }

std::span<const ArchTraits> all_arch_traits() noexcept { return kArchTraits; }

const ArchTraits* find_arch(std::string_view name) noexcept {
  for (const ArchTraits& a : kArchTraits)
    if (a.name == name) return &a;
  return nullptr;
}

std::string hparam_key_name(std::string_view arch, Hp id) {
  std::string k(arch);
  k += '.';
  k += hparam_key(id).suffix;
  return k;
}

bool hparam_required(const HpKey& key, const ArchTraits& arch) noexcept {
  switch (key.need) {
    case Need::kAlways: return true;
    case Need::kAttention: return arch.attention != AttnKind::kNone;
    case Need::kMla: return arch.attention == AttnKind::kMla;
    case Need::kRecurrent: return arch.ssm != SsmKind::kNone;
    case Need::kOptional: return false;
  }
  return false;
}

}  // namespace bitnet::detail
