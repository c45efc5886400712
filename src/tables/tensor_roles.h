// Tensor roles (style.md §5; llama.cpp src/llama-arch.cpp LLM_TENSOR_INFOS): for each tensor name
// pattern, llama.cpp's layer class (input / repeating / output) and the graph op that consumes it.
// The placement planner reads the class; repacking and op offload read the op.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "bitnet/model_info.h"

namespace bitnet::detail {

// Which spec type a synthesized tensor of this role is stored with.
enum class Storage : std::uint8_t {
  kEmbd,    // spec.embd_type (token_embd)
  kOutput,  // spec.output_type (output)
  kWeight,  // spec.weight_type (2-D+ block weights)
  kF32,     // norms, biases, router, SSM parameters
};

struct TensorRole {
  std::string_view pattern;  // "token_embd", "blk.%d.attn_k": the name without ".weight"/".bias"
  LayerClass layer_class;
  TensorOp op;
  Storage storage;
};

std::span<const TensorRole> all_tensor_roles() noexcept;

// A tensor name split into its role, block index and suffix ("weight", "bias", "scale").
struct TensorName {
  const TensorRole* role = nullptr;  // nullptr: a name no row describes
  std::int32_t layer = -1;           // N of "blk.N.", -1 otherwise
  std::string_view base;             // "attn_k" for "blk.3.attn_k.weight", "token_embd" for ...
  std::string_view suffix;           // "weight", "bias", "scale", or empty
};
TensorName classify_tensor_name(std::string_view name) noexcept;

// Class and op of a tensor: from its role row; a ".bias" or ".scale" is consumed by ADD/MUL
// (kOther). Unknown blk.N tensors are repeating (2-D+: mul_mat, else other); unknown others are
// treated as output-layer tensors consumed by kOther.
struct TensorPlacement {
  LayerClass layer_class;
  std::int32_t layer;
  TensorOp op;
  bool known;
};
TensorPlacement tensor_placement(std::string_view name, std::uint32_t n_dims) noexcept;

std::string_view tensor_op_name(TensorOp op) noexcept;          // "mul_mat", "mul_mat_id", ...
std::string_view layer_class_name(LayerClass c) noexcept;       // "input", "repeating", "output"

}  // namespace bitnet::detail
