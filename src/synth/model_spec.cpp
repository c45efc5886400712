// Model synthesis: a ModelSpec -> a GGUF whose tensor names, shapes (ggml order [ne0, ne1, ...])
// and metadata keys are what llama.cpp's loader expects for the architecture (src/llama-model.cpp
// load_tensors / load_hparams). Which tensors a block has is read from the architecture's columns
// (tables/arch_traits), which type each is stored with from the tensor-role table; sizes come from
// the type table. Data is sparse zeros.
#include "synth/model_spec.h"

#include <algorithm>

#include "core/checked.h"
#include "synth/tokenizer_synth.h"
#include "tables/arch_traits.h"
#include "tables/quant_traits.h"
#include "tables/tensor_roles.h"

namespace bitnet::detail {
namespace {

using Q = QuantizationType;

Error bad_spec(std::string field, std::string msg) {
  return Error{Errc::kInvalidArgument, std::move(msg), kNoOffset, std::move(field), "fix the model spec"};
}

std::uint8_t dialect_bit(TypeMap m) {
  switch (m) {
    case TypeMap::kAuto:
    case TypeMap::kUpstream: return kUp;
    case TypeMap::kBitnet2024: return kB24;
    case TypeMap::kBitnetPort: return kBPort;
  }
  return kUp;
}

// The row a type is written with under a map (BitNet types have map-specific ids).
Result<const QuantTraits*> row_for(Q type, TypeMap map) {
  for (const QuantTraits& r : all_quant_traits())
    if (r.type == type && r.rule != SizeRule::kRemoved && (r.dialects & dialect_bit(map)) != 0) return &r;
  return bad_spec("type_map", "type " + std::string(quantization_type_name(type)) + " has no id under the " +
                                  std::string(type_map_name(map)) + " type map");
}

struct Planned {
  std::string name;
  Q type;
  std::vector<std::uint64_t> ne;
};

class Planner {
 public:
  Planner(const ModelSpec& s) : s_(s) {}

  void add(std::string name, std::vector<std::uint64_t> ne) {
    const TensorName tn = classify_tensor_name(name);
    Q type = ne.size() >= 2 ? s_.weight_type : Q::kF32;
    if (tn.suffix == "bias" || tn.suffix == "scale") {
      type = Q::kF32;
    } else if (tn.role != nullptr) {
      switch (tn.role->storage) {
        case Storage::kEmbd: type = s_.embd_type; break;
        case Storage::kOutput: type = s_.output_type.value_or(s_.embd_type); break;
        case Storage::kWeight: type = s_.weight_type; break;
        case Storage::kF32: type = Q::kF32; break;
      }
    }
    out_.push_back(Planned{std::move(name), type, std::move(ne)});
  }
  void blk(std::uint32_t il, std::string_view base, std::vector<std::uint64_t> ne,
           std::string_view suffix = "weight") {
    add("blk." + std::to_string(il) + "." + std::string(base) + "." + std::string(suffix), std::move(ne));
  }
  std::vector<Planned>& tensors() { return out_; }

 private:
  const ModelSpec& s_;
  std::vector<Planned> out_;
};

bool layer_recurrent(const ModelSpec& s, const ArchTraits& a, std::uint32_t il) {
  switch (a.layers) {
    case LayerMix::kAttention: return false;
    case LayerMix::kRecurrent: return true;
    case LayerMix::kHybridByKvHeads: return !s.recurrent_layers.empty() && s.recurrent_layers[il];
  }
  return false;
}

std::uint32_t layer_kv_heads(const ModelSpec& s, const ArchTraits& a, std::uint32_t il) {
  if (layer_recurrent(s, a, il)) return 0;
  return s.n_head_kv_per_layer.empty() ? s.n_head_kv : s.n_head_kv_per_layer[il];
}

Status validate(const ModelSpec& s, const ArchTraits& a) {
  if (s.n_layer == 0) return bad_spec("n_layer", "a model needs at least one block");
  if (s.n_embd == 0) return bad_spec("n_embd", "n_embd must be positive");
  if (!s.n_head_kv_per_layer.empty() && s.n_head_kv_per_layer.size() != s.n_layer)
    return bad_spec("n_head_kv_per_layer", "needs exactly n_layer entries");
  if (!s.recurrent_layers.empty() && s.recurrent_layers.size() != s.n_layer)
    return bad_spec("recurrent_layers", "needs exactly n_layer entries");
  bool any_attention = false;
  for (std::uint32_t il = 0; il < s.n_layer; ++il) any_attention = any_attention || !layer_recurrent(s, a, il);
  if (any_attention && a.attention != AttnKind::kNone) {
    if (s.n_head == 0) return bad_spec("n_head", "attention layers need heads");
    if (s.head_dim == 0 && s.n_embd % s.n_head != 0)
      return bad_spec("head_dim", "n_embd is not a multiple of n_head; give head_dim");
    for (std::uint32_t il = 0; il < s.n_layer; ++il) {
      const std::uint32_t kv = layer_kv_heads(s, a, il);
      if (!layer_recurrent(s, a, il) && a.attention == AttnKind::kGqa && (kv == 0 || s.n_head % kv != 0))
        return bad_spec("n_head_kv", "block " + std::to_string(il) + ": n_head must be a multiple of n_head_kv");
    }
  }
  if (a.attention == AttnKind::kMla &&
      (s.kv_lora_rank == 0 || s.rope_dim == 0 || s.head_dim <= s.rope_dim))
    return bad_spec("kv_lora_rank", "MLA needs kv_lora_rank, rope_dim and head_dim > rope_dim");
  if (a.ssm != SsmKind::kNone) {
    if (s.ssm_d_conv == 0 || s.ssm_d_inner == 0 || s.ssm_d_state == 0 || s.ssm_dt_rank == 0)
      return bad_spec("ssm_d_inner", "recurrent layers need ssm_d_conv, ssm_d_inner, ssm_d_state, ssm_dt_rank");
    if (a.ssm == SsmKind::kMamba2 && (s.ssm_n_group == 0 || s.ssm_d_inner % s.ssm_n_group != 0))
      return bad_spec("ssm_n_group", "Mamba2 needs ssm_n_group dividing ssm_d_inner");
  }
  if (s.n_expert > 0 && (s.n_expert_used == 0 || s.n_expert_used > s.n_expert || s.n_ff_exp == 0))
    return bad_spec("n_expert_used", "experts need 0 < n_expert_used <= n_expert and n_ff_exp");
  if (s.n_expert > 0 && !a.moe)
    return bad_spec("n_expert", "architecture '" + s.architecture + "' has no experts");
  return Ok{};
}

std::vector<Planned> plan_tensors(const ModelSpec& s, const ArchTraits& a) {
  Planner p(s);
  const std::uint64_t E = s.n_embd, V = s.n_vocab;
  const std::uint64_t hd = s.head_dim != 0 ? s.head_dim : (s.n_head != 0 ? s.n_embd / s.n_head : 0);
  p.add("token_embd.weight", {E, V});
  p.add("output_norm.weight", {E});
  if (s.output_type) p.add("output.weight", {E, V});
  for (std::uint32_t il = 0; il < s.n_layer; ++il) {
    const bool rec = layer_recurrent(s, a, il);
    const std::uint64_t nh = s.n_head, nkv = layer_kv_heads(s, a, il);
    p.blk(il, "attn_norm", {E});
    std::vector<std::string_view> projections;  // 2-D projections (for BitNet .scale tensors)
    if (rec) {
      const std::uint64_t di = s.ssm_d_inner, ds = s.ssm_d_state, dc = s.ssm_d_conv, r = s.ssm_dt_rank;
      if (a.ssm == SsmKind::kMamba1) {
        p.blk(il, "ssm_in", {E, 2 * di});
        p.blk(il, "ssm_conv1d", {dc, di});
        p.blk(il, "ssm_conv1d", {di}, "bias");
        p.blk(il, "ssm_x", {di, r + 2 * ds});
        p.blk(il, "ssm_dt", {r, di});
        p.blk(il, "ssm_dt", {di}, "bias");
        p.blk(il, "ssm_a", {ds, di});
        p.blk(il, "ssm_d", {di});
        p.blk(il, "ssm_out", {di, E});
      } else {
        const std::uint64_t ng = s.ssm_n_group, conv = di + 2 * ng * ds;
        p.blk(il, "ssm_in", {E, 2 * di + 2 * ng * ds + r});
        p.blk(il, "ssm_conv1d", {dc, conv});
        p.blk(il, "ssm_conv1d", {conv}, "bias");
        p.blk(il, "ssm_dt", {r}, "bias");
        p.blk(il, "ssm_a", {1, r});
        p.blk(il, "ssm_d", {1, r});
        p.blk(il, "ssm_norm", {di / ng, ng});
        p.blk(il, "ssm_out", {di, E});
      }
    } else if (a.attention == AttnKind::kMla) {
      const std::uint64_t rope = s.rope_dim, nope = hd - rope, kvr = s.kv_lora_rank;
      const std::uint64_t vd = s.v_head_dim != 0 ? s.v_head_dim : hd;
      if (s.q_lora_rank > 0) {
        p.blk(il, "attn_q_a", {E, s.q_lora_rank});
        p.blk(il, "attn_q_a_norm", {s.q_lora_rank});
        p.blk(il, "attn_q_b", {s.q_lora_rank, nh * hd});
      } else {
        p.blk(il, "attn_q", {E, nh * hd});
      }
      p.blk(il, "attn_kv_a_mqa", {E, kvr + rope});
      p.blk(il, "attn_kv_a_norm", {kvr});
      p.blk(il, "attn_k_b", {nope, kvr, nh});
      p.blk(il, "attn_v_b", {kvr, vd, nh});
      p.blk(il, "attn_output", {nh * vd, E});
    } else if (a.attention == AttnKind::kGqa) {
      if (a.fused_qkv) {
        p.blk(il, "attn_qkv", {E, nh * hd + 2 * nkv * hd});
        projections.push_back("attn_qkv");
      } else {
        p.blk(il, "attn_q", {E, nh * hd});
        p.blk(il, "attn_k", {E, nkv * hd});
        p.blk(il, "attn_v", {E, nkv * hd});
        projections.insert(projections.end(), {"attn_q", "attn_k", "attn_v"});
      }
      p.blk(il, "attn_output", {nh * hd, E});
      projections.push_back("attn_output");
      if (a.qkv_bias) {
        p.blk(il, "attn_q", {nh * hd}, "bias");
        p.blk(il, "attn_k", {nkv * hd}, "bias");
        p.blk(il, "attn_v", {nkv * hd}, "bias");
      }
      if (a.qk_norm) {
        p.blk(il, "attn_q_norm", {hd});
        p.blk(il, "attn_k_norm", {hd});
      }
      if (a.sub_norms) p.blk(il, "attn_sub_norm", {E});
      if (a.post_norms) p.blk(il, "post_attention_norm", {E});
    }
    if (a.ffn != FfnKind::kNone) {
      if (a.sub_norms) p.blk(il, "ffn_sub_norm", {s.n_ff});
      p.blk(il, "ffn_norm", {E});
      const bool moe = s.n_expert > 0 && il >= s.n_leading_dense;
      if (moe) {
        const std::uint64_t fe = s.n_ff_exp, ne = s.n_expert;
        p.blk(il, "ffn_gate_inp", {E, ne});
        p.blk(il, "ffn_gate_exps", {E, fe, ne});
        p.blk(il, "ffn_down_exps", {fe, E, ne});
        p.blk(il, "ffn_up_exps", {E, fe, ne});
        if (s.n_ff_shexp > 0) {
          if (a.shared_expert_gate) p.blk(il, "ffn_gate_inp_shexp", {E});
          p.blk(il, "ffn_gate_shexp", {E, s.n_ff_shexp});
          p.blk(il, "ffn_down_shexp", {s.n_ff_shexp, E});
          p.blk(il, "ffn_up_shexp", {E, s.n_ff_shexp});
        }
      } else if (a.ffn == FfnKind::kFusedUp) {
        p.blk(il, "ffn_up", {E, 2 * std::uint64_t{s.n_ff}});
        p.blk(il, "ffn_down", {s.n_ff, E});
        projections.insert(projections.end(), {"ffn_up", "ffn_down"});
      } else {
        p.blk(il, "ffn_gate", {E, s.n_ff});
        p.blk(il, "ffn_down", {s.n_ff, E});
        p.blk(il, "ffn_up", {E, s.n_ff});
        projections.insert(projections.end(), {"ffn_gate", "ffn_down", "ffn_up"});
      }
      if (a.post_norms) p.blk(il, "post_ffw_norm", {E});
    }
    if (a.scale_tensors)
      for (std::string_view proj : projections) p.blk(il, proj, {1}, "scale");
  }
  return std::move(p.tensors());
}

void add_metadata(GgufWriter& w, const ModelSpec& s, const ArchTraits& a) {
  const std::string& arch = s.architecture;
  auto key = [&](Hp id) { return hparam_key_name(arch, id); };
  w.add_string("general.architecture", arch);
  w.add_string("general.name", s.name.empty() ? "synth-" + arch : s.name);
  w.add_u32("general.quantization_version", 2);
  w.add_u32("general.alignment", s.alignment);
  if (s.file_type) w.add_u32("general.file_type", *s.file_type);
  if (!s.write_hparams) return;
  w.add_u32(key(Hp::kContextLength), s.n_ctx_train);
  w.add_u32(key(Hp::kEmbeddingLength), s.n_embd);
  w.add_u32(key(Hp::kBlockCount), s.n_layer);
  w.add_u32(key(Hp::kVocabSize), s.n_vocab);
  if (a.ffn != FfnKind::kNone) w.add_u32(key(Hp::kFeedForwardLength), s.n_ff);
  if (a.attention != AttnKind::kNone) {
    w.add_u32(key(Hp::kHeadCount), s.n_head);
    if (a.attention == AttnKind::kMla) {
      w.add_u32(key(Hp::kHeadCountKv), 1);
      w.add_u32(key(Hp::kKeyLength), s.kv_lora_rank + s.rope_dim);
      w.add_u32(key(Hp::kValueLength), s.kv_lora_rank);
      w.add_u32(key(Hp::kKeyLengthMla), s.head_dim);
      w.add_u32(key(Hp::kValueLengthMla), s.v_head_dim != 0 ? s.v_head_dim : s.head_dim);
      w.add_u32(key(Hp::kKvLoraRank), s.kv_lora_rank);
      if (s.q_lora_rank > 0) w.add_u32(key(Hp::kQLoraRank), s.q_lora_rank);
    } else {
      bool per_layer = !s.n_head_kv_per_layer.empty();
      for (std::uint32_t il = 0; il < s.n_layer; ++il) per_layer = per_layer || layer_recurrent(s, a, il);
      if (per_layer) {
        std::vector<std::uint32_t> kv(s.n_layer);
        for (std::uint32_t il = 0; il < s.n_layer; ++il) kv[il] = layer_kv_heads(s, a, il);
        w.add_u32_array(key(Hp::kHeadCountKv), kv);
      } else {
        w.add_u32(key(Hp::kHeadCountKv), s.n_head_kv);
      }
      if (s.head_dim != 0) {
        w.add_u32(key(Hp::kKeyLength), s.head_dim);
        w.add_u32(key(Hp::kValueLength), s.head_dim);
      }
    }
    w.add_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_f32(arch + ".rope.freq_base", s.rope_freq_base);
    if (s.rope_dim != 0) w.add_u32(key(Hp::kRopeDimensionCount), s.rope_dim);
    if (s.sliding_window != 0) w.add_u32(key(Hp::kSlidingWindow), s.sliding_window);
    if (s.swa_period != 0) w.add_u32(key(Hp::kSlidingWindowPattern), s.swa_period);
  }
  if (s.n_expert > 0) {
    w.add_u32(key(Hp::kExpertCount), s.n_expert);
    w.add_u32(key(Hp::kExpertUsedCount), s.n_expert_used);
    w.add_u32(key(Hp::kExpertFeedForwardLength), s.n_ff_exp);
    if (s.n_ff_shexp > 0) {
      w.add_u32(key(Hp::kExpertSharedCount), std::max<std::uint32_t>(1, s.n_expert_shared));
      w.add_u32(key(Hp::kExpertSharedFeedForwardLength), s.n_ff_shexp);
    }
    if (s.n_leading_dense > 0) w.add_u32(key(Hp::kLeadingDenseBlockCount), s.n_leading_dense);
  }
  if (a.ssm != SsmKind::kNone) {
    w.add_u32(key(Hp::kSsmConvKernel), s.ssm_d_conv);
    w.add_u32(key(Hp::kSsmInnerSize), s.ssm_d_inner);
    w.add_u32(key(Hp::kSsmStateSize), s.ssm_d_state);
    w.add_u32(key(Hp::kSsmTimeStepRank), s.ssm_dt_rank);
    if (a.ssm == SsmKind::kMamba2) w.add_u32(key(Hp::kSsmGroupCount), s.ssm_n_group);
  }
}

ModelSpec base(std::string arch, std::string name) {
  ModelSpec s;
  s.architecture = std::move(arch);
  s.name = std::move(name);
  return s;
}

// clang-format off
ModelSpec preset_bitnet_2b() {
  // microsoft/bitnet-b1.58-2B-4T (memory-model.md §3): I2_S blocks, F16 token_embd, tied head.
  ModelSpec s = base("bitnet-b1.58", "bitnet-b1.58-2B-4T");
  s.n_layer = 30; s.n_embd = 2560; s.n_head = 20; s.n_head_kv = 5; s.n_ff = 6912;
  s.n_vocab = 128256; s.n_merges = 280147; s.tokenizer = "gpt2"; s.tokenizer_pre = "llama-bpe";
  s.n_ctx_train = 4096; s.rope_freq_base = 500000.0f;
  s.weight_type = Q::kI2_S; s.embd_type = Q::kF16; s.output_type.reset();
  s.type_map = TypeMap::kBitnet2024; s.file_type = 40;
  return s;
}
ModelSpec preset_llama_1b_q4k() {
  // The tensor types of groundtruth/models/llama-3.2-1b-q4_k.head.gguf.
  ModelSpec s = base("llama", "llama-3.2-1b-q4_k");
  s.n_layer = 16; s.n_embd = 2048; s.n_head = 32; s.n_head_kv = 8; s.n_ff = 8192;
  s.n_vocab = 128256; s.n_merges = 279759; s.tokenizer_pre = "llama-bpe";
  s.n_ctx_train = 131072; s.rope_freq_base = 500000.0f;
  s.weight_type = Q::kQ4_K; s.embd_type = Q::kQ6_K; s.output_type.reset(); s.file_type = 15;
  return s;
}
ModelSpec tiny(std::string arch) {
  ModelSpec s = base(arch, "tiny-" + arch);
  s.n_layer = 2; s.n_embd = 256; s.n_head = 4; s.n_head_kv = 2; s.n_ff = 512;
  s.n_vocab = 1024; s.n_merges = 2000;
  return s;
}
// clang-format on

struct Preset {
  std::string_view name;
  ModelSpec (*make)();
};

const Preset kPresets[] = {
    {"bitnet-b1.58-2b-4t", preset_bitnet_2b},
    {"llama-3.2-1b-q4_k", preset_llama_1b_q4k},
    {"tiny-llama",
     [] {
       ModelSpec s = tiny("llama");  // the shape of groundtruth/models/tiny-llama-f16.head.gguf
       s.n_vocab = 4096; s.n_merges = 8392; s.output_type = Q::kF16;
       return s;
     }},
    {"tiny-qwen2",
     [] {
       ModelSpec s = tiny("qwen2");
       s.n_head = 8; s.n_head_kv = 2;
       return s;
     }},
    {"tiny-qwen3",
     [] {
       ModelSpec s = tiny("qwen3");
       s.head_dim = 128;  // key_length != n_embd / n_head
       return s;
     }},
    {"tiny-qwen2moe",
     [] {
       ModelSpec s = tiny("qwen2moe");
       s.n_expert = 8; s.n_expert_used = 2; s.n_ff_exp = 128; s.n_expert_shared = 1; s.n_ff_shexp = 256;
       s.output_type = Q::kF16;
       return s;
     }},
    {"tiny-qwen3moe",
     [] {
       ModelSpec s = tiny("qwen3moe");
       s.head_dim = 128; s.n_expert = 8; s.n_expert_used = 2; s.n_ff_exp = 256; s.output_type = Q::kQ8_0;
       s.weight_type = Q::kQ4_K; s.embd_type = Q::kQ4_K;
       return s;
     }},
    {"tiny-gemma2",
     [] {
       ModelSpec s = tiny("gemma2");
       s.n_layer = 4; s.tokenizer = "llama"; s.n_merges = 0; s.head_dim = 128;
       s.sliding_window = 256; s.swa_period = 2;
       return s;
     }},
    {"tiny-gemma3",
     [] {
       ModelSpec s = tiny("gemma3");  // period 6: layers 5 and 11 global
       s.n_layer = 12; s.n_head = 4; s.n_head_kv = 1; s.head_dim = 256; s.tokenizer = "llama"; s.n_merges = 0;
       s.sliding_window = 512; s.swa_period = 6; s.weight_type = Q::kQ8_0; s.embd_type = Q::kQ8_0;
       return s;
     }},
    {"tiny-phi3",
     [] {
       ModelSpec s = tiny("phi3");
       s.n_head_kv = 4; s.output_type = Q::kF16;
       return s;
     }},
    {"tiny-bitnet-tq2_0",
     [] {
       ModelSpec s = tiny("bitnet");  // upstream bitnet: TQ2_0 blocks, .scale tensors, tied F16 head
       s.n_head = 4; s.n_head_kv = 1; s.n_ff = 768; s.weight_type = Q::kTQ2_0; s.file_type = 37;
       return s;
     }},
    {"tiny-bitnet-b1.58-i2_s",
     [] {
       ModelSpec s = tiny("bitnet-b1.58");
       s.n_ff = 768; s.weight_type = Q::kI2_S; s.type_map = TypeMap::kBitnet2024; s.file_type = 40;
       return s;
     }},
    {"tiny-bitnet-25-tl2",
     [] {
       ModelSpec s = tiny("bitnet-25");  // TL2 with the port's id 42
       s.n_embd = 512; s.n_head = 8; s.n_ff = 1024; s.weight_type = Q::kTL2; s.type_map = TypeMap::kBitnetPort;
       return s;
     }},
    {"tiny-deepseek2",
     [] {
       ModelSpec s = tiny("deepseek2");  // MLA; block 0 dense, blocks 1.. MoE with a shared expert
       s.n_layer = 3; s.n_head = 4; s.head_dim = 96; s.rope_dim = 32; s.v_head_dim = 64;
       s.kv_lora_rank = 128; s.q_lora_rank = 128; s.n_expert = 4; s.n_expert_used = 2; s.n_ff_exp = 128;
       s.n_expert_shared = 1; s.n_ff_shexp = 128; s.n_leading_dense = 1; s.output_type = Q::kF16;
       return s;
     }},
    {"tiny-mamba",
     [] {
       ModelSpec s = tiny("mamba");
       s.n_head = 0; s.n_head_kv = 0; s.n_ff = 0; s.ssm_d_conv = 4; s.ssm_d_inner = 512; s.ssm_d_state = 16;
       s.ssm_dt_rank = 16;
       return s;
     }},
    {"tiny-mamba2",
     [] {
       ModelSpec s = tiny("mamba2");
       s.n_head = 0; s.n_head_kv = 0; s.n_ff = 0; s.ssm_d_conv = 4; s.ssm_d_inner = 512; s.ssm_d_state = 64;
       s.ssm_n_group = 2; s.ssm_dt_rank = 8;
       return s;
     }},
    {"tiny-granitehybrid",
     [] {
       ModelSpec s = tiny("granitehybrid");  // Mamba2 blocks 0, 1, 3; attention in block 2
       s.n_layer = 4; s.recurrent_layers = {true, true, false, true};
       s.ssm_d_conv = 4; s.ssm_d_inner = 512; s.ssm_d_state = 32; s.ssm_n_group = 1; s.ssm_dt_rank = 8;
       return s;
     }},
};

}  // namespace

std::vector<std::string_view> preset_names() {
  std::vector<std::string_view> out;
  for (const Preset& p : kPresets) out.push_back(p.name);
  return out;
}

Result<ModelSpec> preset(std::string_view name) {
  for (const Preset& p : kPresets)
    if (p.name == name) return p.make();
  std::string known;
  for (const Preset& p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p.name);
  return Error{Errc::kInvalidArgument, "unknown preset '" + std::string(name) + "'", kNoOffset, "preset",
               "known presets: " + known};
}

Result<GgufWriter> build_gguf(const ModelSpec& spec) {
  const ArchTraits* known = find_arch(spec.architecture);
  const ArchTraits& a = known != nullptr ? *known : generic_arch_traits();
  if (spec.architecture.empty()) return bad_spec("architecture", "general.architecture must not be empty");
  if (spec.alignment == 0 || (spec.alignment & (spec.alignment - 1)) != 0)
    return bad_spec("alignment", "alignment must be a power of two");
  BITNET_TRY(validate(spec, a));

  GgufWriter w;
  w.set_alignment(spec.alignment);
  add_metadata(w, spec, a);
  BITNET_TRY(add_tokenizer(w, TokenizerSpec{spec.tokenizer, spec.tokenizer_pre, spec.n_vocab, spec.n_merges}));
  for (const Planned& t : plan_tensors(spec, a)) {
    BITNET_ASSIGN_OR_RETURN(const QuantTraits* row, row_for(t.type, spec.type_map));
    Dims4 ne{1, 1, 1, 1};
    for (std::size_t d = 0; d < t.ne.size(); ++d) ne[d] = t.ne[d];
    auto nbytes = tensor_bytes(*row, ne);
    if (!nbytes) {
      Error e = std::move(nbytes).error();
      e.message = t.name + ": " + e.message;
      e.field = t.name;
      e.hint = "choose shapes whose row length fits the type's block, or another type";
      return e;
    }
    w.add_tensor(t.name, row->id, t.ne, *nbytes);
  }
  return w;
}

Result<std::uint64_t> synthesize(const ModelSpec& spec, const std::string& path, bool header_only) {
  BITNET_ASSIGN_OR_RETURN(const GgufWriter w, build_gguf(spec));
  BITNET_TRY(w.write(path, header_only));
  return w.file_bytes();
}

}  // namespace bitnet::detail
