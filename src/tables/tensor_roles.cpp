// Tensor roles: one row per tensor kind, after llama.cpp src/llama-arch.cpp (LLM_TENSOR_NAMES for the
// names, LLM_TENSOR_INFOS for the layer class and the op). Placement (token_embd stays on the host),
// repacking (MUL_MAT / MUL_MAT_ID only, never GET_ROWS) and op offload read these columns.
#include "tables/tensor_roles.h"

#include <charconv>

namespace bitnet::detail {
namespace {

using L = LayerClass;
using O = TensorOp;
using St = Storage;

// clang-format off
constexpr TensorRole kTensorRoles[] = {
  // pattern                     class           op             storage
  {"token_embd",                 L::kInput,      O::kGetRows,   St::kEmbd},
  {"token_embd_norm",            L::kInput,      O::kOther,     St::kF32},
  {"token_types",                L::kInput,      O::kGetRows,   St::kF32},
  {"pos_embd",                   L::kInput,      O::kGetRows,   St::kWeight},
  {"output_norm",                L::kOutput,     O::kOther,     St::kF32},
  {"output",                     L::kOutput,     O::kMulMat,    St::kOutput},
  {"rope_freqs",                 L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_norm",           L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_norm_2",         L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_q",              L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_k",              L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_v",              L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_qkv",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_output",         L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_q_norm",         L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_k_norm",         L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_sub_norm",       L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.post_attention_norm", L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_q_a",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_q_a_norm",       L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_q_b",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_kv_a_mqa",       L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_kv_a_norm",      L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.attn_kv_b",           L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_k_b",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.attn_v_b",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ffn_norm",            L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ffn_gate",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ffn_up",              L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ffn_down",            L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ffn_sub_norm",        L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.post_ffw_norm",       L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ffn_gate_inp",        L::kRepeating,  O::kMulMat,    St::kF32},
  {"blk.%d.ffn_gate_exps",       L::kRepeating,  O::kMulMatId,  St::kWeight},
  {"blk.%d.ffn_up_exps",         L::kRepeating,  O::kMulMatId,  St::kWeight},
  {"blk.%d.ffn_down_exps",       L::kRepeating,  O::kMulMatId,  St::kWeight},
  {"blk.%d.exp_probs_b",         L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ffn_gate_inp_shexp",  L::kRepeating,  O::kMulMat,    St::kF32},
  {"blk.%d.ffn_gate_shexp",      L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ffn_up_shexp",        L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ffn_down_shexp",      L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ssm_in",              L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ssm_conv1d",          L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ssm_x",               L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ssm_dt",              L::kRepeating,  O::kMulMat,    St::kWeight},
  {"blk.%d.ssm_a",               L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ssm_d",               L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ssm_norm",            L::kRepeating,  O::kOther,     St::kF32},
  {"blk.%d.ssm_out",             L::kRepeating,  O::kMulMat,    St::kWeight},
};
// clang-format on

constexpr std::string_view kBlkPrefix = "blk.%d.";

bool is_suffix(std::string_view s) { return s == "weight" || s == "bias" || s == "scale"; }

}  // namespace

std::span<const TensorRole> all_tensor_roles() noexcept { return kTensorRoles; }

TensorName classify_tensor_name(std::string_view name) noexcept {
  TensorName out;
  std::string_view rest = name;
  bool in_block = false;
  if (rest.substr(0, 4) == "blk.") {
    const std::string_view digits = rest.substr(4);
    std::size_t n = 0;
    while (n < digits.size() && digits[n] >= '0' && digits[n] <= '9') ++n;
    std::int32_t il = -1;
    if (n > 0 && n < digits.size() && digits[n] == '.' && n <= 9) {
      std::from_chars(digits.data(), digits.data() + n, il);
      out.layer = il;
      rest = digits.substr(n + 1);
      in_block = true;
    }
  }
  const std::size_t dot = rest.rfind('.');
  if (dot != std::string_view::npos && is_suffix(rest.substr(dot + 1))) {
    out.suffix = rest.substr(dot + 1);
    rest = rest.substr(0, dot);
  }
  out.base = rest;
  for (const TensorRole& r : kTensorRoles) {
    const bool blk_row = r.pattern.substr(0, kBlkPrefix.size()) == kBlkPrefix;
    if (blk_row != in_block) continue;
    const std::string_view base = blk_row ? r.pattern.substr(kBlkPrefix.size()) : r.pattern;
    if (base == rest) {
      out.role = &r;
      break;
    }
  }
  return out;
}

TensorPlacement tensor_placement(std::string_view name, std::uint32_t n_dims) noexcept {
  const TensorName tn = classify_tensor_name(name);
  TensorPlacement p{LayerClass::kRepeating, tn.layer, TensorOp::kOther, tn.role != nullptr};
  if (tn.role != nullptr) {
    p.layer_class = tn.role->layer_class;
    p.op = tn.role->op;
  } else if (tn.layer >= 0) {
    p.layer_class = LayerClass::kRepeating;
    p.op = n_dims >= 2 ? TensorOp::kMulMat : TensorOp::kOther;
  } else {
    p.layer_class = LayerClass::kOutput;
    p.op = TensorOp::kOther;
  }
  if (tn.suffix == "bias" || tn.suffix == "scale") p.op = TensorOp::kOther;
  return p;
}

std::string_view tensor_op_name(TensorOp op) noexcept {
  switch (op) {
    case TensorOp::kMulMat: return "mul_mat";
    case TensorOp::kMulMatId: return "mul_mat_id";
    case TensorOp::kGetRows: return "get_rows";
    case TensorOp::kOther: return "other";
  }
  return "other";
}

std::string_view layer_class_name(LayerClass c) noexcept {
  switch (c) {
    case LayerClass::kInput: return "input";
    case LayerClass::kRepeating: return "repeating";
    case LayerClass::kOutput: return "output";
  }
  return "repeating";
}

}  // namespace bitnet::detail
