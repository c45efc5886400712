// Model analysis: metadata + tensor infos -> ModelStructureInfo. Architecture knowledge comes from
// tables/arch_traits (keys, columns) and tables/tensor_roles (layer classes, ops); type ids from the
// span-based type-map resolution. Nothing here tests an architecture's name.
#include "analysis/model_analysis.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "analysis/type_resolution.h"
#include "core/checked.h"
#include "tables/arch_traits.h"
#include "tables/quant_traits.h"
#include "tables/tensor_roles.h"

namespace bitnet::detail {
namespace {

// Bounds on hostile counts (far above any real model).
constexpr std::uint64_t kMaxLayers = 4096;
constexpr std::uint64_t kMaxWidth = std::uint64_t{1} << 24;  // n_embd, n_ff, head dims, ranks
constexpr std::uint64_t kMaxHeads = std::uint64_t{1} << 16;
constexpr std::uint64_t kMaxVocab = std::uint64_t{1} << 28;

std::uint64_t bound_of(Hp id) {
  switch (id) {
    case Hp::kBlockCount: return kMaxLayers;
    case Hp::kHeadCount:
    case Hp::kHeadCountKv:
    case Hp::kExpertCount:
    case Hp::kExpertUsedCount:
    case Hp::kExpertSharedCount:
    case Hp::kSsmGroupCount:
      return kMaxHeads;
    case Hp::kVocabSize: return kMaxVocab;
    case Hp::kContextLength:
    case Hp::kSlidingWindow:
      return std::numeric_limits<std::uint32_t>::max();
    default: return kMaxWidth;
  }
}

// Reads `arch.suffix` keys with the table's shape and bounds.
class KeyReader {
 public:
  KeyReader(const GgufFile& f, std::string arch, std::vector<std::string>& warnings)
      : f_(f), arch_(std::move(arch)), warnings_(warnings) {}

  const GgufKv* find(Hp id) {
    const std::string key = hparam_key_name(arch_, id);
    if (const GgufKv* kv = f_.find(key)) return kv;
    for (const HpAlias& a : hparam_aliases()) {
      if (a.id != id) continue;
      const std::string alias = arch_ + "." + std::string(a.suffix);
      if (const GgufKv* kv = f_.find(alias)) {
        warnings_.push_back("read " + alias + " for the missing " + key + " (" + std::string(a.note) + ")");
        return kv;
      }
    }
    return nullptr;
  }

  // A scalar, or nullopt if absent.
  Result<std::optional<std::uint64_t>> scalar(Hp id) {
    const GgufKv* kv = find(id);
    if (kv == nullptr) return std::optional<std::uint64_t>{};
    if (kv->value.type == GgufType::kArray)
      return Error{Errc::kTypeMismatch, "expected a single integer, found an array", kv->value.offset,
                   std::string(kv->key), "re-convert the model with a current converter"};
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t v, kv->value.as_u64(kv->key));
    BITNET_TRY(check_bound(*kv, id, v));
    return std::optional<std::uint64_t>{v};
  }

  Result<std::uint64_t> required(Hp id, std::string_view why) {
    BITNET_ASSIGN_OR_RETURN(const std::optional<std::uint64_t> v, scalar(id));
    if (!v) return missing(id, why);
    return *v;
  }

  // A scalar broadcast to n_layer entries, an array of exactly n_layer entries, or nullopt.
  Result<std::optional<std::vector<std::uint64_t>>> per_layer(Hp id, std::uint64_t n_layer) {
    const GgufKv* kv = find(id);
    if (kv == nullptr) return std::optional<std::vector<std::uint64_t>>{};
    if (kv->value.type != GgufType::kArray) {
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t v, kv->value.as_u64(kv->key));
      BITNET_TRY(check_bound(*kv, id, v));
      return std::optional<std::vector<std::uint64_t>>{std::vector<std::uint64_t>(n_layer, v)};
    }
    if (hparam_key(id).shape != Shape::kScalarOrPerLayer)
      return Error{Errc::kTypeMismatch, "expected a single integer, found an array", kv->value.offset,
                   std::string(kv->key), "re-convert the model with a current converter"};
    if (kv->value.count != n_layer)
      return Error{Errc::kMalformed,
                   "per-layer array has " + std::to_string(kv->value.count) + " entries, but block_count is " +
                       std::to_string(n_layer),
                   kv->value.offset, std::string(kv->key),
                   "the file is inconsistent; re-convert it (one entry per block is required)"};
    BITNET_ASSIGN_OR_RETURN(std::vector<std::uint64_t> v, f_.int_array(*kv));
    for (std::uint64_t x : v) BITNET_TRY(check_bound(*kv, id, x));
    return std::optional<std::vector<std::uint64_t>>{std::move(v)};
  }

  Error missing(Hp id, std::string_view why) const {
    const std::string key = hparam_key_name(arch_, id);
    return Error{Errc::kMissingKey, "required key " + key + " is missing (" + std::string(why) + ")", kNoOffset,
                 key,
                 "the file lacks metadata llama.cpp needs for '" + arch_ +
                     "'; re-convert the model with a current converter"};
  }

 private:
  Status check_bound(const GgufKv& kv, Hp id, std::uint64_t v) const {
    if (v > bound_of(id))
      return Error{Errc::kMalformed, "value " + std::to_string(v) + " is out of range (at most " +
                                         std::to_string(bound_of(id)) + ")",
                   kv.value.offset, std::string(kv.key), "the file is corrupt"};
    return Ok{};
  }

  const GgufFile& f_;
  std::string arch_;
  std::vector<std::string>& warnings_;
};

std::uint32_t u32(std::uint64_t v) { return static_cast<std::uint32_t>(v); }

// Tensors of one block, found by role base name.
struct BlockTensors {
  const TensorInfo* by_base(std::string_view base) const {
    for (const TensorInfo* t : tensors)
      if (classify_tensor_name(t->name).base == base) return t;
    return nullptr;
  }
  std::vector<const TensorInfo*> tensors;
};

// The C++ runtime llama.cpp is built with on Linux x86-64 and AArch64 (memory-model.md §7):
// libstdc++'s std::string holds up to 15 bytes in place; glibc malloc gives a request of n bytes a
// chunk of max(32, round_up(n + 8, 16)) bytes (8 bytes of size header, 16-byte alignment).
constexpr std::size_t kSsoCapacity = 15;
constexpr std::uint64_t malloc_chunk_bytes(std::uint64_t n) noexcept {
  const std::uint64_t c = (n + 8 + 15) & ~std::uint64_t{15};
  return c < 32 ? 32 : c;
}
static_assert(malloc_chunk_bytes(17) == 32 && malloc_chunk_bytes(25) == 48 && malloc_chunk_bytes(24) == 32);

TokenizerInfo read_tokenizer(const GgufFile& f) {
  TokenizerInfo tok;
  if (auto m = f.get_string("tokenizer.ggml.model")) tok.model = std::string(*m);
  if (const GgufKv* kv = f.find("tokenizer.ggml.tokens"); kv != nullptr && kv->value.type == GgufType::kArray) {
    tok.n_tokens = kv->value.count;
    tok.tokens_bytes = kv->value.data_bytes;  // as stored: 8-byte length prefixes + string bytes
    // Every copy of a token the runtime keeps as a std::string puts a string longer than the
    // small-string buffer on the heap, in a malloc chunk of its own.
    const Status walked = f.for_each_string(*kv, [&](std::string_view s) {
      if (s.size() <= kSsoCapacity) return;
      ++tok.n_long_tokens;
      tok.long_token_heap_bytes += malloc_chunk_bytes(s.size() + 1);
    });
    if (!walked) tok.n_long_tokens = tok.long_token_heap_bytes = 0;  // parse checked it already
  }
  if (const GgufKv* kv = f.find("tokenizer.ggml.merges"); kv != nullptr && kv->value.type == GgufType::kArray) {
    tok.n_merges = kv->value.count;
    tok.merges_bytes = kv->value.data_bytes;
  }
  tok.has_scores = f.find("tokenizer.ggml.scores") != nullptr;
  return tok;
}

}  // namespace

Result<ModelStructureInfo> analyse_gguf(const GgufFile& f, const AnalysisOptions& opts) {
  ModelStructureInfo m;
  m.path = opts.path;
  m.format = "gguf";
  m.gguf_version = f.version;
  m.header_bytes = f.data_offset;
  m.alignment = f.alignment;
  m.header_only = f.header_only;

  // Architecture: the value of general.architecture, never a key's text before its first dot.
  const GgufKv* arch_kv = f.find("general.architecture");
  if (arch_kv == nullptr)
    return Error{Errc::kMissingKey, "required key general.architecture is missing", kNoOffset,
                 "general.architecture", "the file is not a llama.cpp model GGUF (or its metadata is damaged)"};
  BITNET_ASSIGN_OR_RETURN(const std::string_view arch_sv, f.get_string("general.architecture"));
  m.architecture = std::string(arch_sv);
  if (m.architecture.empty())
    return Error{Errc::kMalformed, "general.architecture is empty", arch_kv->value.offset, "general.architecture",
                 "the file's metadata is damaged"};
  const ArchTraits* known = find_arch(m.architecture);
  const ArchTraits& traits = known != nullptr ? *known : generic_arch_traits();
  m.architecture_known = known != nullptr;
  m.hparams_basis = known != nullptr ? Basis::kExact : Basis::kDerived;
  if (known == nullptr)
    m.warnings.push_back("architecture '" + m.architecture +
                         "' is not in the table; analysed as a generic decoder from its tensor shapes");

  // Types and sizes.
  BITNET_ASSIGN_OR_RETURN(TypeResolution tr, resolve_types(f, opts.type_map));
  m.type_map = tr.map;
  m.type_map_reason = tr.reason;
  for (std::string& w : tr.warnings) m.warnings.push_back(std::move(w));
  if (f.header_only) {
    BITNET_ASSIGN_OR_RETURN(m.file_bytes, checked_add(f.data_offset, tr.data_end, "file size"));
  } else {
    m.file_bytes = f.buffer_bytes;
  }

  // Tensors.
  m.tensors.reserve(f.tensors.size());
  std::int64_t max_block = -1;
  for (std::size_t i = 0; i < f.tensors.size(); ++i) {
    const GgufTensorInfo& g = f.tensors[i];
    const ResolvedTensor& r = tr.tensors[i];
    TensorInfo t;
    t.name = std::string(g.name);
    t.type_id = g.type_id;
    t.type = r.type;
    t.n_dims = g.n_dims;
    t.ne = g.ne;
    t.offset = g.offset;
    BITNET_ASSIGN_OR_RETURN(t.n_elements, checked_product(g.ne));
    t.nbytes = r.nbytes;
    t.span = f.header_only ? 0 : r.span;
    t.size_basis = r.size_basis;
    const TensorPlacement p = tensor_placement(t.name, t.n_dims);
    t.layer_class = p.layer_class;
    t.layer = p.layer;
    t.op = p.op;
    max_block = std::max<std::int64_t>(max_block, t.layer);
    BITNET_ASSIGN_OR_RETURN(m.parameter_count, checked_add(m.parameter_count, t.n_elements, "parameter count"));
    BITNET_ASSIGN_OR_RETURN(m.tensor_bytes, checked_add(m.tensor_bytes, t.nbytes, "tensor bytes"));
    TensorTypeStats& s = m.tensor_types[std::string(quantization_type_name(t.type))];
    ++s.count;
    s.parameters += t.n_elements;
    s.bytes += t.nbytes;
    m.tensors.push_back(std::move(t));
  }
  const TensorInfo* token_embd = m.find_tensor("token_embd.weight");
  m.tied_output = m.find_tensor("output.weight") == nullptr;

  // Dominant weight type by parameters among 2-D+ tensors.
  {
    std::map<QuantizationType, std::uint64_t> params;
    for (const TensorInfo& t : m.tensors)
      if (t.n_dims >= 2) params[t.type] += t.n_elements;
    std::uint64_t best = 0;
    for (const auto& [type, n] : params)
      if (n > best) {
        best = n;
        m.quantization_type = type;
      }
    if (m.parameter_count > 0)
      m.bits_per_weight = 8.0 * static_cast<double>(m.tensor_bytes) / static_cast<double>(m.parameter_count);
  }

  m.tokenizer = read_tokenizer(f);

  // Hyperparameters.
  KeyReader keys(f, m.architecture, m.warnings);
  if (known != nullptr) {
    for (const HpKey& k : hparam_keys())
      if (hparam_required(k, traits) && keys.find(k.id) == nullptr)
        return keys.missing(k.id, "llama.cpp requires it for this architecture");
  }
  auto derived = [&](std::string what) {
    m.hparams_basis = Basis::kDerived;
    m.warnings.push_back(std::move(what));
  };

  // Layers and width.
  BITNET_ASSIGN_OR_RETURN(const std::optional<std::uint64_t> block_count, keys.scalar(Hp::kBlockCount));
  std::uint64_t n_layer = 0;
  if (block_count) {
    n_layer = *block_count;
  } else {
    n_layer = static_cast<std::uint64_t>(max_block + 1);
    derived("n_layer " + std::to_string(n_layer) + " derived from the blk.N tensor names");
  }
  if (n_layer == 0 || n_layer > kMaxLayers)
    return Error{Errc::kUnsupportedArch,
                 "cannot analyse '" + m.architecture + "': " + std::to_string(n_layer) + " blocks",
                 kNoOffset, hparam_key_name(m.architecture, Hp::kBlockCount),
                 "the file needs a block_count key or blk.N tensors"};
  m.n_layer = u32(n_layer);
  if (max_block >= static_cast<std::int64_t>(n_layer))
    return Error{Errc::kMalformed,
                 "tensor blk." + std::to_string(max_block) + ".* lies beyond block_count " + std::to_string(n_layer),
                 kNoOffset, hparam_key_name(m.architecture, Hp::kBlockCount), "the file is inconsistent"};

  BITNET_ASSIGN_OR_RETURN(const std::optional<std::uint64_t> n_embd_key, keys.scalar(Hp::kEmbeddingLength));
  if (n_embd_key) {
    m.n_embd = u32(*n_embd_key);
  } else if (token_embd != nullptr && token_embd->ne[0] <= kMaxWidth) {
    m.n_embd = u32(token_embd->ne[0]);
    derived("n_embd " + std::to_string(m.n_embd) + " derived from token_embd's shape");
  } else {
    return Error{Errc::kUnsupportedArch, "cannot find the embedding width of '" + m.architecture + "'", kNoOffset,
                 hparam_key_name(m.architecture, Hp::kEmbeddingLength),
                 "the file needs an embedding_length key or a token_embd tensor"};
  }

  // Vocabulary and context.
  BITNET_ASSIGN_OR_RETURN(const std::optional<std::uint64_t> vocab, keys.scalar(Hp::kVocabSize));
  if (vocab) {
    m.n_vocab = u32(*vocab);
  } else if (m.tokenizer.n_tokens > 0 && m.tokenizer.n_tokens <= kMaxVocab) {
    m.n_vocab = u32(m.tokenizer.n_tokens);
  } else if (token_embd != nullptr && token_embd->ne[1] <= kMaxVocab) {
    m.n_vocab = u32(token_embd->ne[1]);
    derived("n_vocab " + std::to_string(m.n_vocab) + " derived from token_embd's shape");
  }
  BITNET_ASSIGN_OR_RETURN(const std::optional<std::uint64_t> n_ctx, keys.scalar(Hp::kContextLength));
  m.n_ctx_train = n_ctx ? u32(*n_ctx) : 0;

  // Blocks' tensors.
  std::vector<BlockTensors> blocks(n_layer);
  for (const TensorInfo& t : m.tensors)
    if (t.layer >= 0) blocks[static_cast<std::size_t>(t.layer)].tensors.push_back(&t);

  // Attention hyperparameters.
  BITNET_ASSIGN_OR_RETURN(auto head_count, keys.per_layer(Hp::kHeadCount, n_layer));
  BITNET_ASSIGN_OR_RETURN(auto head_count_kv, keys.per_layer(Hp::kHeadCountKv, n_layer));
  BITNET_ASSIGN_OR_RETURN(const auto key_length, keys.scalar(Hp::kKeyLength));
  BITNET_ASSIGN_OR_RETURN(const auto value_length, keys.scalar(Hp::kValueLength));
  if (!head_count && traits.attention != AttnKind::kNone && known == nullptr) {
    // Generic decoder: heads from attn_q / attn_k shapes and key_length when present.
    const TensorInfo* q = blocks.empty() ? nullptr : blocks[0].by_base("attn_q");
    const TensorInfo* k = blocks.empty() ? nullptr : blocks[0].by_base("attn_k");
    if (q != nullptr) {
      std::uint64_t hd = key_length.value_or(0);
      std::string how = "attention.key_length";
      if (hd == 0) {
        hd = q->ne[1] % 128 == 0 ? 128 : 64;
        how = "an assumed head dimension of " + std::to_string(hd);
      }
      head_count = std::vector<std::uint64_t>(n_layer, q->ne[1] / hd);
      if (k != nullptr && !head_count_kv) head_count_kv = std::vector<std::uint64_t>(n_layer, k->ne[1] / hd);
      derived("head counts derived from attn_q/attn_k shapes and " + how);
    }
  }
  if (!head_count_kv && head_count) head_count_kv = head_count;

  // MLA. llama.cpp runs MLA only when key_length_mla and value_length_mla are set (current
  // converters); older deepseek2 files are run as plain multi-head attention with key_length /
  // value_length per KV head (src/models/deepseek2.cpp: is_mla).
  std::uint64_t kv_lora_rank = 0, n_rot = 0;
  if (traits.attention == AttnKind::kMla) {
    BITNET_ASSIGN_OR_RETURN(kv_lora_rank, keys.required(Hp::kKvLoraRank, "MLA cache width"));
    BITNET_ASSIGN_OR_RETURN(n_rot, keys.required(Hp::kRopeDimensionCount, "MLA rope width"));
    BITNET_ASSIGN_OR_RETURN(const auto k_mla, keys.scalar(Hp::kKeyLengthMla));
    BITNET_ASSIGN_OR_RETURN(const auto v_mla, keys.scalar(Hp::kValueLengthMla));
    m.mla = k_mla.value_or(0) != 0 && v_mla.value_or(0) != 0;
    if (!m.mla)
      m.warnings.push_back(hparam_key_name(m.architecture, Hp::kKeyLengthMla) +
                           " is absent (an older conversion): llama.cpp runs this model without MLA, with a "
                           "full K and V cache per KV head");
  }

  // Sliding window.
  BITNET_ASSIGN_OR_RETURN(const auto n_swa, keys.scalar(Hp::kSlidingWindow));
  std::vector<bool> swa(n_layer, false);
  if (traits.swa == SwaRule::kPeriodDefault && n_swa && *n_swa > 0) {
    const GgufKv* pkv = keys.find(Hp::kSlidingWindowPattern);
    if (pkv != nullptr && pkv->value.type == GgufType::kArray) {
      BITNET_ASSIGN_OR_RETURN(const auto arr, keys.per_layer(Hp::kSlidingWindowPattern, n_layer));
      for (std::uint64_t il = 0; il < n_layer; ++il) swa[il] = (*arr)[il] != 0;
    } else {
      BITNET_ASSIGN_OR_RETURN(const auto period, keys.scalar(Hp::kSlidingWindowPattern));
      const std::uint64_t p = period.value_or(traits.swa_period);
      for (std::uint64_t il = 0; il < n_layer; ++il) swa[il] = swa_layer_by_period(u32(il), u32(p));
    }
  } else if (n_swa && *n_swa > 0 && traits.swa == SwaRule::kNone) {
    m.warnings.push_back(hparam_key_name(m.architecture, Hp::kSlidingWindow) +
                         " is set, but llama.cpp uses full attention for this architecture");
  }

  // Recurrent state (llama-hparams.cpp n_embd_r / n_embd_s), with checked products: each factor is
  // bounded, their product need not be.
  SsmDims ssm;
  std::uint64_t ssm_r = 0, ssm_s = 0;
  if (traits.ssm != SsmKind::kNone) {
    BITNET_ASSIGN_OR_RETURN(ssm.d_conv, keys.required(Hp::kSsmConvKernel, "recurrent conv state"));
    BITNET_ASSIGN_OR_RETURN(ssm.d_inner, keys.required(Hp::kSsmInnerSize, "recurrent state"));
    BITNET_ASSIGN_OR_RETURN(ssm.d_state, keys.required(Hp::kSsmStateSize, "recurrent state"));
    BITNET_ASSIGN_OR_RETURN(const auto groups, keys.scalar(Hp::kSsmGroupCount));
    ssm.n_group = groups.value_or(0);
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t gs, checked_mul(2 * ssm.n_group, ssm.d_state, "SSM state width"));
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t conv_w, checked_add(ssm.d_inner, gs, "SSM conv width"));
    BITNET_ASSIGN_OR_RETURN(ssm_r, checked_mul(ssm.d_conv > 0 ? ssm.d_conv - 1 : 0, conv_w, "SSM conv state"));
    BITNET_ASSIGN_OR_RETURN(ssm_s, checked_mul(ssm.d_state, ssm.d_inner, "SSM state"));
  }

  // FFN and experts.
  BITNET_ASSIGN_OR_RETURN(const auto ff, keys.per_layer(Hp::kFeedForwardLength, n_layer));
  BITNET_ASSIGN_OR_RETURN(const auto n_expert, keys.scalar(Hp::kExpertCount));
  BITNET_ASSIGN_OR_RETURN(const auto n_expert_used, keys.scalar(Hp::kExpertUsedCount));
  BITNET_ASSIGN_OR_RETURN(const auto n_ff_exp, keys.scalar(Hp::kExpertFeedForwardLength));
  m.n_expert = u32(n_expert.value_or(0));
  m.n_expert_used = u32(n_expert_used.value_or(0));
  m.n_ff_exp = u32(n_ff_exp.value_or(0));
  if (m.n_expert_used > m.n_expert)
    return Error{Errc::kMalformed,
                 "expert_used_count " + std::to_string(m.n_expert_used) + " exceeds expert_count " +
                     std::to_string(m.n_expert),
                 kNoOffset, hparam_key_name(m.architecture, Hp::kExpertUsedCount), "the file is inconsistent"};

  // Per-layer resolution.
  m.layers.resize(n_layer);
  for (std::uint64_t il = 0; il < n_layer; ++il) {
    LayerInfo& L = m.layers[il];
    const BlockTensors& bt = blocks[il];
    const std::uint64_t nh = head_count ? (*head_count)[il] : 0;
    const std::uint64_t nkv = head_count_kv ? (*head_count_kv)[il] : 0;
    bool recurrent = false;
    switch (traits.layers) {
      case LayerMix::kAttention: recurrent = false; break;
      case LayerMix::kRecurrent: recurrent = true; break;
      case LayerMix::kHybridByKvHeads: recurrent = nkv == 0; break;
    }
    L.n_head = u32(nh);
    if (recurrent) {
      L.kind = LayerKind::kRecurrent;
      L.n_embd_r = ssm_r;  // = ssm_n_embd_r(ssm) without overflow
      L.n_embd_s = ssm_s;
    } else if (m.mla) {
      L.kind = LayerKind::kAttention;
      L.n_head_kv = 1;
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t k_width, checked_add(kv_lora_rank, n_rot, "MLA width"));
      L.head_dim_k = u32(k_width);
      L.head_dim_v = u32(kv_lora_rank);
      L.n_embd_k_gqa = k_width;
      L.n_embd_v_gqa = 0;  // K-only cache: V is a view of K's latent part
    } else if (nkv == 0 || traits.attention == AttnKind::kNone) {
      L.kind = LayerKind::kNoCache;
    } else {
      L.kind = LayerKind::kAttention;
      if (nh == 0 && (!key_length || !value_length))
        return Error{Errc::kMalformed, "block " + std::to_string(il) + " has KV heads but no attention heads",
                     kNoOffset, hparam_key_name(m.architecture, Hp::kHeadCount), "the file is inconsistent"};
      L.n_head_kv = u32(nkv);
      L.head_dim_k = u32(key_length.value_or(nh == 0 ? 0 : m.n_embd / nh));
      L.head_dim_v = u32(value_length.value_or(nh == 0 ? 0 : m.n_embd / nh));
      L.n_embd_k_gqa = std::uint64_t{L.head_dim_k} * L.n_head_kv;
      L.n_embd_v_gqa = std::uint64_t{L.head_dim_v} * L.n_head_kv;
      L.is_swa = swa[il];
    }
    // FFN: routed experts when the block has *_exps tensors; a dense width when it has ffn_down/up.
    L.is_moe = bt.by_base("ffn_up_exps") != nullptr || bt.by_base("ffn_down_exps") != nullptr ||
               bt.by_base("ffn_gate_exps") != nullptr;
    const TensorInfo* down = bt.by_base("ffn_down");
    if (down != nullptr || bt.by_base("ffn_up") != nullptr) {
      if (ff && (*ff)[il] > 0) {
        L.n_ff = u32((*ff)[il]);
      } else if (down != nullptr && down->ne[0] <= kMaxWidth) {
        L.n_ff = u32(down->ne[0]);
        derived("block " + std::to_string(il) + " n_ff " + std::to_string(L.n_ff) + " derived from ffn_down's shape");
      }
    }
    if (L.is_moe && m.n_ff_exp == 0) {
      if (const TensorInfo* up = bt.by_base("ffn_up_exps"); up != nullptr && up->ne[1] <= kMaxWidth) {
        m.n_ff_exp = u32(up->ne[1]);
        derived("n_ff_exp " + std::to_string(m.n_ff_exp) + " derived from ffn_up_exps' shape");
      }
    }
    if (L.is_moe && m.n_expert == 0)
      if (const TensorInfo* up = bt.by_base("ffn_up_exps"); up != nullptr && up->ne[2] <= kMaxHeads) {
        m.n_expert = u32(up->ne[2]);
        derived("n_expert " + std::to_string(m.n_expert) + " derived from ffn_up_exps' shape");
      }
  }

  // Model-level summaries: the maximum over layers where layers differ.
  bool have_head_dims = false;
  for (const LayerInfo& L : m.layers) {
    m.n_head = std::max(m.n_head, L.n_head);
    m.n_head_kv = std::max(m.n_head_kv, L.n_head_kv);
    m.recurrent = m.recurrent || L.kind == LayerKind::kRecurrent;
    if (L.kind == LayerKind::kAttention && !have_head_dims) {
      m.head_dim_k = L.head_dim_k;
      m.head_dim_v = L.head_dim_v;
      have_head_dims = true;
    }
  }
  if (ff) {
    for (std::uint64_t v : *ff) m.n_ff = std::max(m.n_ff, u32(v));
  } else {
    for (const LayerInfo& L : m.layers) m.n_ff = std::max(m.n_ff, L.n_ff);
  }
  for (std::uint64_t il = 0; il < n_layer; ++il)
    if (m.layers[il].is_swa) m.sliding_window = u32(*n_swa);
  return m;
}

}  // namespace bitnet::detail
