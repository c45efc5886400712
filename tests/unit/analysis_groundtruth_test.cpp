// The analysis of every ground-truth header (/work/shared/groundtruth/models/*.head.gguf, read
// header-only) matches the `model` object its records carry: those numbers were written by the
// generator of the measured files, not by this code.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "analysis/model_analysis.h"
#include "format/gguf_reader.h"

namespace bitnet::detail {
namespace {

const std::string kGt = std::string(BITNET_SHARED_DIR) + "/groundtruth/";

std::map<std::string, nlohmann::json> unique_models() {
  std::map<std::string, nlohmann::json> out;
  for (const char* f : {"cpu-llamacpp.jsonl", "gpu-llamacpp.jsonl", "cpu16-llamacpp.jsonl"}) {
    std::ifstream in(kGt + f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      const auto& m = j["model"];
      out.emplace(m["header_file"].get<std::string>(), m);
    }
  }
  return out;
}

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
  return b;
}

TEST(AnalysisGroundTruth, EveryHeaderMatchesItsRecords) {
  const auto models = unique_models();
  ASSERT_GE(models.size(), 14u) << "ground-truth records not found under " << kGt;
  std::set<std::string> archs;
  for (const auto& [file, rec] : models) {
    SCOPED_TRACE(file);
    const auto bytes = read_all(kGt + file);
    ASSERT_FALSE(bytes.empty());
    GgufParseOptions po;
    po.header_only = true;
    auto f = parse_gguf(bytes, po);
    ASSERT_TRUE(f) << f.error().to_string();
    AnalysisOptions ao;
    ao.path = file;
    auto r = analyse_gguf(*f, ao);
    ASSERT_TRUE(r) << r.error().to_string();
    const ModelStructureInfo& m = *r;
    archs.insert(m.architecture);

    EXPECT_EQ(m.architecture, rec["arch"].get<std::string>());
    EXPECT_TRUE(m.architecture_known);
    EXPECT_TRUE(m.header_only);
    EXPECT_EQ(m.n_layer, rec["n_layer"].get<std::uint32_t>());
    EXPECT_EQ(m.layers.size(), rec["n_layer"].get<std::size_t>());
    EXPECT_EQ(m.n_embd, rec["n_embd"].get<std::uint32_t>());
    EXPECT_EQ(m.n_head, rec["n_head"].get<std::uint32_t>());
    EXPECT_EQ(m.n_head_kv, rec["n_head_kv"].get<std::uint32_t>());
    EXPECT_EQ(m.head_dim_k, rec["head_dim"].get<std::uint32_t>());
    EXPECT_EQ(m.head_dim_v, rec["head_dim"].get<std::uint32_t>());
    EXPECT_EQ(m.n_ff, rec["n_ff"].get<std::uint32_t>());
    EXPECT_EQ(m.n_vocab, rec["n_vocab"].get<std::uint32_t>());
    EXPECT_EQ(m.n_expert, rec["n_expert"].get<std::uint32_t>());
    EXPECT_EQ(m.n_expert_used, rec["n_expert_used"].get<std::uint32_t>());
    EXPECT_EQ(m.n_ff_exp, rec["n_ff_exp"].is_null() ? 0u : rec["n_ff_exp"].get<std::uint32_t>());
    if (rec["sliding_window"].is_null()) {
      EXPECT_FALSE(m.sliding_window.has_value());
      for (const LayerInfo& L : m.layers) EXPECT_FALSE(L.is_swa);
    } else {
      ASSERT_TRUE(m.sliding_window.has_value());
      EXPECT_EQ(*m.sliding_window, rec["sliding_window"].get<std::uint32_t>());
      // Pattern p: layers p-1, 2p-1, ... are global, every other layer is SWA.
      const auto p = rec["sliding_window_pattern"].get<std::uint32_t>();
      for (std::uint32_t il = 0; il < m.n_layer; ++il) EXPECT_EQ(m.layers[il].is_swa, (il + 1) % p != 0) << il;
    }
    // Every layer of these models has its own KV cache with the record's head shape.
    for (const LayerInfo& L : m.layers) {
      EXPECT_EQ(L.kind, LayerKind::kAttention);
      EXPECT_EQ(L.n_embd_k_gqa, std::uint64_t{rec["n_head_kv"].get<std::uint32_t>()} * rec["head_dim"].get<std::uint32_t>());
      EXPECT_EQ(L.n_embd_v_gqa, L.n_embd_k_gqa);
      EXPECT_EQ(L.is_moe, rec["n_expert"].get<std::uint32_t>() > 0);
    }
    EXPECT_EQ(m.tied_output, rec["tied"].get<bool>());
    EXPECT_EQ(m.parameter_count, rec["n_params"].get<std::uint64_t>());
    EXPECT_EQ(m.tensors.size(), rec["n_tensors"].get<std::size_t>());
    EXPECT_EQ(m.header_bytes, rec["header_bytes"].get<std::uint64_t>());
    EXPECT_EQ(m.file_bytes, rec["file_bytes"].get<std::uint64_t>());
    EXPECT_EQ(m.data_bytes(), rec["data_bytes"].get<std::uint64_t>());
    EXPECT_EQ(m.tokenizer.n_merges, rec["n_merges"].get<std::uint64_t>());
    EXPECT_EQ(m.tokenizer.n_tokens, rec["n_vocab"].get<std::uint64_t>());
    EXPECT_EQ(std::string(quantization_type_name(m.quantization_type)), rec["type"].get<std::string>());

    std::uint64_t sum = 0;
    std::map<std::string, std::uint64_t> by_type;
    for (const auto& [name, s] : m.tensor_types) {
      by_type[name] = s.bytes;
      sum += s.bytes;
    }
    std::map<std::string, std::uint64_t> expect;
    for (const auto& [name, b] : rec["bytes_by_type"].items()) expect[name] = b.get<std::uint64_t>();
    EXPECT_EQ(by_type, expect);
    EXPECT_EQ(m.tensor_bytes, sum);
    EXPECT_DOUBLE_EQ(m.bits_per_weight, 8.0 * static_cast<double>(sum) / rec["n_params"].get<double>());

    const TensorInfo* te = m.find_tensor("token_embd.weight");
    ASSERT_NE(te, nullptr);
    EXPECT_EQ(std::string(quantization_type_name(te->type)), rec["token_embd_type"].get<std::string>());
    EXPECT_EQ(te->layer_class, LayerClass::kInput);
    EXPECT_EQ(te->op, TensorOp::kGetRows);
    if (!m.tied_output) {
      const TensorInfo* out = m.find_tensor("output.weight");
      ASSERT_NE(out, nullptr);
      EXPECT_EQ(std::string(quantization_type_name(out->type)), rec["output_type"].get<std::string>());
      EXPECT_EQ(out->layer_class, LayerClass::kOutput);
      EXPECT_EQ(out->op, TensorOp::kMulMat);
    }
    // The upstream types fit every span (no BitNet ids in these files).
    EXPECT_EQ(m.type_map, TypeMap::kUpstream) << m.type_map_reason;
    for (const TensorInfo& t : m.tensors) EXPECT_EQ(t.size_basis, Basis::kExact) << t.name;
  }
  EXPECT_EQ(archs, (std::set<std::string>{"bitnet", "gemma3", "llama", "qwen2", "qwen3moe"}));
}

}  // namespace
}  // namespace bitnet::detail
