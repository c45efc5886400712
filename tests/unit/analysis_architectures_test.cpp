// Every architecture in the table: a small synthesized model is analysed, and every hyperparameter
// equals the spec it was made from. Expected values come from the spec and hand formulas written
// here (MLA K width = kv_lora_rank + rope_dim; Mamba state widths; SWA: every p-th layer global).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "analysis/model_analysis.h"
#include "format/gguf_reader.h"
#include "synth/model_spec.h"

namespace bitnet::detail {
namespace {

struct Model {
  std::vector<std::byte> bytes;
  GgufFile file;
  ModelStructureInfo info;
};

// Builds the whole file (header + zero data) in memory, parses and analyses it.
::testing::AssertionResult build(const ModelSpec& spec, Model& out, bool header_only = false,
                                 GgufWriter* extra_keys = nullptr) {
  auto w = build_gguf(spec);
  if (!w) return ::testing::AssertionFailure() << w.error().to_string();
  if (extra_keys != nullptr) *extra_keys = *w;
  const GgufWriter& use = extra_keys != nullptr ? *extra_keys : *w;
  std::string s = use.header();
  if (!header_only) s.resize(use.file_bytes(), '\0');
  out.bytes.resize(s.size());
  std::transform(s.begin(), s.end(), out.bytes.begin(), [](char c) { return static_cast<std::byte>(c); });
  GgufParseOptions po;
  po.header_only = header_only;
  auto f = parse_gguf(out.bytes, po);
  if (!f) return ::testing::AssertionFailure() << f.error().to_string();
  out.file = std::move(f).value();
  auto m = analyse_gguf(out.file, {});
  if (!m) return ::testing::AssertionFailure() << m.error().to_string();
  out.info = std::move(m).value();
  return ::testing::AssertionSuccess();
}

// A hand-written file (header + zero data) in `bytes`, parsed; the caller analyses it.
Result<GgufFile> parse_written(const GgufWriter& w, std::vector<std::byte>& bytes) {
  std::string h = w.header();
  h.resize(w.file_bytes(), '\0');
  bytes.resize(h.size());
  std::transform(h.begin(), h.end(), bytes.begin(), [](char c) { return static_cast<std::byte>(c); });
  return parse_gguf(bytes);
}

enum class Kind { kGqa, kMla, kRecurrent, kHybrid };
struct ArchCase {
  const char* preset;
  const char* arch;
  Kind kind;
  std::uint32_t swa_period;  // 0: no sliding-window layers
  TypeMap type_map;
};
// What each family is (model cards / llama.cpp), written independently of the code's tables.
const ArchCase kCases[] = {
    {"tiny-llama", "llama", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-qwen2", "qwen2", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-qwen3", "qwen3", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-qwen2moe", "qwen2moe", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-qwen3moe", "qwen3moe", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-gemma2", "gemma2", Kind::kGqa, 2, TypeMap::kUpstream},
    {"tiny-gemma3", "gemma3", Kind::kGqa, 6, TypeMap::kUpstream},
    {"tiny-phi3", "phi3", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-bitnet-tq2_0", "bitnet", Kind::kGqa, 0, TypeMap::kUpstream},
    {"tiny-bitnet-b1.58-i2_s", "bitnet-b1.58", Kind::kGqa, 0, TypeMap::kBitnet2024},
    {"tiny-bitnet-25-tl2", "bitnet-25", Kind::kGqa, 0, TypeMap::kBitnetPort},
    {"tiny-deepseek2", "deepseek2", Kind::kMla, 0, TypeMap::kUpstream},
    {"tiny-mamba", "mamba", Kind::kRecurrent, 0, TypeMap::kUpstream},
    {"tiny-mamba2", "mamba2", Kind::kRecurrent, 0, TypeMap::kUpstream},
    {"tiny-granitehybrid", "granitehybrid", Kind::kHybrid, 0, TypeMap::kUpstream},
};

std::uint64_t pad(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

TEST(AnalysisArchitectures, EverySynthesizedFamilyMatchesItsSpec) {
  for (const ArchCase& c : kCases) {
    SCOPED_TRACE(c.preset);
    auto spec = preset(c.preset);
    ASSERT_TRUE(spec) << spec.error().to_string();
    const ModelSpec& s = *spec;
    Model mod;
    ASSERT_TRUE(build(s, mod));
    const ModelStructureInfo& m = mod.info;

    EXPECT_EQ(m.architecture, c.arch);
    EXPECT_TRUE(m.architecture_known);
    EXPECT_EQ(m.hparams_basis, Basis::kExact);
    EXPECT_EQ(m.type_map, c.type_map) << m.type_map_reason;
    EXPECT_EQ(m.n_layer, s.n_layer);
    ASSERT_EQ(m.layers.size(), s.n_layer);
    EXPECT_EQ(m.n_embd, s.n_embd);
    EXPECT_EQ(m.n_vocab, s.n_vocab);
    EXPECT_EQ(m.n_ctx_train, s.n_ctx_train);
    EXPECT_EQ(m.n_expert, s.n_expert);
    EXPECT_EQ(m.n_expert_used, s.n_expert_used);
    EXPECT_EQ(m.n_ff_exp, s.n_ff_exp);
    EXPECT_EQ(m.tied_output, !s.output_type.has_value());
    EXPECT_EQ(m.mla, c.kind == Kind::kMla);
    EXPECT_EQ(m.sliding_window.has_value(), c.swa_period != 0);
    if (c.swa_period != 0) {
      EXPECT_EQ(*m.sliding_window, s.sliding_window);
    }
    EXPECT_EQ(m.tokenizer.n_tokens, s.n_vocab);
    EXPECT_EQ(m.tokenizer.n_merges, s.n_merges);
    EXPECT_EQ(m.tokenizer.has_scores, s.tokenizer == "llama");
    EXPECT_EQ(m.tokenizer.model, s.tokenizer);
    EXPECT_TRUE(m.warnings.empty()) << m.warnings.front();

    bool any_recurrent = false;
    for (std::uint32_t il = 0; il < s.n_layer; ++il) {
      SCOPED_TRACE(il);
      const LayerInfo& L = m.layers[il];
      const bool rec = c.kind == Kind::kRecurrent || (c.kind == Kind::kHybrid && s.recurrent_layers[il]);
      any_recurrent = any_recurrent || rec;
      const bool moe = s.n_expert > 0 && il >= s.n_leading_dense;
      EXPECT_EQ(L.is_moe, moe);
      if (rec) {
        EXPECT_EQ(L.kind, LayerKind::kRecurrent);
        const std::uint64_t d_conv = s.ssm_d_conv, d_inner = s.ssm_d_inner, d_state = s.ssm_d_state;
        const std::uint64_t groups = s.ssm_n_group;  // 0 for Mamba1
        EXPECT_EQ(L.n_embd_r, (d_conv - 1) * (d_inner + 2 * groups * d_state));
        EXPECT_EQ(L.n_embd_s, d_state * d_inner);
        EXPECT_EQ(L.n_embd_k_gqa, 0u);
        EXPECT_EQ(L.n_embd_v_gqa, 0u);
      } else if (c.kind == Kind::kMla) {
        EXPECT_EQ(L.kind, LayerKind::kAttention);
        EXPECT_EQ(L.n_head_kv, 1u);
        EXPECT_EQ(L.n_embd_k_gqa, std::uint64_t{s.kv_lora_rank} + s.rope_dim);
        EXPECT_EQ(L.head_dim_k, s.kv_lora_rank + s.rope_dim);
        EXPECT_EQ(L.n_embd_v_gqa, 0u);
        EXPECT_EQ(L.n_head, s.n_head);
      } else {
        EXPECT_EQ(L.kind, LayerKind::kAttention);
        const std::uint32_t kv = s.n_head_kv_per_layer.empty() ? s.n_head_kv : s.n_head_kv_per_layer[il];
        const std::uint32_t hd = s.head_dim != 0 ? s.head_dim : s.n_embd / s.n_head;
        EXPECT_EQ(L.n_head, s.n_head);
        EXPECT_EQ(L.n_head_kv, kv);
        EXPECT_EQ(L.head_dim_k, hd);
        EXPECT_EQ(L.head_dim_v, hd);
        EXPECT_EQ(L.n_embd_k_gqa, std::uint64_t{kv} * hd);
        EXPECT_EQ(L.n_embd_v_gqa, std::uint64_t{kv} * hd);
        EXPECT_EQ(L.n_embd_r, 0u);
        // Period p: layers p-1, 2p-1, ... are global.
        EXPECT_EQ(L.is_swa, c.swa_period != 0 && (il + 1) % c.swa_period != 0);
      }
      const bool has_ffn = c.kind != Kind::kRecurrent;
      EXPECT_EQ(L.n_ff, has_ffn && !moe ? s.n_ff : 0u);
    }
    EXPECT_EQ(m.recurrent, any_recurrent);
    if (c.kind != Kind::kRecurrent) {
      EXPECT_EQ(m.n_head, s.n_head);
      EXPECT_EQ(m.n_ff, s.n_ff);
    }

    // Parameters: the element products of the reader's tensor infos.
    std::uint64_t params = 0;
    for (const GgufTensorInfo& t : mod.file.tensors) params += t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
    EXPECT_EQ(m.parameter_count, params);
    EXPECT_EQ(m.tensors.size(), mod.file.tensors.size());

    // Span check: pad(nbytes_i, align) == off_{i+1} - off_i on every tensor; the last one ends the file.
    std::vector<const TensorInfo*> by_off;
    for (const TensorInfo& t : m.tensors) by_off.push_back(&t);
    std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (std::size_t k = 0; k < by_off.size(); ++k) {
      const TensorInfo& t = *by_off[k];
      const std::uint64_t next = k + 1 < by_off.size() ? by_off[k + 1]->offset : m.file_bytes - m.header_bytes;
      EXPECT_EQ(pad(t.nbytes, m.alignment), next - t.offset) << t.name;
      EXPECT_EQ(t.span, next - t.offset) << t.name;
      EXPECT_EQ(t.size_basis, Basis::kExact) << t.name;
    }

    // Roles: every synthesized name has a row; experts are MUL_MAT_ID; the embedding is GET_ROWS.
    for (const TensorInfo& t : m.tensors) {
      SCOPED_TRACE(t.name);
      if (t.name.find("_exps.") != std::string::npos) {
        EXPECT_EQ(t.op, TensorOp::kMulMatId);
      }
      if (t.name.rfind("blk.", 0) == 0) {
        EXPECT_EQ(t.layer_class, LayerClass::kRepeating);
        EXPECT_EQ(t.layer, std::stoi(t.name.substr(4)));
        // 1-D tensors are norms, biases and scales, except the shared-expert gate vector, which
        // llama.cpp multiplies with MUL_MAT (a one-row matrix).
        if (t.n_dims == 1 && t.name.find("ffn_gate_inp_shexp") == std::string::npos) {
          EXPECT_EQ(t.op, TensorOp::kOther);
        }
      } else {
        EXPECT_EQ(t.layer, -1);
      }
    }
    const TensorInfo* te = m.find_tensor("token_embd.weight");
    ASSERT_NE(te, nullptr);
    EXPECT_EQ(te->layer_class, LayerClass::kInput);
    EXPECT_EQ(te->op, TensorOp::kGetRows);
    EXPECT_EQ(te->type, s.embd_type);
    const TensorInfo* on = m.find_tensor("output_norm.weight");
    ASSERT_NE(on, nullptr);
    EXPECT_EQ(on->layer_class, LayerClass::kOutput);
    EXPECT_EQ(on->op, TensorOp::kOther);
    if (const TensorInfo* out = m.find_tensor("output.weight")) {
      EXPECT_EQ(out->layer_class, LayerClass::kOutput);
      EXPECT_EQ(out->op, TensorOp::kMulMat);
    }
  }
}

TEST(AnalysisArchitectures, HeaderOnlyFileSizeIsDataOffsetPlusPaddedSizes) {
  auto s = preset("tiny-qwen3moe");
  ASSERT_TRUE(s);
  Model full, head;
  ASSERT_TRUE(build(*s, full));
  ASSERT_TRUE(build(*s, head, /*header_only=*/true));
  EXPECT_TRUE(head.info.header_only);
  EXPECT_EQ(head.info.file_bytes, full.bytes.size());
  EXPECT_EQ(head.info.header_bytes, full.info.header_bytes);
  EXPECT_EQ(head.info.tensor_bytes, full.info.tensor_bytes);
  for (const TensorInfo& t : head.info.tensors) EXPECT_EQ(t.span, 0u) << t.name;
}

TEST(AnalysisArchitectures, UnknownArchitectureIsDerivedFromTensorShapes) {
  auto s = preset("tiny-llama");  // 256 wide, 4 heads of 64, 2 KV heads, n_ff 512, 4096 tokens
  ASSERT_TRUE(s);
  s->architecture = "mystery-lm";
  s->write_hparams = false;
  Model mod;
  GgufWriter w;
  ASSERT_TRUE(build(*s, mod, false, &w));  // first without key_length
  // ... then with key_length, which fixes the head size.
  w.add_u32("mystery-lm.attention.key_length", 64);
  Model keyed;
  {
    std::string h = w.header();
    h.resize(w.file_bytes(), '\0');
    keyed.bytes.resize(h.size());
    std::transform(h.begin(), h.end(), keyed.bytes.begin(), [](char c) { return static_cast<std::byte>(c); });
    auto f = parse_gguf(keyed.bytes);
    ASSERT_TRUE(f) << f.error().to_string();
    keyed.file = std::move(f).value();
    auto m = analyse_gguf(keyed.file, {});
    ASSERT_TRUE(m) << m.error().to_string();
    keyed.info = std::move(m).value();
  }
  for (const ModelStructureInfo* m : {&mod.info, &keyed.info}) {
    EXPECT_FALSE(m->architecture_known);
    EXPECT_EQ(m->hparams_basis, Basis::kDerived);
    EXPECT_FALSE(m->warnings.empty());
    EXPECT_EQ(m->n_layer, 2u);
    EXPECT_EQ(m->n_embd, 256u);
    EXPECT_EQ(m->n_vocab, 4096u);
    EXPECT_EQ(m->n_ff, 512u);
    EXPECT_FALSE(m->tied_output);
  }
  // With key_length 64: attn_q [256, 256] -> 4 heads, attn_k [256, 128] -> 2 KV heads.
  EXPECT_EQ(keyed.info.n_head, 4u);
  EXPECT_EQ(keyed.info.n_head_kv, 2u);
  EXPECT_EQ(keyed.info.head_dim_k, 64u);
  EXPECT_EQ(keyed.info.layers[1].n_embd_k_gqa, 128u);
}

TEST(AnalysisArchitectures, MissingRequiredKeyNamesTheFullKey) {
  auto s = preset("tiny-bitnet-b1.58-i2_s");
  ASSERT_TRUE(s);
  s->write_hparams = false;
  auto w = build_gguf(*s);
  ASSERT_TRUE(w);
  std::string h = w->header();
  h.resize(w->file_bytes(), '\0');
  std::vector<std::byte> bytes(h.size());
  std::transform(h.begin(), h.end(), bytes.begin(), [](char c) { return static_cast<std::byte>(c); });
  auto f = parse_gguf(bytes);
  ASSERT_TRUE(f);
  auto m = analyse_gguf(*f, {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kMissingKey);
  EXPECT_EQ(m.error().field, "bitnet-b1.58.embedding_length");  // the key keeps the dotted arch name
  EXPECT_FALSE(m.error().hint.empty());
}

TEST(AnalysisArchitectures, PerLayerArrayMustHaveOneEntryPerBlock) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_u32("llama.embedding_length", 64);
  w.add_u32("llama.attention.head_count", 2);
  w.add_u32_array("llama.attention.head_count_kv", {1, 1, 1});
  w.add_tensor("token_embd.weight", 0, {64, 8}, 64 * 8 * 4);
  std::vector<std::byte> bytes;
  auto f = parse_written(w, bytes);
  ASSERT_TRUE(f);
  auto m = analyse_gguf(*f, {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kMalformed);
  EXPECT_EQ(m.error().field, "llama.attention.head_count_kv");
  EXPECT_NE(m.error().offset, kNoOffset);
  EXPECT_FALSE(m.error().hint.empty());
}

TEST(AnalysisArchitectures, HybridLayersComeFromKvHeadArrayNotTheName) {
  // The same granitehybrid shape with a different recurrent pattern gives a different split.
  auto s = preset("tiny-granitehybrid");
  ASSERT_TRUE(s);
  s->recurrent_layers = {false, true, true, false};
  Model mod;
  ASSERT_TRUE(build(*s, mod));
  EXPECT_EQ(mod.info.layers[0].kind, LayerKind::kAttention);
  EXPECT_EQ(mod.info.layers[1].kind, LayerKind::kRecurrent);
  EXPECT_EQ(mod.info.layers[2].kind, LayerKind::kRecurrent);
  EXPECT_EQ(mod.info.layers[3].kind, LayerKind::kAttention);
  EXPECT_EQ(mod.info.layers[3].n_head_kv, s->n_head_kv);
}

}  // namespace
}  // namespace bitnet::detail

namespace bitnet::detail {
namespace {

TEST(AnalysisArchitectures, OldDeepseek2WithoutMlaKeysUsesAFullCache) {
  // Before key_length_mla existed, llama.cpp ran deepseek2 files as multi-head attention:
  // K = head_count_kv * key_length, V = head_count_kv * value_length per cell.
  GgufWriter w;
  w.add_string("general.architecture", "deepseek2");
  w.add_u32("deepseek2.block_count", 1);
  w.add_u32("deepseek2.embedding_length", 256);
  w.add_u32("deepseek2.attention.head_count", 4);
  w.add_u32("deepseek2.attention.head_count_kv", 4);
  w.add_u32("deepseek2.attention.key_length", 96);
  w.add_u32("deepseek2.attention.value_length", 64);
  w.add_u32("deepseek2.attention.kv_lora_rank", 128);
  w.add_u32("deepseek2.rope.dimension_count", 32);
  w.add_tensor("token_embd.weight", 0, {256, 300}, 256 * 300 * 4);
  std::vector<std::byte> bytes;
  auto f = parse_written(w, bytes);
  ASSERT_TRUE(f);
  auto m = analyse_gguf(*f, {});
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_FALSE(m->mla);
  EXPECT_FALSE(m->warnings.empty());
  EXPECT_EQ(m->layers[0].n_head_kv, 4u);
  EXPECT_EQ(m->layers[0].n_embd_k_gqa, 4u * 96u);
  EXPECT_EQ(m->layers[0].n_embd_v_gqa, 4u * 64u);
}

}  // namespace
}  // namespace bitnet::detail

namespace bitnet::detail {
namespace {

Result<ModelStructureInfo> analyse_writer(const GgufWriter& w, std::vector<std::byte>& keep) {
  std::string h = w.header();
  h.resize(w.file_bytes(), '\0');
  keep.resize(h.size());
  std::transform(h.begin(), h.end(), keep.begin(), [](char c) { return static_cast<std::byte>(c); });
  BITNET_ASSIGN_OR_RETURN(const GgufFile f, parse_gguf(keep));
  return analyse_gguf(f, {});
}

TEST(AnalysisArchitectures, HostileMetadataIsRejectedWithKeyAndOffset) {
  std::vector<std::byte> keep;
  {  // No general.architecture.
    GgufWriter w;
    w.add_tensor("token_embd.weight", 0, {8, 8}, 256);
    auto m = analyse_writer(w, keep);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, Errc::kMissingKey);
    EXPECT_EQ(m.error().field, "general.architecture");
  }
  {  // general.architecture is not a string.
    GgufWriter w;
    w.add_u32("general.architecture", 7);
    auto m = analyse_writer(w, keep);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, Errc::kTypeMismatch);
  }
  {  // An absurd block count.
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_u32("llama.block_count", 1000000000);
    w.add_u32("llama.embedding_length", 64);
    w.add_u32("llama.attention.head_count", 1);
    w.add_tensor("token_embd.weight", 0, {64, 8}, 64 * 8 * 4);
    auto m = analyse_writer(w, keep);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, Errc::kMalformed);
    EXPECT_EQ(m.error().field, "llama.block_count");
    EXPECT_NE(m.error().offset, kNoOffset);
  }
  {  // A scalar-only key given as an array.
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_u32("llama.block_count", 1);
    w.add_u32_array("llama.embedding_length", {64});
    w.add_u32("llama.attention.head_count", 1);
    w.add_tensor("token_embd.weight", 0, {64, 8}, 64 * 8 * 4);
    auto m = analyse_writer(w, keep);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, Errc::kTypeMismatch);
    EXPECT_EQ(m.error().field, "llama.embedding_length");
  }
  {  // A tensor of a block beyond block_count.
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_u32("llama.block_count", 1);
    w.add_u32("llama.embedding_length", 64);
    w.add_u32("llama.attention.head_count", 1);
    w.add_tensor("blk.5.attn_norm.weight", 0, {64}, 256);
    auto m = analyse_writer(w, keep);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, Errc::kMalformed);
  }
  {  // More experts used than exist.
    GgufWriter w;
    w.add_string("general.architecture", "qwen3moe");
    w.add_u32("qwen3moe.block_count", 1);
    w.add_u32("qwen3moe.embedding_length", 64);
    w.add_u32("qwen3moe.attention.head_count", 1);
    w.add_u32("qwen3moe.expert_count", 2);
    w.add_u32("qwen3moe.expert_used_count", 4);
    w.add_tensor("token_embd.weight", 0, {64, 8}, 64 * 8 * 4);
    auto m = analyse_writer(w, keep);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, Errc::kMalformed);
    EXPECT_EQ(m.error().field, "qwen3moe.expert_used_count");
  }
}

}  // namespace
}  // namespace bitnet::detail

namespace bitnet::detail {
namespace {

TEST(AnalysisArchitectures, PerLayerHeadCountsResolvePerLayer) {
  // OpenELM-style per-layer arrays: layer 0 has 4 heads (64 wide), layer 1 has 8 (32 wide).
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_u32("llama.embedding_length", 256);
  w.add_u32_array("llama.attention.head_count", {4, 8});
  w.add_u32_array("llama.attention.head_count_kv", {2, 4});
  w.add_u32_array("llama.feed_forward_length", {512, 768});
  w.add_tensor("token_embd.weight", 0, {256, 300}, 256 * 300 * 4);
  w.add_tensor("blk.0.ffn_down.weight", 0, {512, 256}, 512 * 256 * 4);
  w.add_tensor("blk.1.ffn_down.weight", 0, {768, 256}, 768 * 256 * 4);
  std::vector<std::byte> keep;
  std::string h = w.header();
  h.resize(w.file_bytes(), '\0');
  keep.resize(h.size());
  std::transform(h.begin(), h.end(), keep.begin(), [](char c) { return static_cast<std::byte>(c); });
  auto f = parse_gguf(keep);
  ASSERT_TRUE(f);
  auto m = analyse_gguf(*f, {});
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->layers[0].head_dim_k, 256u / 4);
  EXPECT_EQ(m->layers[1].head_dim_k, 256u / 8);
  EXPECT_EQ(m->layers[0].n_embd_k_gqa, 2u * 64);
  EXPECT_EQ(m->layers[1].n_embd_k_gqa, 4u * 32);
  EXPECT_EQ(m->layers[0].n_ff, 512u);
  EXPECT_EQ(m->layers[1].n_ff, 768u);
  EXPECT_EQ(m->n_head, 8u);
  EXPECT_EQ(m->n_head_kv, 4u);
  EXPECT_EQ(m->n_ff, 768u);
}

}  // namespace
}  // namespace bitnet::detail

namespace bitnet::detail {
namespace {

TEST(AnalysisArchitectures, RecurrentStateWidthOverflowIsAnError) {
  // Each SSM key within its bound, their product (d_conv-1)*(d_inner + 2*n_group*d_state) past 2^64.
  GgufWriter w;
  w.add_string("general.architecture", "mamba2");
  w.add_u32("mamba2.block_count", 1);
  w.add_u32("mamba2.embedding_length", 64);
  w.add_u32("mamba2.ssm.conv_kernel", 1u << 24);
  w.add_u32("mamba2.ssm.inner_size", 1u << 24);
  w.add_u32("mamba2.ssm.state_size", 1u << 24);
  w.add_u32("mamba2.ssm.group_count", 1u << 16);
  w.add_tensor("token_embd.weight", 0, {64, 8}, 64 * 8 * 4);
  std::vector<std::byte> bytes;
  auto f = parse_written(w, bytes);
  ASSERT_TRUE(f);
  auto m = analyse_gguf(*f, {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kOverflow);
}

}  // namespace
}  // namespace bitnet::detail

namespace bitnet::detail {
namespace {

// Tokens longer than libstdc++'s 15-byte small-string buffer live on the heap; each copy costs a
// glibc malloc chunk of max(32, round_up(len + 1 + 8, 16)) bytes. Expected values by hand.
TEST(AnalysisTokenizer, LongTokensAreCountedWithTheirMallocChunks) {
  GgufWriter t;
  t.add_string("general.architecture", "llama");
  t.add_u32("llama.block_count", 1);
  t.add_u32("llama.embedding_length", 64);
  t.add_u32("llama.attention.head_count", 2);
  t.add_u32("llama.context_length", 128);
  t.add_u32("llama.feed_forward_length", 128);
  t.add_string("tokenizer.ggml.model", "llama");
  t.add_string_array("tokenizer.ggml.tokens", {"a", std::string(15, 'b'), std::string(16, 'c'),
                                               std::string(24, 'd'), std::string(40, 'e')});
  t.add_tensor("token_embd.weight", 0, {64, 5}, 64 * 5 * 4);
  std::vector<std::byte> bytes;
  auto f = parse_written(t, bytes);
  ASSERT_TRUE(f) << f.error().to_string();
  auto m = analyse_gguf(*f, {});
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->tokenizer.n_tokens, 5u);
  EXPECT_EQ(m->tokenizer.n_long_tokens, 3u);
  // 16 bytes -> 17 + 8 = 25 -> 32; 24 -> 33 -> 48; 40 -> 49 -> 64.
  EXPECT_EQ(m->tokenizer.long_token_heap_bytes, 32u + 48u + 64u);
}

}  // namespace
}  // namespace bitnet::detail
