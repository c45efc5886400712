// The synthesizer against real files: for every ground-truth model, a spec made from its record's
// `model` object is synthesized, and its tensor list (names, order, ggml shapes, type ids) must equal
// the list in the measured file's header (groundtruth/models/*.head.gguf), which a different
// generator wrote for llama.cpp to load.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format/gguf_reader.h"
#include "synth/model_spec.h"

namespace bitnet::detail {
namespace {

const std::string kGt = std::string(BITNET_SHARED_DIR) + "/groundtruth/";

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
  return b;
}

QuantizationType type_of(const nlohmann::json& j) {
  return parse_quantization_type(j.get<std::string>()).value_or(QuantizationType::kUnknown);
}

ModelSpec spec_from_record(const nlohmann::json& r) {
  ModelSpec s;
  s.architecture = r["arch"].get<std::string>();
  s.n_layer = r["n_layer"];
  s.n_embd = r["n_embd"];
  s.n_head = r["n_head"];
  s.n_head_kv = r["n_head_kv"];
  const std::uint32_t hd = r["head_dim"];
  if (hd * s.n_head != s.n_embd) s.head_dim = hd;
  s.n_ff = r["n_ff"];
  s.n_vocab = r["n_vocab"];
  s.n_expert = r["n_expert"];
  s.n_expert_used = r["n_expert_used"];
  s.n_ff_exp = r["n_ff_exp"].is_null() ? 0u : r["n_ff_exp"].get<std::uint32_t>();
  s.sliding_window = r["sliding_window"].is_null() ? 0u : r["sliding_window"].get<std::uint32_t>();
  s.swa_period = r["sliding_window_pattern"].is_null() ? 0u : r["sliding_window_pattern"].get<std::uint32_t>();
  const bool spm = r["tokenizer"].get<std::string>().rfind("spm", 0) == 0;
  s.tokenizer = spm ? "llama" : "gpt2";
  s.n_merges = r["n_merges"];
  s.weight_type = type_of(r["type"]);
  s.embd_type = type_of(r["token_embd_type"]);
  if (!r["tied"].get<bool>()) s.output_type = type_of(r["output_type"]);
  return s;
}

struct Row {
  std::string name;
  std::array<std::uint64_t, 4> ne;
  std::uint32_t n_dims;
  std::uint32_t type_id;
  std::uint64_t offset;
  bool operator==(const Row&) const = default;
};
std::vector<Row> rows(const GgufFile& f) {
  std::vector<Row> out;
  for (const GgufTensorInfo& t : f.tensors) out.push_back({std::string(t.name), t.ne, t.n_dims, t.type_id, t.offset});
  return out;
}

TEST(SynthGroundTruth, TensorListsEqualTheMeasuredFiles) {
  std::map<std::string, nlohmann::json> models;
  for (const char* f : {"cpu-llamacpp.jsonl", "gpu-llamacpp.jsonl", "cpu16-llamacpp.jsonl"}) {
    std::ifstream in(kGt + f);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded()) models.emplace(j["model"]["header_file"].get<std::string>(), j["model"]);
    }
  }
  ASSERT_GE(models.size(), 14u);
  for (const auto& [file, rec] : models) {
    SCOPED_TRACE(file);
    const ModelSpec spec = spec_from_record(rec);
    auto w = build_gguf(spec);
    ASSERT_TRUE(w) << w.error().to_string();
    const std::string h = w->header();
    std::vector<std::byte> mine(h.size());
    for (std::size_t i = 0; i < h.size(); ++i) mine[i] = static_cast<std::byte>(h[i]);
    GgufParseOptions po;
    po.header_only = true;
    auto a = parse_gguf(mine, po);
    ASSERT_TRUE(a) << a.error().to_string();
    const auto theirs_bytes = read_all(kGt + file);
    auto b = parse_gguf(theirs_bytes, po);
    ASSERT_TRUE(b) << b.error().to_string();
    const auto ra = rows(*a), rb = rows(*b);
    ASSERT_EQ(ra.size(), rb.size());
    for (std::size_t i = 0; i < ra.size(); ++i) {
      EXPECT_EQ(ra[i].name, rb[i].name) << i;
      EXPECT_EQ(ra[i].ne, rb[i].ne) << rb[i].name;
      EXPECT_EQ(ra[i].n_dims, rb[i].n_dims) << rb[i].name;
      EXPECT_EQ(ra[i].type_id, rb[i].type_id) << rb[i].name;
      EXPECT_EQ(ra[i].offset, rb[i].offset) << rb[i].name;
    }
    EXPECT_EQ(w->data_bytes(), rec["data_bytes"].get<std::uint64_t>());
    EXPECT_EQ(a->find("tokenizer.ggml.tokens")->value.count, rec["n_vocab"].get<std::uint64_t>());
  }
}

}  // namespace
}  // namespace bitnet::detail
