// Presets and synthesized files: the BitNet 2B-4T preset against the hand arithmetic of
// memory-model.md §3, the llama-3.2-1b / tiny-llama presets against the ground-truth records of
// the files they mirror, tokenizers, sparse writing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>
#include <vector>

#include "analysis/model_analysis.h"
#include "format/gguf_reader.h"
#include "format/mapped_file.h"
#include "synth/model_spec.h"
#include "synth/tokenizer_synth.h"

namespace bitnet::detail {
namespace {

std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::transform(s.begin(), s.end(), b.begin(), [](char c) { return static_cast<std::byte>(c); });
  return b;
}

Result<ModelStructureInfo> analyse_header(const GgufWriter& w, std::vector<std::byte>& keep) {
  keep = to_bytes(w.header());
  GgufParseOptions po;
  po.header_only = true;
  BITNET_ASSIGN_OR_RETURN(const GgufFile f, parse_gguf(keep, po));
  return analyse_gguf(f, {});
}

nlohmann::json gt_model(const std::string& header_file) {
  for (const char* name : {"cpu-llamacpp.jsonl", "gpu-llamacpp.jsonl", "cpu16-llamacpp.jsonl"}) {
    std::ifstream in(std::string(BITNET_SHARED_DIR) + "/groundtruth/" + name);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j["model"]["header_file"] == header_file) return j["model"];
    }
  }
  return {};
}

// The 2B-4T tensor data by hand (memory-model.md §3): I2_S = n/4 + 32 per tensor.
constexpr std::uint64_t i2s(std::uint64_t a, std::uint64_t b) { return a * b / 4 + 32; }
constexpr std::uint64_t kLayerI2s = 2 * i2s(2560, 2560) + 2 * i2s(2560, 640) + 3 * i2s(2560, 6912);
constexpr std::uint64_t kLayerNorms = (3 * 2560 + 6912) * 4;
constexpr std::uint64_t kEmbdF16 = 2560ull * 128256 * 2;
constexpr std::uint64_t kData2B = 30 * (kLayerI2s + kLayerNorms) + kEmbdF16 + 2560 * 4;
static_assert(kLayerI2s == 17367264, "memory-model.md §3 per-layer I2_S bytes");
static_assert(kLayerNorms == 58368, "memory-model.md §3 per-layer norm bytes");
static_assert(kData2B == 1179449920, "memory-model.md §3 tensor data");

TEST(SynthPresets, Bitnet2B4TMatchesTheHandArithmetic) {
  auto s = preset("bitnet-b1.58-2b-4t");
  ASSERT_TRUE(s) << s.error().to_string();
  auto w = build_gguf(*s);
  ASSERT_TRUE(w) << w.error().to_string();
  EXPECT_EQ(w->data_bytes(), kData2B);  // every size is a multiple of 32: no padding
  std::vector<std::byte> keep;
  auto m = analyse_header(*w, keep);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->architecture, "bitnet-b1.58");
  EXPECT_EQ(m->tensor_bytes, kData2B);
  EXPECT_EQ(m->file_bytes, w->data_offset() + kData2B);
  EXPECT_EQ(m->n_layer, 30u);
  EXPECT_EQ(m->n_embd, 2560u);
  EXPECT_EQ(m->n_head, 20u);
  EXPECT_EQ(m->n_head_kv, 5u);
  EXPECT_EQ(m->head_dim_k, 128u);
  EXPECT_EQ(m->head_dim_v, 128u);
  EXPECT_EQ(m->n_ff, 6912u);
  EXPECT_EQ(m->n_vocab, 128256u);
  for (const LayerInfo& L : m->layers) {
    EXPECT_EQ(L.n_embd_k_gqa, 640u);
    EXPECT_EQ(L.n_embd_v_gqa, 640u);
  }
  EXPECT_TRUE(m->tied_output);
  EXPECT_EQ(m->type_map, TypeMap::kBitnet2024) << m->type_map_reason;
  EXPECT_EQ(m->quantization_type, QuantizationType::kI2_S);
  EXPECT_EQ(m->tensors.size(), 2u + 30u * 11u);  // token_embd, output_norm, 11 per block
  EXPECT_EQ(m->tensor_types.at("I2_S").count, 30u * 7u);
  EXPECT_EQ(m->tensor_types.at("I2_S").bytes, 30 * kLayerI2s);
  EXPECT_EQ(m->tokenizer.n_tokens, 128256u);
  EXPECT_GE(m->tokenizer.n_merges, 279000u);
  EXPECT_LE(m->tokenizer.n_merges, 281000u);
  // I2_S is written with id 36 (both BitNet maps).
  EXPECT_EQ(m->find_tensor("blk.0.attn_q.weight")->type_id, 36u);
}

TEST(SynthPresets, Bitnet2B4TIsWrittenSparse) {
  auto s = preset("bitnet-b1.58-2b-4t");
  ASSERT_TRUE(s);
  const std::string path = ::testing::TempDir() + "bitnet_2b_synth_" + std::to_string(::getpid()) + ".gguf";
  auto size = synthesize(*s, path);
  ASSERT_TRUE(size) << size.error().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), *size);
  // Only the header occupies disk (allow 1 MiB of file-system slack).
  auto w = build_gguf(*s);
  ASSERT_TRUE(w);
  EXPECT_LE(static_cast<std::uint64_t>(st.st_blocks) * 512, w->data_offset() + (1u << 20));
  {
    // A whole-file analysis: real spans, including the last tensor's.
    auto file = MappedFile::open(path);
    ASSERT_TRUE(file) << file.error().to_string();
    auto f = parse_gguf(file->bytes());
    ASSERT_TRUE(f) << f.error().to_string();
    auto m = analyse_gguf(*f, {});
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_FALSE(m->header_only);
    EXPECT_EQ(m->file_bytes, *size);
    EXPECT_EQ(m->tensor_bytes, kData2B);
    EXPECT_EQ(m->type_map, TypeMap::kBitnet2024) << m->type_map_reason;
  }
  std::remove(path.c_str());
}

void expect_matches_record(const char* preset_name, const char* header_file) {
  SCOPED_TRACE(preset_name);
  const nlohmann::json rec = gt_model(header_file);
  ASSERT_FALSE(rec.is_null()) << header_file;
  auto s = preset(preset_name);
  ASSERT_TRUE(s);
  auto w = build_gguf(*s);
  ASSERT_TRUE(w) << w.error().to_string();
  std::vector<std::byte> keep;
  auto m = analyse_header(*w, keep);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->parameter_count, rec["n_params"].get<std::uint64_t>());
  EXPECT_EQ(m->tensors.size(), rec["n_tensors"].get<std::size_t>());
  EXPECT_EQ(m->data_bytes(), rec["data_bytes"].get<std::uint64_t>());
  EXPECT_EQ(w->data_bytes(), rec["data_bytes"].get<std::uint64_t>());
  EXPECT_EQ(m->tied_output, rec["tied"].get<bool>());
  EXPECT_EQ(m->tokenizer.n_merges, rec["n_merges"].get<std::uint64_t>());
  EXPECT_EQ(m->tokenizer.n_tokens, rec["n_vocab"].get<std::uint64_t>());
  for (const auto& [type, bytes] : rec["bytes_by_type"].items()) {
    ASSERT_TRUE(m->tensor_types.count(type)) << type;
    EXPECT_EQ(m->tensor_types.at(type).bytes, bytes.get<std::uint64_t>()) << type;
  }
  EXPECT_EQ(m->tensor_types.size(), rec["bytes_by_type"].size());
  EXPECT_EQ(std::string(quantization_type_name(m->find_tensor("token_embd.weight")->type)),
            rec["token_embd_type"].get<std::string>());
}

TEST(SynthPresets, Llama32_1bQ4KMatchesTheMeasuredFile) {
  expect_matches_record("llama-3.2-1b-q4_k", "models/llama-3.2-1b-q4_k.head.gguf");
}

TEST(SynthPresets, TinyLlamaMatchesTheMeasuredFile) {
  expect_matches_record("tiny-llama", "models/tiny-llama-f16.head.gguf");
}

TEST(SynthPresets, NamesAndErrors) {
  const auto names = preset_names();
  for (const char* want : {"bitnet-b1.58-2b-4t", "llama-3.2-1b-q4_k", "tiny-llama", "tiny-qwen3moe", "tiny-gemma3",
                           "tiny-deepseek2", "tiny-mamba2", "tiny-granitehybrid", "tiny-bitnet-tq2_0"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (std::string_view n : names) {
    auto s = preset(n);
    ASSERT_TRUE(s) << n;
    auto w = build_gguf(*s);
    EXPECT_TRUE(w) << n << ": " << w.error().to_string();
  }
  auto bad = preset("no-such-model");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);

  // I2_S has no upstream id.
  auto s = *preset("tiny-bitnet-b1.58-i2_s");
  s.type_map = TypeMap::kUpstream;
  auto w = build_gguf(s);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, Errc::kInvalidArgument);

  // A row length the type cannot block names the tensor.
  auto q = *preset("tiny-llama");
  q.weight_type = QuantizationType::kQ4_K;
  q.n_ff = 320;  // ffn_down rows of 320 elements: not a multiple of 256
  auto wq = build_gguf(q);
  ASSERT_FALSE(wq);
  EXPECT_EQ(wq.error().field, "blk.0.ffn_down.weight");
}

TEST(SynthPresets, TiedAndSeparateOutput) {
  auto s = *preset("tiny-llama");
  for (bool tied : {true, false}) {
    if (tied) s.output_type.reset(); else s.output_type = QuantizationType::kQ8_0;
    auto w = build_gguf(s);
    ASSERT_TRUE(w);
    std::vector<std::byte> keep;
    auto m = analyse_header(*w, keep);
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->tied_output, tied);
    EXPECT_EQ(m->find_tensor("output.weight") == nullptr, tied);
    if (!tied) {
      EXPECT_EQ(m->find_tensor("output.weight")->type, QuantizationType::kQ8_0);
      // Q8_0: 34 B per 32 elements.
      EXPECT_EQ(m->find_tensor("output.weight")->nbytes, 256ull * 4096 / 32 * 34);
    }
  }
}

// Tokenizers: exactly n_vocab unique tokens; merges unique, well-formed, made of vocabulary tokens.
void check_tokenizer(const char* preset_name) {
  SCOPED_TRACE(preset_name);
  auto s = preset(preset_name);
  ASSERT_TRUE(s);
  auto w = build_gguf(*s);
  ASSERT_TRUE(w);
  const std::vector<std::byte> bytes = to_bytes(w->header());
  GgufParseOptions po;
  po.header_only = true;
  auto f = parse_gguf(bytes, po);
  ASSERT_TRUE(f);
  const GgufKv* tokens = f->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->value.count, s->n_vocab);
  std::unordered_set<std::string> vocab;
  bool spaces = false;
  ASSERT_TRUE(f->for_each_string(*tokens, [&](std::string_view t) {
    vocab.emplace(t);
    spaces = spaces || t.find(' ') != std::string_view::npos || t.empty();
  }));
  EXPECT_EQ(vocab.size(), s->n_vocab);
  EXPECT_FALSE(spaces);
  // The analysis reports the stored bytes of the token strings (8-byte length prefix + bytes each).
  std::uint64_t stored = 0;
  for (const std::string& t : vocab) stored += 8 + t.size();
  {
    std::vector<std::byte> keep;
    auto m = analyse_header(*w, keep);
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(m->tokenizer.tokens_bytes, stored);
  }
  const GgufKv* types = f->find("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->value.count, s->n_vocab);
  if (s->tokenizer == "llama") {
    const GgufKv* scores = f->find("tokenizer.ggml.scores");
    ASSERT_NE(scores, nullptr);
    EXPECT_EQ(scores->value.count, s->n_vocab);
    EXPECT_EQ(f->find("tokenizer.ggml.merges"), nullptr);
    return;
  }
  const GgufKv* merges = f->find("tokenizer.ggml.merges");
  ASSERT_NE(merges, nullptr);
  EXPECT_EQ(merges->value.count, s->n_merges);
  std::unordered_set<std::string> seen;
  std::uint64_t bad = 0;
  ASSERT_TRUE(f->for_each_string(*merges, [&](std::string_view m) {
    const auto sp = m.find(' ', 1);
    if (sp == std::string_view::npos || m.find(' ', sp + 1) != std::string_view::npos ||
        !vocab.count(std::string(m.substr(0, sp))) || !vocab.count(std::string(m.substr(sp + 1))))
      ++bad;
    seen.emplace(m);
  }));
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(seen.size(), s->n_merges);
}

TEST(SynthPresets, TokenizersAreUniqueAndWellFormed) {
  check_tokenizer("tiny-llama");
  check_tokenizer("tiny-gemma3");
  check_tokenizer("llama-3.2-1b-q4_k");
}

TEST(SynthTokenizer, ByteTokensFollowTheGpt2Alphabet) {
  EXPECT_EQ(bpe_token('a'), "a");
  EXPECT_EQ(bpe_token(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(bpe_token(0), "\xC4\x80");     // U+0100 'Ā': the first non-printable byte
  EXPECT_EQ(bpe_token(256), "\xC4\xA0" "a");
  EXPECT_EQ(spm_token(3), "<0x00>");
  EXPECT_EQ(spm_token(258), "<0xFF>");
}

}  // namespace
}  // namespace bitnet::detail
