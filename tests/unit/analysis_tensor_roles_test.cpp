// Tensor roles (llama.cpp LLM_TENSOR_INFOS): layer class and consuming op by name.
#include <gtest/gtest.h>

#include "tables/tensor_roles.h"

namespace bitnet::detail {
namespace {

struct RoleCase {
  const char* name;
  std::uint32_t n_dims;
  LayerClass cls;
  std::int32_t layer;
  TensorOp op;
  bool known;
};

TEST(TensorRoles, ClassAndOpByName) {
  const RoleCase cases[] = {
      {"token_embd.weight", 2, LayerClass::kInput, -1, TensorOp::kGetRows, true},
      {"output.weight", 2, LayerClass::kOutput, -1, TensorOp::kMulMat, true},
      {"output_norm.weight", 1, LayerClass::kOutput, -1, TensorOp::kOther, true},
      {"blk.0.attn_k.weight", 2, LayerClass::kRepeating, 0, TensorOp::kMulMat, true},
      {"blk.17.attn_k.bias", 1, LayerClass::kRepeating, 17, TensorOp::kOther, true},
      {"blk.3.attn_q.scale", 1, LayerClass::kRepeating, 3, TensorOp::kOther, true},
      {"blk.12.ffn_down_exps.weight", 3, LayerClass::kRepeating, 12, TensorOp::kMulMatId, true},
      {"blk.12.ffn_gate_inp.weight", 2, LayerClass::kRepeating, 12, TensorOp::kMulMat, true},
      {"blk.4.ffn_norm.weight", 1, LayerClass::kRepeating, 4, TensorOp::kOther, true},
      {"blk.4.attn_kv_a_mqa.weight", 2, LayerClass::kRepeating, 4, TensorOp::kMulMat, true},
      {"blk.1.ssm_conv1d.weight", 2, LayerClass::kRepeating, 1, TensorOp::kOther, true},
      {"blk.1.ssm_out.weight", 2, LayerClass::kRepeating, 1, TensorOp::kMulMat, true},
      // Names no row describes: block tensors default by rank, others are output-layer "other".
      {"blk.2.mystery.weight", 2, LayerClass::kRepeating, 2, TensorOp::kMulMat, false},
      {"blk.2.mystery.weight", 1, LayerClass::kRepeating, 2, TensorOp::kOther, false},
      {"strange_tensor", 2, LayerClass::kOutput, -1, TensorOp::kOther, false},
      // "blk.x." is not a block prefix.
      {"blk.x.attn_k.weight", 2, LayerClass::kOutput, -1, TensorOp::kOther, false},
  };
  for (const RoleCase& c : cases) {
    SCOPED_TRACE(std::string(c.name) + " n_dims " + std::to_string(c.n_dims));
    const TensorPlacement p = tensor_placement(c.name, c.n_dims);
    EXPECT_EQ(p.layer_class, c.cls);
    EXPECT_EQ(p.layer, c.layer);
    EXPECT_EQ(p.op, c.op);
    EXPECT_EQ(p.known, c.known);
  }
}

TEST(TensorRoles, NameParts) {
  const TensorName n = classify_tensor_name("blk.25.ffn_up_shexp.weight");
  ASSERT_NE(n.role, nullptr);
  EXPECT_EQ(n.role->pattern, "blk.%d.ffn_up_shexp");
  EXPECT_EQ(n.layer, 25);
  EXPECT_EQ(n.base, "ffn_up_shexp");
  EXPECT_EQ(n.suffix, "weight");
  // A base name shared by input and block patterns does not cross over.
  EXPECT_EQ(classify_tensor_name("blk.0.token_embd.weight").role, nullptr);
  EXPECT_EQ(classify_tensor_name("attn_k.weight").role, nullptr);
}

TEST(TensorRoles, EveryPatternIsUniqueAndBlockPatternsAreRepeating) {
  const auto roles = all_tensor_roles();
  for (std::size_t i = 0; i < roles.size(); ++i) {
    for (std::size_t j = i + 1; j < roles.size(); ++j) EXPECT_NE(roles[i].pattern, roles[j].pattern);
    if (roles[i].pattern.rfind("blk.%d.", 0) == 0) {
      EXPECT_EQ(roles[i].layer_class, LayerClass::kRepeating);
    }
    // GET_ROWS (never repacked) only reads input-layer tensors.
    if (roles[i].op == TensorOp::kGetRows) {
      EXPECT_EQ(roles[i].layer_class, LayerClass::kInput);
    }
  }
}

}  // namespace
}  // namespace bitnet::detail
