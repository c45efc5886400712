// bitnet-models: what a model file says, analysed once at open (api.md ModelStructureInfo).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bitnet/types.h"

namespace bitnet {

// Which graph op consumes a tensor: decides repacking (MUL_MAT only) and op offload.
enum class TensorOp : std::uint8_t { kMulMat, kMulMatId, kGetRows, kOther };

// llama.cpp's layer classes: input (token_embd: stays on the host), repeating (blk.N), output.
enum class LayerClass : std::uint8_t { kInput, kRepeating, kOutput };

struct TensorInfo {
  std::string name;
  std::uint32_t type_id = 0;                  // as stored in the file
  QuantizationType type = QuantizationType::kUnknown;
  std::uint32_t n_dims = 0;                   // 1..4
  std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
  std::uint64_t offset = 0;                   // relative to the data section
  std::uint64_t n_elements = 0;
  std::uint64_t nbytes = 0;                   // ggml_nbytes under the type map in use
  std::uint64_t span = 0;                     // bytes to the next tensor (or EOF); 0 for header-only files
  Basis size_basis = Basis::kExact;           // kDerived when nbytes came from the span (unknown type)
  LayerClass layer_class = LayerClass::kRepeating;
  std::int32_t layer = -1;                    // block index for repeating tensors, -1 otherwise
  TensorOp op = TensorOp::kOther;
};

enum class LayerKind : std::uint8_t {
  kAttention,  // has its own KV cache
  kRecurrent,  // has recurrent state (Mamba, RWKV, short conv ...)
  kNoCache,    // neither (KV shared from another layer, MTP layers ...)
};

// One block's hyperparameters, resolved from per-layer arrays or scalars.
struct LayerInfo {
  LayerKind kind = LayerKind::kAttention;
  std::uint32_t n_head = 0;
  std::uint32_t n_head_kv = 0;
  std::uint32_t head_dim_k = 0;
  std::uint32_t head_dim_v = 0;
  std::uint64_t n_embd_k_gqa = 0;  // K cache row width (MLA: kv_lora_rank + n_rot)
  std::uint64_t n_embd_v_gqa = 0;  // V cache row width (MLA: 0, no V tensor)
  bool is_swa = false;             // sliding-window attention layer
  std::uint32_t n_ff = 0;          // dense FFN width (0 for MoE-only layers)
  bool is_moe = false;
  std::uint64_t n_embd_r = 0;      // recurrent: conv/shift state width per sequence (f32 elements)
  std::uint64_t n_embd_s = 0;      // recurrent: SSM/WKV state width per sequence (f32 elements)
};

struct TensorTypeStats {
  std::uint64_t count = 0;
  std::uint64_t parameters = 0;
  std::uint64_t bytes = 0;
};

struct TokenizerInfo {
  std::string model;                // tokenizer.ggml.model: "gpt2", "llama", ...
  std::uint64_t n_tokens = 0;       // length of tokenizer.ggml.tokens
  std::uint64_t n_merges = 0;       // length of tokenizer.ggml.merges
  std::uint64_t tokens_bytes = 0;   // bytes of the token strings in the file (a load-time transient)
  std::uint64_t merges_bytes = 0;
  // Heap bytes of one std::string copy of every token too long for the small-string buffer
  // (libstdc++: more than 15 bytes), as glibc malloc chunks (memory-model.md §7).
  std::uint64_t long_token_heap_bytes = 0;
  std::uint64_t n_long_tokens = 0;
  bool has_scores = false;
};

struct ModelStructureInfo {
  // File.
  std::string path;
  std::string format = "gguf";
  std::uint32_t gguf_version = 0;
  std::uint64_t file_bytes = 0;    // the whole file as declared (header-only: the full size it would have)
  std::uint64_t header_bytes = 0;  // = data offset
  std::uint64_t alignment = 32;
  bool header_only = false;
  TypeMap type_map = TypeMap::kUpstream;  // the dialect in use
  std::string type_map_reason;            // how it was decided

  // Architecture and hyperparameters.
  std::string architecture;
  bool architecture_known = true;         // false: a generic decoder derived from tensor shapes
  Basis hparams_basis = Basis::kExact;
  std::uint32_t n_layer = 0;
  std::uint32_t n_embd = 0;
  std::uint32_t n_head = 0;               // layer 0 (or the maximum, where layers differ)
  std::uint32_t n_head_kv = 0;
  std::uint32_t head_dim_k = 0;
  std::uint32_t head_dim_v = 0;
  std::uint32_t n_ff = 0;
  std::uint32_t n_vocab = 0;
  std::uint32_t n_ctx_train = 0;
  std::uint32_t n_expert = 0;
  std::uint32_t n_expert_used = 0;
  std::uint32_t n_ff_exp = 0;
  std::optional<std::uint32_t> sliding_window;
  bool mla = false;
  bool recurrent = false;                 // any recurrent layer
  bool tied_output = false;               // no output.weight: the head reuses token_embd
  std::vector<LayerInfo> layers;          // n_layer entries

  // Tensors.
  std::vector<TensorInfo> tensors;        // in file (info) order
  std::map<std::string, TensorTypeStats> tensor_types;  // by quantization_type_name
  std::uint64_t parameter_count = 0;
  std::uint64_t tensor_bytes = 0;         // sum of nbytes
  QuantizationType quantization_type = QuantizationType::kUnknown;  // dominant weight type by parameters
  double bits_per_weight = 0.0;           // 8 * tensor_bytes / parameter_count

  TokenizerInfo tokenizer;
  std::vector<std::string> warnings;      // what is uncertain, and why

  // Helpers.
  const TensorInfo* find_tensor(std::string_view name) const noexcept;
  std::uint64_t data_bytes() const noexcept { return file_bytes - header_bytes; }
};

}  // namespace bitnet
