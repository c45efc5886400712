// Model synthesis from a short spec: any architecture in the table, real shapes and types, a
// tokenizer of n_vocab unique tokens (with BPE merges where asked), sparse zero data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/error.h"
#include "bitnet/types.h"
#include "synth/gguf_writer.h"

namespace bitnet::detail {

struct ModelSpec {
  std::string architecture = "llama";   // general.architecture
  std::string name;                     // general.name
  std::uint32_t n_layer = 2;
  std::uint32_t n_embd = 256;
  std::uint32_t n_head = 4;
  std::uint32_t n_head_kv = 4;
  std::vector<std::uint32_t> n_head_kv_per_layer;  // overrides n_head_kv when non-empty
  std::uint32_t head_dim = 0;           // 0 = n_embd / n_head
  std::uint32_t n_ff = 512;
  std::uint32_t n_vocab = 1024;
  std::uint32_t n_merges = 0;           // BPE merges (tokenizer.ggml.merges)
  std::string tokenizer = "gpt2";       // tokenizer.ggml.model: "gpt2" (BPE) or "llama" (SPM, scores)
  std::string tokenizer_pre = "default";  // tokenizer.ggml.pre (BPE)
  std::uint32_t n_ctx_train = 4096;
  std::uint32_t n_expert = 0;
  std::uint32_t n_expert_used = 0;
  std::uint32_t n_ff_exp = 0;
  std::uint32_t n_expert_shared = 0;    // shared experts (expert_shared_count)
  std::uint32_t n_ff_shexp = 0;         // shared-expert FFN width (0 = none)
  std::uint32_t n_leading_dense = 0;    // leading_dense_block_count (deepseek2)
  std::uint32_t sliding_window = 0;     // 0 = none
  std::uint32_t swa_period = 0;         // every swa_period-th layer is global (gemma3: 6)
  // MLA (deepseek2)
  std::uint32_t kv_lora_rank = 0;
  std::uint32_t q_lora_rank = 0;
  std::uint32_t rope_dim = 0;           // rope.dimension_count (MLA: the rope part of head_dim)
  std::uint32_t v_head_dim = 0;         // MLA value_length_mla (0 = head_dim)
  // Recurrent (mamba/mamba2 and hybrids)
  std::uint32_t ssm_d_conv = 0, ssm_d_inner = 0, ssm_d_state = 0, ssm_n_group = 0, ssm_dt_rank = 0;
  std::vector<bool> recurrent_layers;   // hybrids: which layers are recurrent
  QuantizationType weight_type = QuantizationType::kF16;  // 2-D block weights
  QuantizationType embd_type = QuantizationType::kF16;    // token_embd
  std::optional<QuantizationType> output_type;            // output.weight; nullopt = tied (no tensor)
  TypeMap type_map = TypeMap::kUpstream;                   // which ids to write for BitNet types
  std::uint32_t alignment = 32;
  float rope_freq_base = 10000.0f;
  std::optional<std::uint32_t> file_type;  // general.file_type, when given
  bool write_hparams = true;            // false: only general.* and tokenizer keys (generic-decoder tests)
};

// Named presets: "bitnet-b1.58-2b-4t" (I2_S, BitNet 2B-4T shape), "llama-3.2-1b" (Q4_K), ...
std::vector<std::string_view> preset_names();
Result<ModelSpec> preset(std::string_view name);

// Builds the GGUF (metadata, tensor infos with offsets = running sum of padded sizes). Errors name
// the spec field or tensor that cannot be made (e.g. a row length the weight type cannot block).
Result<GgufWriter> build_gguf(const ModelSpec& spec);

// Writes the model to `path` (header_only: only the header). Returns the file size it has (or
// would have).
Result<std::uint64_t> synthesize(const ModelSpec& spec, const std::string& path, bool header_only = false);

}  // namespace bitnet::detail
