// Hand-built ModelStructureInfo values for the estimator's unit tests: every tensor written out
// with its llama.cpp name, shape, type, byte size (the struct arithmetic of memory-model.md §2) and
// contiguous pad32 offset, so the tests can compute expected bytes by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bitnet/model_info.h"

namespace bitnet::test {

inline std::uint64_t pad32(std::uint64_t x) { return (x + 31) / 32 * 32; }

// Bytes of a 2-D tensor of the given type (block arithmetic; I2_S: n/4 + 32).
inline std::uint64_t bytes_of(QuantizationType t, std::uint64_t ne0, std::uint64_t ne1,
                              std::uint64_t ne2 = 1) {
  const std::uint64_t n = ne0 * ne1 * ne2;
  switch (t) {
    case QuantizationType::kF32: return n * 4;
    case QuantizationType::kF16: return n * 2;
    case QuantizationType::kQ8_0: return n / 32 * 34;
    case QuantizationType::kQ4_0: return n / 32 * 18;
    case QuantizationType::kQ4_K: return n / 256 * 144;
    case QuantizationType::kQ6_K: return n / 256 * 210;
    case QuantizationType::kTQ2_0: return n / 256 * 66;
    case QuantizationType::kI2_S: return n / 4 + 32;
    default: return 0;
  }
}

struct Shape {
  std::string arch = "llama";
  std::uint32_t n_layer = 4, n_embd = 256, n_head = 8, n_head_kv = 2, head_dim = 32, n_ff = 512;
  std::uint32_t n_vocab = 4096, n_ctx_train = 8192;
  QuantizationType weight = QuantizationType::kQ8_0;
  QuantizationType embd = QuantizationType::kQ8_0;
  std::optional<QuantizationType> output;  // nullopt: tied (no output.weight)
  std::uint32_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
  std::optional<std::uint32_t> sliding_window;
  std::uint32_t swa_period = 0;           // every swa_period-th layer is global
  std::uint32_t mla_k = 0;                // MLA: K row width (kv_lora_rank + n_rot), no V
  std::uint64_t n_embd_r = 0, n_embd_s = 0;  // recurrent layers (all)
  bool sub_norms = false;                 // bitnet: attn_sub_norm, ffn_sub_norm
  std::string tokenizer = "gpt2";
  std::uint64_t n_merges = 0;
};

inline ModelStructureInfo make_model(const Shape& s) {
  ModelStructureInfo m;
  m.architecture = s.arch;
  m.n_layer = s.n_layer;
  m.n_embd = s.n_embd;
  m.n_head = s.n_head;
  m.n_head_kv = s.mla_k ? 1 : s.n_head_kv;
  m.head_dim_k = s.mla_k ? s.mla_k : s.head_dim;
  m.head_dim_v = s.mla_k ? 0 : s.head_dim;
  m.n_ff = s.n_expert ? 0 : s.n_ff;
  m.n_vocab = s.n_vocab;
  m.n_ctx_train = s.n_ctx_train;
  m.n_expert = s.n_expert;
  m.n_expert_used = s.n_expert_used;
  m.n_ff_exp = s.n_ff_exp;
  m.sliding_window = s.sliding_window;
  m.mla = s.mla_k != 0;
  m.recurrent = s.n_embd_s != 0;
  m.tied_output = !s.output.has_value();
  m.tokenizer.model = s.tokenizer;
  m.tokenizer.n_tokens = s.n_vocab;
  m.tokenizer.n_merges = s.n_merges;
  std::uint64_t off = 0;
  auto add = [&](std::string name, QuantizationType t, std::uint64_t ne0, std::uint64_t ne1,
                 std::uint64_t ne2, LayerClass cls, std::int32_t layer, TensorOp op) {
    TensorInfo ti;
    ti.name = std::move(name);
    ti.type = t;
    ti.n_dims = ne2 > 1 ? 3 : (ne1 > 1 ? 2 : 1);
    ti.ne = {ne0, ne1, ne2, 1};
    ti.n_elements = ne0 * ne1 * ne2;
    ti.nbytes = bytes_of(t, ne0, ne1, ne2);
    ti.offset = off;
    off += pad32(ti.nbytes);
    ti.layer_class = cls;
    ti.layer = layer;
    ti.op = op;
    m.tensor_bytes += ti.nbytes;
    m.parameter_count += ti.n_elements;
    m.tensors.push_back(std::move(ti));
  };
  using LC = LayerClass;
  using Op = TensorOp;
  const QuantizationType f32 = QuantizationType::kF32;
  add("token_embd.weight", s.embd, s.n_embd, s.n_vocab, 1, LC::kInput, -1, Op::kGetRows);
  const std::uint64_t q = std::uint64_t{s.n_head} * s.head_dim;
  const std::uint64_t kv = std::uint64_t{s.n_head_kv} * s.head_dim;
  for (std::uint32_t il = 0; il < s.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    const auto il_i = static_cast<std::int32_t>(il);
    LayerInfo L;
    if (s.n_embd_s) {
      L.kind = LayerKind::kRecurrent;
      L.n_embd_r = s.n_embd_r;
      L.n_embd_s = s.n_embd_s;
      add(b + "ssm_in.weight", s.weight, s.n_embd, 2 * s.n_embd, 1, LC::kRepeating, il_i, Op::kMulMat);
      add(b + "ssm_out.weight", s.weight, 2 * s.n_embd, s.n_embd, 1, LC::kRepeating, il_i, Op::kMulMat);
      m.layers.push_back(L);
      continue;
    }
    L.n_head = s.n_head;
    L.n_head_kv = m.n_head_kv;
    L.head_dim_k = m.head_dim_k;
    L.head_dim_v = m.head_dim_v;
    L.n_embd_k_gqa = s.mla_k ? s.mla_k : kv;
    L.n_embd_v_gqa = s.mla_k ? 0 : kv;
    L.is_swa = s.sliding_window.has_value() && s.swa_period > 0 && (il + 1) % s.swa_period != 0;
    L.n_ff = s.n_expert ? 0 : s.n_ff;
    L.is_moe = s.n_expert > 0;
    add(b + "attn_norm.weight", f32, s.n_embd, 1, 1, LC::kRepeating, il_i, Op::kOther);
    add(b + "attn_q.weight", s.weight, s.n_embd, q, 1, LC::kRepeating, il_i, Op::kMulMat);
    if (s.mla_k) {
      add(b + "attn_kv_a_mqa.weight", s.weight, s.n_embd, s.mla_k, 1, LC::kRepeating, il_i, Op::kMulMat);
    } else {
      add(b + "attn_k.weight", s.weight, s.n_embd, kv, 1, LC::kRepeating, il_i, Op::kMulMat);
      add(b + "attn_v.weight", s.weight, s.n_embd, kv, 1, LC::kRepeating, il_i, Op::kMulMat);
    }
    add(b + "attn_output.weight", s.weight, q, s.n_embd, 1, LC::kRepeating, il_i, Op::kMulMat);
    if (s.sub_norms) add(b + "attn_sub_norm.weight", f32, s.n_embd, 1, 1, LC::kRepeating, il_i, Op::kOther);
    add(b + "ffn_norm.weight", f32, s.n_embd, 1, 1, LC::kRepeating, il_i, Op::kOther);
    if (s.n_expert) {
      add(b + "ffn_gate_inp.weight", f32, s.n_embd, s.n_expert, 1, LC::kRepeating, il_i, Op::kMulMat);
      add(b + "ffn_gate_exps.weight", s.weight, s.n_embd, s.n_ff_exp, s.n_expert, LC::kRepeating, il_i, Op::kMulMatId);
      add(b + "ffn_up_exps.weight", s.weight, s.n_embd, s.n_ff_exp, s.n_expert, LC::kRepeating, il_i, Op::kMulMatId);
      add(b + "ffn_down_exps.weight", s.weight, s.n_ff_exp, s.n_embd, s.n_expert, LC::kRepeating, il_i, Op::kMulMatId);
    } else {
      add(b + "ffn_gate.weight", s.weight, s.n_embd, s.n_ff, 1, LC::kRepeating, il_i, Op::kMulMat);
      add(b + "ffn_up.weight", s.weight, s.n_embd, s.n_ff, 1, LC::kRepeating, il_i, Op::kMulMat);
      add(b + "ffn_down.weight", s.weight, s.n_ff, s.n_embd, 1, LC::kRepeating, il_i, Op::kMulMat);
    }
    if (s.sub_norms) add(b + "ffn_sub_norm.weight", f32, s.n_ff, 1, 1, LC::kRepeating, il_i, Op::kOther);
    m.layers.push_back(L);
  }
  add("output_norm.weight", f32, s.n_embd, 1, 1, LC::kOutput, -1, Op::kOther);
  if (s.output) add("output.weight", *s.output, s.n_embd, s.n_vocab, 1, LC::kOutput, -1, Op::kMulMat);
  m.header_bytes = 4096;
  m.file_bytes = m.header_bytes + off;
  return m;
}

// BitNet b1.58 2B-4T (memory-model.md §3): 30 layers, 2560, 20/5 heads of 128, n_ff 6912, vocab
// 128256, I2_S with an F16 token_embd, tied head.
inline Shape bitnet_2b4t() {
  Shape s;
  s.arch = "bitnet-b1.58";
  s.n_layer = 30; s.n_embd = 2560; s.n_head = 20; s.n_head_kv = 5; s.head_dim = 128;
  s.n_ff = 6912; s.n_vocab = 128256; s.n_ctx_train = 4096;
  s.weight = QuantizationType::kI2_S;
  s.embd = QuantizationType::kF16;
  s.sub_norms = true;
  s.n_merges = 280147;
  return s;
}

// A Llama-3-70B-shaped Q4_K model: 80 layers, 8192, 64/8 heads of 128, n_ff 28672, untied Q6_K head.
inline Shape llama_70b() {
  Shape s;
  s.n_layer = 80; s.n_embd = 8192; s.n_head = 64; s.n_head_kv = 8; s.head_dim = 128;
  s.n_ff = 28672; s.n_vocab = 128256; s.n_ctx_train = 131072;
  s.weight = QuantizationType::kQ4_K;
  s.embd = QuantizationType::kQ4_K;
  s.output = QuantizationType::kQ6_K;
  s.n_merges = 280147;
  return s;
}

}  // namespace bitnet::test
